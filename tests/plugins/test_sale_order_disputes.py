"""A disputed sale and its fix (plugins/sale_order.py, core/sale_standing.py): a sale
under an open dispute still holds the car for every dealer but its own, a copy of a
later sale is not a fix, a resale dated after the dispute is a new sale, a returned
sale is not recorded again, and a batch of sales is checked without writing its
entries first. On SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import json

import pytest
from sqlalchemy import event

from core.errors import Conflict
from core.vin import check_digit
from ledger.sequencer import Appended
from plugins import commission_settling
from tests.conftest import VIN, filed_when_dated
from tests.plugins.test_sale_order import RIVAL, SALE, dispute, sell, statuses, submit

EDITED = {"price": {"amount": "14500.00", "currency": "EUR"}}


def returned(ledger, dealer, sale: int, batch: list[str] = ()) -> list:
    """A return of ``sale`` two days after it, approved, and ``batch`` in its batch."""
    record = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-22T09:00:00Z",
        "odometer_km": 40_100,
        "sale": sale,
        "policy": "return-7d",
    }
    with filed_when_dated(ledger, record):
        back, *rest = ledger.submit_now([dealer.envelope(record), *batch])
    assert isinstance(back, Appended), back
    (decision,) = [e for e in ledger.history(VIN)["entries"] if e["index"] == back.index + 1]
    assert decision["record"]["approved"] is True
    return rest


# ---- 1. a disputed sale still holds the car for every other dealer ------------------------


def test_a_rival_cannot_take_a_disputed_sale_before_its_dealer_records_it_again(ledger, partners):
    bay, rival = partners
    sold = sell(ledger, bay)
    opened = dispute(ledger, sold)
    copy = submit(
        ledger, rival, {**SALE, **RIVAL, "price": {"amount": "14000.00", "currency": "EUR"}}
    )
    assert isinstance(copy, Conflict), copy
    assert copy.index == sold and f"disputed (entry {opened}) but not recorded again" in copy.detail
    earlier = submit(ledger, rival, {**SALE, **RIVAL, "occurred_at": "2026-06-19T10:00:00Z"})
    assert isinstance(earlier, Conflict) and earlier.index == sold
    again = sell(ledger, bay, **EDITED)  # the documented fix still goes through
    assert statuses(ledger, "2026-11-30") == {sold: "replaced", again: "payable"}
    resale = sell(ledger, rival, **RIVAL, occurred_at="2026-06-30T10:00:00Z")  # after it
    assert resale > again


# ---- 2. a copy of a later sale is not the fix of an earlier one ---------------------------


def test_a_copy_of_a_later_sale_is_refused_and_never_replaces_the_disputed_one(
    ledger, partners, monkeypatch
):
    bay, rival = partners
    sold = sell(ledger, bay)
    resale = sell(ledger, rival, **RIVAL, occurred_at="2026-06-30T10:00:00Z")
    dispute(ledger, sold)
    late = {
        **SALE,
        "occurred_at": "2026-06-30T10:00:00Z",
        "price": {"amount": "9000.00", "currency": "EUR"},
    }
    copy = submit(ledger, bay, late)
    assert isinstance(copy, Conflict) and copy.index == resale, copy
    # A log that took the copy anyway (no check) still pays the 30 June sale once: the
    # copy does not replace the 20 June sale, which stays disputed.
    with monkeypatch.context() as unchecked:
        unchecked.setattr(commission_settling, "check_sale", lambda *args: None)
        copied = sell(ledger, bay, **late)
    assert statuses(ledger, "2026-11-30")[sold] == "disputed"
    assert statuses(ledger, "2026-11-30")[resale] == "payable"
    assert copied > resale
    again = sell(ledger, bay, **EDITED)  # the real fix, dated before the resale
    assert statuses(ledger, "2026-11-30")[sold] == "replaced"
    assert statuses(ledger, "2026-11-30")[again] == "payable"


def test_the_fix_of_a_disputed_sale_is_still_logged_past_a_later_resale(ledger, partners):
    bay, rival = partners
    sold = sell(ledger, bay)
    resale = sell(ledger, rival, **RIVAL, occurred_at="2026-06-30T10:00:00Z")
    dispute(ledger, sold)
    again = sell(ledger, bay, **EDITED, occurred_at="2026-06-29T10:00:00Z")
    assert statuses(ledger, "2026-11-30") == {sold: "replaced", resale: "payable", again: "payable"}


# ---- 3. a sale dated after the dispute is a resale ------------------------------------------


def test_a_resale_dated_after_the_dispute_does_not_replace_the_disputed_sale(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold, day="2026-06-25")
    resale = sell(
        ledger,
        bay,
        occurred_at="2026-07-10T10:00:00Z",
        odometer_km=41_000,
        price={"amount": "13000.00", "currency": "EUR"},
    )
    assert statuses(ledger, "2026-11-30") == {sold: "disputed", resale: "payable"}
    dispute(ledger, sold, "resolved", day="2026-07-12")  # the June sale was right
    assert statuses(ledger, "2026-11-30") == {sold: "payable", resale: "payable"}


def test_a_sale_dated_between_the_sale_and_its_dispute_is_its_fix(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold, day="2026-06-25")
    again = sell(ledger, bay, **EDITED, occurred_at="2026-06-21T10:00:00Z")  # the real day
    assert statuses(ledger, "2026-11-30") == {sold: "replaced", again: "payable"}


# ---- 4. a returned sale is not recorded again ----------------------------------------------


def test_a_returned_sale_is_not_recorded_again(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    returned(ledger, bay, sold)
    dispute(ledger, sold)
    copy = submit(ledger, bay, {**SALE, **EDITED})
    assert isinstance(copy, Conflict) and copy.index == sold, copy
    assert "a returned sale is not recorded again" in copy.detail
    assert statuses(ledger, "2026-11-30") == {sold: "voided"}


def test_a_return_in_the_same_batch_counts(ledger, partners):
    bay, _ = partners
    sold = sell(ledger, bay)
    dispute(ledger, sold)
    (copy,) = returned(ledger, bay, sold, [bay.envelope({**SALE, **EDITED})])
    assert isinstance(copy, Conflict) and "was returned" in copy.detail, copy
    assert statuses(ledger, "2026-11-30") == {sold: "voided"}


# ---- 9. a batch of sales: one insert, each car read once --------------------------------


def a_vin(n: int) -> str:
    draft = f"1HGCM8263{n:08d}"
    return draft[:8] + check_digit(draft) + draft[9:]


@contextlib.contextmanager
def statements(ledger):
    said: list[str] = []

    def heard(conn, cursor, statement, *args):
        said.append(" ".join(statement.split()))

    engine = ledger.store.write_engine
    event.listen(engine, "before_cursor_execute", heard)
    try:
        yield said
    finally:
        event.remove(engine, "before_cursor_execute", heard)


def test_a_batch_of_sales_is_checked_without_writing_its_entries_first(ledger, partners):
    bay, rival = partners
    cars = [a_vin(n) for n in range(20_000_001, 20_000_006)]  # model year 2002: no code
    plain = {k: v for k, v in SALE.items() if k != "referral_code"}
    batch = [bay.envelope({**plain, "vin": vin}) for vin in cars]
    batch.append(rival.envelope({**plain, **RIVAL, "vin": cars[0]}))  # the same sale again
    batch.append(bay.envelope({**plain, "vin": cars[1], "occurred_at": "2026-06-30T10:00:00Z"}))
    with statements(ledger) as said:
        *logged, copy, resale = ledger.submit_now(batch)
    assert all(isinstance(o, Appended) for o in [*logged, resale]), logged
    assert isinstance(copy, Conflict) and copy.index == logged[0].index, copy
    inserts = [s for s in said if s.startswith("INSERT INTO entries ")]
    assert len(inserts) == 1  # the batch's entries, once, at its end
    reads = [s for s in said if "FROM entries" in s and "entries.kind IN" in s]
    assert len(reads) == len(cars)  # each car once, however many of its sales


def test_a_disputes_date_is_not_corrected(ledger, partners):
    """Which later sale replaces a disputed one is judged by the dispute's date: a
    correction of it would let claims and commissions read one log two ways."""
    from core.errors import InvalidRecord
    from ledger.storage import log_size

    bay, _ = partners
    sold = sell(ledger, bay)
    opened = dispute(ledger, sold)
    correction = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-07-02T09:00:00Z",
        "corrects": opened,
        "fields": {"occurred_at": "2026-06-02T09:00:00Z"},
        "reason": "dated wrongly",
    }
    with ledger.store.reader() as s:
        before = log_size(s)
    with pytest.raises(InvalidRecord, match="resolve the dispute and file it again") as err:
        ledger.operator_submit(json.dumps(correction).encode())
    assert err.value.field == "$.fields.occurred_at"
    with ledger.store.reader() as s:
        assert log_size(s) == before
