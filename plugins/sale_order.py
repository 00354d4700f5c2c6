"""What the sequencer checks of a sale, and of the resolution of a sale's dispute,
against the car's sales on the log (``core.sale_standing``).

A car is sold once at a time: a sale dated at or before the latest sale of the VIN
that still stands (no open dispute of it) would log that sale again, and earn its
commission again, so it is refused (409) naming the standing sale. The way to fix a
sale recorded wrongly stays open: the operator disputes it, and its dealer records
it again. Once recorded again, the old sale stays replaced: the operator's
resolution of its dispute is refused (409), since it would make both sales stand.

These are rules for new entries only, judged inside the sequencer's lock with every
entry placed before (the batch's too: the follow that calls them reads the log).
Checkers of logs written before them (``ledger.audit``, ``ledger.verify``) do not
apply them.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.corrections import apply_corrections
from core.errors import Conflict
from core.records import Dispute, Sale
from core.sale_standing import recorded_again, standing_sale_in_the_way
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow

Entry = dict[str, Any]


def vin_sales(s: Session, vin: str) -> tuple[list[Entry], list[Entry]]:
    """The VIN's sales as the history view reads them (open disputes in
    ``disputes``), and its dispute entries, in log order."""
    rows = s.execute(
        select(EntryRow.idx, EntryRow.kind, EntryRow.actor_id, EntryRow.data)
        .where(EntryRow.vin == vin, EntryRow.kind.in_(("sale", "dispute")))
        .order_by(EntryRow.idx)
    ).all()
    items = apply_corrections(
        [
            {
                "index": idx,
                "kind": kind,
                "signer": {"id": actor_id},
                "record": msgspec.json.decode(record_bytes(decode_entry(data))),
            }
            for idx, kind, actor_id, data in rows
        ]
    )
    return [i for i in items if i["kind"] == "sale"], [i for i in items if i["kind"] == "dispute"]


def check_sale(s: Session, sale: Sale, index: int, actor_id: str) -> None:
    """Refuse ``sale`` (to be logged at ``index``) if it is dated at or before the
    VIN's latest standing sale."""
    sales, _ = vin_sales(s, sale.vin)
    new = {
        "index": index,
        "kind": "sale",
        "signer": {"id": actor_id},
        "record": {"occurred_at": sale.occurred_at.isoformat()},
    }
    standing = standing_sale_in_the_way(sales, new)
    if standing is None:
        return
    at = standing["record"]["occurred_at"]
    raise Conflict(
        f"{sale.vin} was sold at {at} (entry {standing['index']}, by "
        f"{standing['signer']['id']!r}), and that sale stands; a sale dated at or before "
        "it would record the car's sale twice, so nothing was logged. To fix a sale "
        f"recorded wrongly, ask the ledger's operator to dispute entry {standing['index']}, "
        "then its dealer records the sale again; a resale of the car is dated after "
        f"{at}",
        field="$.occurred_at",
        index=standing["index"],
    )


def check_resolution(s: Session, dispute: Dispute) -> None:
    """Refuse resolving the dispute of a sale its dealer has recorded again: both
    sales would stand, each paid and claimed on."""
    if dispute.status != "resolved":
        return
    sales, _ = vin_sales(s, dispute.vin)
    sale = next((o for o in sales if o["index"] == dispute.disputes), None)
    if sale is None or not sale.get("disputes"):
        return
    again = recorded_again(sales, sale, sale["disputes"][0]["index"])
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
