"""Claims through the ledger, on SQLite and PostgreSQL: kilometres are measured from
the highest reading since the sale, not the latest (plugins/claim_facts.py), and the
built-in warranties refuse a repeat of an approved claim (plugins/builtin/policies.py)."""

from __future__ import annotations

import pytest

from ledger.sequencer import Appended
from tests.conftest import VIN, filed_when_dated, onboard

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-01T10:00:00Z",
    "odometer_km": 48_000,
    "dealer": "bay-auto",
    "price": {"amount": "9000.00", "currency": "EUR"},
    "policies": [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "powertrain-30d"}],
}


@pytest.fixture
def dealer(ledger):
    return onboard(ledger, "bay-auto", "dealer")


def submit(ledger, partner, record: dict) -> int:
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def decision(ledger, claim: int) -> dict:
    entries = ledger.history(VIN)["entries"]
    (decided,) = [e for e in entries if e["index"] == claim + 1]
    assert decided["kind"] == "claim_decision"
    return decided["record"]


def returned(sale: int, km: int) -> dict:
    return {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-04T09:00:00Z",
        "odometer_km": km,
        "sale": sale,
        "policy": "return-7d",
    }


def test_a_return_past_the_km_cap_is_refused_after_the_odometer_is_rolled_back(ledger, dealer):
    sold = submit(ledger, dealer, SALE)
    shop = onboard(ledger, "fixshop", "workshop")
    inspector = onboard(ledger, "acme", "inspector")
    service = {
        "kind": "maintenance",
        "vin": VIN,
        "occurred_at": "2026-06-02T10:00:00Z",
        "odometer_km": 51_000,
        "shop": "Fix Shop",
        "items": [{"description": "oil change"}],
    }
    read_high = submit(ledger, shop, service)
    rolled_back = {
        "kind": "odometer",
        "vin": VIN,
        "occurred_at": "2026-06-03T10:00:00Z",
        "odometer_km": 48_100,
        "source": "inspection",
    }
    submit(ledger, inspector, rolled_back)
    claim = submit(ledger, dealer, returned(sold, 48_150))
    decided = decision(ledger, claim)
    assert decided["approved"] is False
    assert (decided["odometer_km"], decided["km_since_sale"]) == (51_000, 3_000)
    assert f"51,000 km at entry {read_high}" in decided["reason"]
    assert "48,300 km" in decided["reason"]


def test_the_claims_own_reading_is_the_one_gone_by_when_it_is_the_highest(ledger, dealer):
    sold = submit(ledger, dealer, SALE)
    claim = submit(ledger, dealer, returned(sold, 48_250))
    decided = decision(ledger, claim)
    assert decided["approved"] is True and decided["km_since_sale"] == 250
    assert "250 km driven; within" in decided["reason"] and "entry" not in decided["reason"]


def warranty(sale: int, component: str, day: int = 5) -> dict:
    return {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T09:00:00Z",
        "odometer_km": 48_500,
        "sale": sale,
        "policy": "powertrain-30d",
        "component": component,
        "description": "knocking at idle",
    }


def test_a_warranty_claim_repeating_an_approved_one_is_refused_naming_it(ledger, dealer):
    sold = submit(ledger, dealer, SALE)
    first = submit(ledger, dealer, warranty(sold, "engine"))
    assert decision(ledger, first)["approved"] is True
    repeat = submit(ledger, dealer, {**warranty(sold, "engine"), "description": "knocking."})
    refused = decision(ledger, repeat)
    assert refused["approved"] is False
    assert f"already approved on this sale (claim {first}" in refused["reason"]
    other = submit(ledger, dealer, warranty(sold, "transmission", day=6))
    assert decision(ledger, other)["approved"] is True
