"""Claims on a sale recorded again count with the claims on the sale it replaced
(plugins/claim_facts.py): a repair paid on the sale recorded wrongly is not paid again
on its new record, and a reading is not below an earlier claim's there. On SQLite and
PostgreSQL."""

from __future__ import annotations

from core.errors import InvalidRecord
from ledger.sequencer import Appended
from tests.conftest import VIN, filed_when_dated, onboard
from tests.plugins.test_sale_order import dispute

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-01T10:00:00Z",
    "odometer_km": 48_000,
    "dealer": "bay-auto",
    "price": {"amount": "15000.00", "currency": "EUR"},
    "policies": [{"id": "powertrain-30d"}],
}


def claim(ledger, dealer, sale: int, day: int, km: int):
    record = {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T09:00:00Z",
        "odometer_km": km,
        "sale": sale,
        "policy": "powertrain-30d",
        "component": "engine",
        "description": "knocking at idle",
    }
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([dealer.envelope(record)])
    if not isinstance(outcome, Appended):
        return outcome
    (decision,) = [e for e in ledger.history(VIN)["entries"] if e["index"] == outcome.index + 1]
    return decision["record"]


def recorded_again(ledger, dealer) -> tuple[int, int]:
    (sold,) = ledger.submit_now([dealer.envelope(SALE)])
    assert claim(ledger, dealer, sold.index, 5, 48_505)["approved"] is True
    dispute(ledger, sold.index, day="2026-06-07")
    edited = {**SALE, "price": {"amount": "14900.00", "currency": "EUR"}}
    (again,) = ledger.submit_now([dealer.envelope(edited)])
    assert isinstance(again, Appended), again
    return sold.index, again.index


def test_a_repair_paid_on_the_sale_is_not_paid_again_on_its_new_record(ledger):
    bay = onboard(ledger, "bay-auto", "dealer")
    sold, again = recorded_again(ledger, bay)
    decided = claim(ledger, bay, again, 8, 48_508)
    assert decided["approved"] is False
    assert "already approved" in decided["reason"] and f"claim {sold + 1}" in decided["reason"]


def test_a_claim_on_the_new_record_reads_no_lower_than_one_on_the_sale_it_replaced(ledger):
    bay = onboard(ledger, "bay-auto", "dealer")
    sold, again = recorded_again(ledger, bay)
    lower = claim(ledger, bay, again, 8, 48_400)
    assert isinstance(lower, InvalidRecord), lower
    assert f"an earlier claim on sale {sold}" in lower.detail and "48,505 km" in lower.detail
