"""The commissions of the sales that name a referral code, read with their status
as of a day (``commissions``), once ``plugins.commission_settling`` settled them.

A commission is *held* until the sale's return window closes (the last day of its
return policy, as stated at the sale) and a return dated in it could still be filed
(``plugins.claims.MAX_CLAIM_AGE`` later), then *payable*; it is *voided* if the ledger
holds an approved return of the sale, *disputed* while the operator's dispute of it is
open, and *replaced*, as of every day, once its dealer recorded the sale again while
it was disputed (``core.sale_standing.replaced_by``): the new sale's commission is the
one paid. A commission that rounds to nothing is listed as *nothing to pay*. The
status is read from the ledger each time, as of a stated day, so the same ledger and
day always give the same answer. Every day here is a day where the ledger counts days
(config.json's ``time_zone``, ``Registry.time_zone``), as the sale's terms count them:
the sale's day, the day a dispute or a claim's decision is dated, and the stated day.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.fields import parse_time
from core.sale_standing import replaced_by
from ledger.entry import decode_entry, record_bytes
from ledger.schema import CommissionRow, CommissionSaleRow, EntryRow, ReferralRow
from ledger.storage import entries_for_vin
from plugins.claims import MAX_CLAIM_AGE
from plugins.interfaces import zone
from plugins.registry import Registry
from plugins.sale_order import vin_sales

# A sale is logged after it happened, its day where the ledger counts days starting at
# most 14 hours before UTC's, and a record may be dated CLOCK_SKEW (minutes) ahead of
# the ledger's clock: a sale sold on or after a day was logged no earlier than a day
# before that day began in UTC. Nothing bounds when a sale sold by a day was logged (a
# registry's migration logs sales of years ago), so "to" is filtered exactly only.
SOLD_MARGIN = timedelta(days=1)


def commissions(
    s: Session,
    registry: Registry,
    as_of: date,
    *,
    actor_id: str | None = None,
    sold: tuple[date | None, date | None] = (None, None),
) -> list[dict[str, Any]]:
    """Every commission visible to ``actor_id`` (all for None: the operator), with
    status; a pending one is visible to the dealer and the referrer, with why.
    ``sold``: only those of sales sold from and to these days (inclusive; None: no
    bound), days where the ledger counts them. As settled: call
    ``plugins.commission_settling.settle_on_read`` first."""
    since, until = (None if day is None else day.isoformat() for day in sold)
    days: dict[int, str] = {}  # each sale's day, read once
    items = []
    for row, sale_row in _visible(s, actor_id, sold[0]):
        if sale_row.idx not in days:
            days[sale_row.idx] = sale_day(sale_row, registry.time_zone)
        day = days[sale_row.idx]
        if (since is None or day >= since) and (until is None or day <= until):
            items.append((_item(row), sale_row))  # only these sales' standings are read
    items.sort(key=lambda item: (item[0]["sale"], item[0]["level"] or 0))
    standings: dict[int, Standing] = {}
    for c, sale_row in items:
        if c["sale"] not in standings:
            standings[c["sale"]] = standing(s, sale_row, as_of, registry.time_zone)
        now = standings[c["sale"]]
        c.update(vin=now.vin, sold_on=now.sold_on, held_until=now.held_until)
        if c["status"] is None or now.status in ("voided", "disputed", "replaced"):
            c["status"], c["reason"] = now.status, now.reason or c["reason"]  # pays nothing
        if c["status"] in ("held", "payable") and Decimal(c["amount"]) == 0:
            c["status"] = "nothing to pay"  # rounded to nothing in its currency
    return [c for c, _ in items]


def _visible(
    s: Session, actor_id: str | None, since: date | None
) -> list[tuple[CommissionRow | CommissionSaleRow, EntryRow]]:
    """The commission rows (paid, then pending) ``actor_id`` sees, each with its
    sale's entry; of the sales logged late enough to be sold on ``since`` or later."""
    paid = select(CommissionRow, EntryRow).join(EntryRow, EntryRow.idx == CommissionRow.sale_idx)
    pending = (
        select(CommissionSaleRow, EntryRow)
        .join(ReferralRow, ReferralRow.code == CommissionSaleRow.code)
        .join(EntryRow, EntryRow.idx == CommissionSaleRow.sale_idx)
        .where(CommissionSaleRow.pending.is_not(None))
    )
    if actor_id is not None:
        paid = paid.where(
            (CommissionRow.dealer == actor_id) | (CommissionRow.beneficiary == actor_id)
        )
        pending = pending.where(
            (CommissionSaleRow.dealer == actor_id) | (ReferralRow.referrer == actor_id)
        )
    if since is not None:
        earliest = max(since, date.min + SOLD_MARGIN)  # from 0001-01-01: from the first day
        logged = datetime.combine(earliest, time(), UTC) - SOLD_MARGIN
        paid = paid.where(EntryRow.sequenced_at >= logged)
        pending = pending.where(EntryRow.sequenced_at >= logged)
    return [*s.execute(paid), *s.execute(pending)]


def _item(row: CommissionRow | CommissionSaleRow) -> dict[str, Any]:
    pending = isinstance(row, CommissionSaleRow)
    return {
        "sale": row.sale_idx,
        "vin": None,
        "sold_on": None,
        "code": row.code,
        "dealer": row.dealer,
        "beneficiary": None if pending else row.beneficiary,
        "level": None if pending else row.level,
        "amount": None if pending else row.amount,
        "currency": None if pending else row.currency,
        "rule": row.rule,
        "rule_version": row.rule_version,
        "status": "pending" if pending else None,
        "reason": row.pending if pending else None,
        "held_until": None,
    }


class Standing(NamedTuple):
    """What a sale's commissions are as of a day: ``status``, and the entry behind a
    status that pays nothing (``reason``)."""

    vin: str
    sold_on: str  # the sale's day where the ledger counts days
    held_until: str
    status: str
    reason: str | None = None


def _day(record: dict[str, Any], time_zone: str) -> str:
    """The calendar day ``record`` happened on where the ledger counts days (as a
    sale's terms count them, ``SaleFacts.sale_day``): a dispute filed at 01:00 in
    Beijing is filed that day there, not the day before as in UTC."""
    return parse_time(record["occurred_at"]).astimezone(zone(time_zone)).date().isoformat()


def sale_day(sale_row: EntryRow, time_zone: str) -> str:
    """The day of the sale in ``sale_row`` where the ledger counts days (``sold_on``)."""
    return _day(msgspec.json.decode(record_bytes(decode_entry(sale_row.data))), time_zone)


def standing(s: Session, sale_row: EntryRow, as_of: date, time_zone: str) -> Standing:
    """The standing of the commissions of the sale in ``sale_row`` as of the day
    ``as_of`` where the ledger counts days (``time_zone``)."""
    sale_idx = sale_row.idx
    entry = decode_entry(sale_row.data)
    derived = entry.derived if isinstance(entry.derived, dict) else {}
    sold = _day(msgspec.json.decode(record_bytes(entry)), time_zone)
    ends = [t["ends"] for t in derived.get("terms", []) if t["kind"] == "return" and t["ends"]]
    # A return dated on the window's last day may still be filed MAX_CLAIM_AGE later:
    # held until then, so "payable" as of a day never turns "voided" for that day.
    late = timedelta(days=math.ceil(MAX_CLAIM_AGE / timedelta(days=1)))
    until = (date.fromisoformat(max(ends, default=sold)) + late).isoformat()
    at = functools.partial(Standing, sale_row.vin, sold, until)
    # A sale its dealer recorded again never pays, as of any day and whatever became
    # of the dispute: the new sale earns the commission (claims go there too).
    sales, disputes = vin_sales(s, sale_row.vin)
    sale = next(o for o in sales if o["index"] == sale_idx)
    of_sale = [d for d in disputes if d["record"]["disputes"] == sale_idx]
    again = replaced_by(sales, sale, of_sale)
    if again is not None:
        return at("replaced", f"recorded again by its dealer as sale entry {again['index']}")
    disputed = None  # the open dispute, as the latest dispute of the sale dated by as_of says
    for row in entries_for_vin(s, sale_row.vin):
        if row.kind not in ("claim_decision", "dispute") or row.idx < sale_idx:
            continue
        rec = msgspec.json.decode(record_bytes(decode_entry(row.data)))
        if _day(rec, time_zone) > as_of.isoformat():
            continue
        if row.kind == "dispute":
            if rec["disputes"] == sale_idx:
                disputed = row.idx if rec.get("status", "open") == "open" else None
            continue
        claim = s.get(EntryRow, rec["claim"])
        if rec["sale"] == sale_idx and rec["approved"] and claim.kind == "return_request":
            why = f"returned: claim decision entry {row.idx} approved return request {claim.idx}"
            return at("voided", why)
    if disputed is not None:  # not payable while the operator looks into it
        return at("disputed", f"dispute entry {disputed} is open")
    return at("payable" if as_of.isoformat() > until else "held")
