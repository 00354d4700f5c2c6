"""A sale its dealer recorded again after the operator disputed it counts once in the
dealer's public record and ranking (core/reputation.py, api/service_dealers.py), as
commissions pay it once: 4 sales and the fix of one are 4 sales, below the 5 a
dealer needs to be ranked. Claims on the replaced sale still count. On SQLite and
PostgreSQL."""

from __future__ import annotations

from ledger.sequencer import Appended
from tests.conftest import VIN, filed_when_dated, onboard
from tests.plugins.test_sale_order import dispute


def sale(day: int, amount: str = "15000.00") -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T10:00:00Z",
        "odometer_km": 40_000 + 100 * day,
        "dealer": "bay-auto",
        "price": {"amount": amount, "currency": "EUR"},
        "policies": [{"id": "powertrain-30d"}],
    }


def submit(ledger, partner, record: dict) -> int:
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def test_a_sale_recorded_again_counts_once(ledger):
    bay = onboard(ledger, "bay-auto", "dealer")
    sold = [submit(ledger, bay, sale(day)) for day in (1, 3, 5, 7)]
    claim = {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": "2026-06-08T09:00:00Z",
        "odometer_km": 40_750,
        "sale": sold[-1],
        "policy": "powertrain-30d",
        "component": "engine",
        "description": "knocking at idle",
    }
    claimed = submit(ledger, bay, claim)
    opened = dispute(ledger, sold[-1], day="2026-06-09")
    again = submit(ledger, bay, sale(7, amount="14900.00"))  # the price typo fixed
    f = ledger.dealer("bay-auto")
    assert f["sales"] == {"count": 4, "entries": [*sold[:-1], again]}
    assert f["sales_recorded_again"] == {"count": 1, "entries": [sold[-1]]}
    assert f["rank"] is None  # 4 sales: listed, not ranked
    assert f["warranty_claims"]["filed"] == [claimed]  # the claim on the old sale counts
    # A dispute alone, not followed by a new record of the sale, changes nothing.
    dispute(ledger, sold[0], day="2026-06-10")
    assert ledger.dealer("bay-auto")["sales"]["count"] == 4
    assert opened < again
