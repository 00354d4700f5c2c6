"""One sale earns one commission (plugins/sale_order.py, through the sequencer's
follow ``CommissionRecorder``; core/sale_standing.py): a sale dated at or before the
car's standing sale is refused, a sale recorded again never pays, and the dispute of
a sale recorded again is not resolved. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pytest

from core.errors import Conflict
from ledger.sequencer import Appended
from ledger.storage import log_size
from plugins.commission_settling import CommissionRecorder
from tests.conftest import VIN

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-20T10:00:00Z",
    "odometer_km": 40_000,
    "dealer": "bay-auto",
    "price": {"amount": "15000.00", "currency": "EUR"},
    "policies": [{"id": "return-7d", "params": {"max_km": 300}}],
    "referral_code": "AMY-26",
}
RIVAL = {"dealer": "rival"}


def submit(ledger, partner, record: dict):
    (outcome,) = ledger.submit_now([partner.envelope(record)])
    return outcome


def sell(ledger, partner, **changes) -> int:
    outcome = submit(ledger, partner, {**SALE, **changes})
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def refused(ledger, partner, record: dict, standing: int) -> Conflict:
    with ledger.store.reader() as s:
        before = log_size(s)
    outcome = submit(ledger, partner, record)
    assert isinstance(outcome, Conflict), outcome
    assert f"(entry {standing}, by " in outcome.detail and outcome.index == standing
    assert f"dispute entry {standing}" in outcome.detail
    with ledger.store.reader() as s:
        assert log_size(s) == before
    return outcome


def dispute(ledger, index: int, status: str = "open", day: str = "2026-07-01") -> int:
    record = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": f"{day}T09:00:00Z",
        "disputes": index,
        "reason": "the price was recorded wrongly",
        "status": status,
    }
    return ledger.operator_submit(json.dumps(record).encode()).index


def statuses(ledger, as_of: str) -> dict[int, str]:
    token = ledger.settings.admin_token()
    return {c["sale"]: c["status"] for c in ledger.commissions(token, date.fromisoformat(as_of))}


# ---- 1. a sale at or before the standing one is refused --------------------------------


def test_the_same_sale_sent_again_in_any_form_or_by_a_rival_is_refused(ledger, partners):
    bay, rival = partners
    sold = sell(ledger, bay)
    reordered = dict(reversed(list(SALE.items())))
    refused(ledger, bay, reordered, sold)
    refused(ledger, bay, {**SALE, "price": {"amount": "14500.00", "currency": "EUR"}}, sold)
    refused(ledger, rival, {**SALE, **RIVAL}, sold)
    refused(ledger, bay, {**SALE, "occurred_at": "2026-06-19T10:00:00Z"}, sold)  # earlier
    # The very same envelope again is the entry already logged, not a refusal.
    again = submit(ledger, bay, SALE)
    assert isinstance(again, Appended) and (again.index, again.created) == (sold, False)
    assert statuses(ledger, "2026-07-31") == {sold: "payable"}  # one commission


def test_a_resale_dated_after_the_standing_sale_is_logged(ledger, partners):
    bay, rival = partners
    first = sell(ledger, bay)
    resale = sell(ledger, rival, **RIVAL, occurred_at="2026-06-30T10:00:00Z")
    assert resale > first
    refused(ledger, bay, {**SALE, "occurred_at": "2026-06-25T10:00:00Z"}, resale)


def test_a_sale_in_the_same_batch_counts(ledger, partners):
    bay, rival = partners
    edited = {**SALE, "price": {"amount": "14500.00", "currency": "EUR"}}
    first, second = ledger.submit_now([bay.envelope(SALE), rival.envelope(edited | RIVAL)])
    assert isinstance(first, Appended), first
    assert isinstance(second, Conflict) and f"entry {first.index}" in second.detail


def test_a_sale_disputed_is_recorded_again_by_its_dealer(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold)
    again = sell(ledger, bay, price={"amount": "14500.00", "currency": "EUR"})
    refused(ledger, bay, {**SALE, "price": {"amount": "14000.00", "currency": "EUR"}}, again)


def test_a_resale_standing_after_the_disputed_sale_does_not_stop_its_fix(ledger, partners):
    bay, rival = partners
    sold = sell(ledger, bay)
    resale = sell(ledger, rival, **RIVAL, occurred_at="2026-06-30T10:00:00Z")
    dispute(ledger, sold)
    again = sell(ledger, bay, price={"amount": "14500.00", "currency": "EUR"})
    assert statuses(ledger, "2026-07-31") == {sold: "replaced", resale: "payable", again: "payable"}


def test_an_open_dispute_of_a_rivals_sale_does_not_let_another_dealer_record_it_twice(
    ledger, partners
):
    bay, rival = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold)
    again = sell(ledger, bay, price={"amount": "14500.00", "currency": "EUR"})  # its fix
    refused(ledger, rival, {**SALE, **RIVAL}, again)


# ---- 3. a sale recorded again never pays -------------------------------------------------


def test_a_sale_recorded_again_is_not_payable_as_of_a_day_before_its_dispute(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold, day="2026-07-10")
    again = sell(ledger, bay, price={"amount": "9000.00", "currency": "EUR"})
    for day in ("2026-07-01", "2026-07-05", "2026-07-31"):
        assert statuses(ledger, day)[sold] == "replaced"
    assert statuses(ledger, "2026-07-05")[again] == "payable"


def test_a_sale_disputed_but_not_recorded_again_is_paid_as_before(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold, day="2026-07-10")
    assert statuses(ledger, "2026-07-01") == {sold: "payable"}
    assert statuses(ledger, "2026-07-11") == {sold: "disputed"}
    dispute(ledger, sold, "resolved", day="2026-07-12")
    assert statuses(ledger, "2026-07-13") == {sold: "payable"}


# ---- 4. the dispute of a sale recorded again stays open -----------------------------------


def test_the_dispute_of_a_sale_recorded_again_cannot_be_resolved(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold)
    again = sell(ledger, bay, price={"amount": "14500.00", "currency": "EUR"})
    with pytest.raises(Conflict) as refusal:
        dispute(ledger, sold, "resolved", day="2026-07-02")
    assert f"recorded again at entry {again}" in refusal.value.detail
    assert f"dispute entry {again} instead" in refusal.value.detail
    assert statuses(ledger, "2026-07-31") == {sold: "replaced", again: "payable"}


def test_a_log_that_resolved_it_anyway_still_pays_one_sale(ledger, partners):
    """As a log written before the sequencer refused the resolution holds it."""
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold)
    again = sell(ledger, bay, price={"amount": "14500.00", "currency": "EUR"})
    follows = ledger.sequencer.follows
    ledger.sequencer.follows = tuple(f for f in follows if not isinstance(f, CommissionRecorder))
    try:
        dispute(ledger, sold, "resolved", day="2026-07-02")
    finally:
        ledger.sequencer.follows = follows
    assert statuses(ledger, "2026-07-31") == {sold: "replaced", again: "payable"}
