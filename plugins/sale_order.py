"""What the sequencer checks of a sale, and of the resolution of a sale's dispute,
against the car's sales on the log (``core.sale_standing``).

A car is sold once at a time: a sale dated at or before the latest sale of the VIN
in force (not disputed and recorded again) would log that sale again, and earn its
commission again, so it is refused (409) naming that sale. A sale under an open
dispute is still in force, for every dealer but its own: the way to fix a sale
recorded wrongly stays open, the operator disputes it and its dealer records it
again. Once recorded again, the old sale stays replaced: the operator's resolution of
its dispute is refused (409), since it would make both sales stand. A returned sale
is not recorded again: its commission was voided, and a new record would pay it. A
price is written in its currency's minor unit: whole yen, thousandths of a dinar.

These are rules for new entries only, judged inside the sequencer's lock with every
entry placed before, the batch's own too (``SaleBook``). Checkers of logs written
before them (``ledger.audit``, ``ledger.verify``) do not apply them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from core.corrections import apply_corrections
from core.errors import Conflict
from core.history import sales as sales_view
from core.records import Dispute, Record, Sale, check_amounts, encode_record
from core.sale_standing import recorded_again, records_again, standing_sale_in_the_way
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow

Entry = dict[str, Any]
# What the checks read of a car: its sales and disputes, and its returns (a return
# request and the decision after it).
BOOK_KINDS = ("sale", "dispute", "return_request", "claim_decision")


# Built once: a car is read on every sale logged, inside the sequencer's lock.
_BOOK = (
    select(EntryRow.idx, EntryRow.kind, EntryRow.actor_id, EntryRow.data)
    .where(EntryRow.vin == bindparam("vin"), EntryRow.kind.in_(BOOK_KINDS))
    .order_by(EntryRow.idx)
)


def _read(s: Session, vin: str) -> list[Entry]:
    rows = s.connection().execute(_BOOK, {"vin": vin}).all()
    return [
        {
            "index": idx,
            "kind": kind,
            "signer": {"id": actor_id},
            "record": msgspec.json.decode(record_bytes(decode_entry(data))),
        }
        for idx, kind, actor_id, data in rows
    ]


def _split(items: list[Entry]) -> tuple[list[Entry], list[Entry]]:
    """The sales as the history view reads them (open disputes in ``disputes``, and
    ``returned``: the decision that approved a return of it, or None), and the
    dispute entries, in log order."""
    items = apply_corrections(items)
    returned = {s["index"]: s["returned"] for s in sales_view(items)}
    sales = [{**i, "returned": returned[i["index"]]} for i in items if i["kind"] == "sale"]
    return sales, [i for i in items if i["kind"] == "dispute"]


def vin_sales(s: Session, vin: str) -> tuple[list[Entry], list[Entry]]:
    """The VIN's sales as the history view reads them (open disputes in
    ``disputes``), and its dispute entries, in log order."""
    return _split(_read(s, vin))


class SaleBook:
    """The sales, disputes and returns of each car a batch touches: read from the log
    once per car, then kept up with the batch's own entries as the sequencer's follow
    (``plugins.commission_settling.CommissionRecorder``, which takes every kind in
    ``BOOK_KINDS`` and is the last follow of each) sees them placed. So the batch's
    entries need not be written before each sale, nor the car read again."""

    def __init__(self, s: Session):
        self.s = s
        self.stored: dict[str, list[Entry]] = {}
        self.placed: dict[str, dict[int, Entry]] = {}

    @classmethod
    def of(cls, s: Session) -> SaleBook:
        """The book of the batch whose session ``s`` is (one session per batch)."""
        book = s.info.get(cls)
        if book is None:
            book = s.info[cls] = cls(s)
        return book

    def items(self, vin: str, before: int) -> list[Entry]:
        """The car's entries of ``BOOK_KINDS`` logged before index ``before``."""
        if vin not in self.stored:
            self.stored[vin] = _read(self.s, vin)
        placed = self.placed.setdefault(vin, {})
        # An entry the book saw but the sequencer did not place (refused after the
        # follow) left its index to the next one: never count it.
        for index in [i for i in placed if i >= before]:
            del placed[index]
        merged = {i["index"]: i for i in self.stored[vin] if i["index"] < before}
        merged.update(placed)  # written meanwhile by another follow: the same entry
        return [merged[i] for i in sorted(merged)]

    def place(self, record: Record, index: int, actor_id: str) -> None:
        """Count ``record``, about to be placed at ``index``, in its car's entries."""
        self.placed.setdefault(record.vin, {})[index] = {
            "index": index,
            "kind": record.kind,
            "signer": {"id": actor_id},
            "record": msgspec.json.decode(encode_record(record)),
        }


def check_sale(items: list[Entry], sale: Sale, index: int, actor_id: str) -> None:
    """Refuse ``sale`` (to be logged at ``index``) if its price has more decimals than
    its currency has (``core.records.check_amounts``: "12350.50" JPY; 422), is dated at
    or before the VIN's latest sale in force, or records a returned sale again.
    ``items``: the car's entries of ``BOOK_KINDS`` logged before it."""
    check_amounts(sale)  # its price in its currency's minor unit: no fractional yen
    sales, disputes = _split(items)
    new = {
        "index": index,
        "kind": "sale",
        "signer": {"id": actor_id},
        "record": {"occurred_at": sale.occurred_at.isoformat()},
    }
    for fixed in records_again(sales, new, disputes):
        if fixed["returned"] is not None:
            raise _returned(sale, fixed)
    in_the_way = standing_sale_in_the_way(sales, new, disputes)
    if in_the_way is None:
        return
    at, index = in_the_way["record"]["occurred_at"], in_the_way["index"]
    by = f"{sale.vin} was sold at {at} (entry {index}, by {in_the_way['signer']['id']!r})"
    twice = "a sale dated at or before it would record the car's sale twice, so nothing was logged"
    if in_the_way.get("disputes"):
        opened = in_the_way["disputes"][0]["index"]
        what = f"{by}, and that sale is disputed (entry {opened}) but not recorded again; {twice}. "
        fix = (
            f"Only its dealer records entry {index} again, dated no later than the dispute "
            "and before the car's next sale; or the ledger's operator resolves the dispute. "
            f"A resale of the car is dated after {at}"
        )
    else:
        what = f"{by}, and that sale stands; {twice}. "
        fix = (
            f"To fix a sale recorded wrongly, ask the ledger's operator to dispute entry "
            f"{index}, then its dealer records the sale again; a resale of the car is dated "
            f"after {at}"
        )
    raise Conflict(what + fix, field="$.occurred_at", index=index)


def _returned(sale: Sale, fixed: Entry) -> Conflict:
    return Conflict(
        f"this sale would record sale {fixed['index']} again, and that sale was returned "
        f"(entry {fixed['returned']} approved its return): a returned sale is not recorded "
        "again, since its new record would be paid and claimed on for a car its buyer "
        "gave back; nothing was logged. A new sale of the car is dated after "
        f"{fixed['record']['occurred_at']} and after the dispute of it (or ask the "
        "ledger's operator to resolve that dispute first)",
        field="$.occurred_at",
        index=fixed["index"],
    )


def check_resolution(items: list[Entry], dispute: Dispute) -> None:
    """Refuse resolving the dispute of a sale its dealer has recorded again: both
    sales would stand, each paid and claimed on. ``items``: as for ``check_sale``."""
    if dispute.status != "resolved":
        return
    sales, disputes = _split(items)
    sale = next((o for o in sales if o["index"] == dispute.disputes), None)
    if sale is None or not sale.get("disputes"):
        return
    opened = next(d for d in disputes if d["index"] == sale["disputes"][0]["index"])
    again = recorded_again(sales, sale, opened)
    if again is None:
        return
    raise Conflict(
        f"sale {sale['index']} was recorded again at entry {again['index']} by "
        f"{again['signer']['id']!r} while disputed, and stays replaced: resolving its "
        "dispute would make both sales stand (each paid and claimed on), so nothing was "
        f"logged. If the new sale is wrong, dispute entry {again['index']} instead",
        field="$.disputes",
        index=again["index"],
    )
