"""The commissions of each sale that names a referral code: settled as the sale is
logged, kept pending while they cannot be computed, and read with their status.

A dealer's sale that names a referral code earns the commissions its rule computes
(``plugins.referrals.compute_commissions``) as the sale is logged, in the sale's own
transaction (``CommissionRecorder``), by the rule version installed then if it is of
the major version the referral was made under: the referral's version binds every
sale on its code, new sales too, and a code made after an upgrade binds the new
version. They are
kept privately, beside the log, each citing the sale's log index and the rule's id and
version, so an auditor holding the referral can recompute the amount from the public
sale entry; the sale's ``commission_sales`` row says how it was settled.

A sale is never lost for want of its commission: if the rule fails, does not answer,
is gone or is of another major version when the sale is logged, the sale is appended
with a *pending* commission naming the rule and why, computed on a later read by the
same rule id and major version the referral was made under, never by another. A
referral made before referrals recorded their rule's version waits for the version
installed at the sale instead; if none was, the first version installed when it is
read computes it (its reason says so).

Sales logged before commissions were computed at the sale are settled on the first
read after the upgrade, each once: computed then, unless the earlier release stored
their commissions on a read, which are kept as stored, with the version they cite.

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

import contextlib
import functools
import logging
import math
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import msgspec
from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidRecord, NotFound, PluginFailed, VinledgerError
from core.fields import parse_time
from core.records import Sale
from core.sale_standing import replaced_by
from ledger.entry import decode_entry, record_bytes
from ledger.schema import (
    CommissionBacklogRow,
    CommissionRow,
    CommissionSaleRow,
    EntryRow,
    ReferralRow,
)
from ledger.sequencer import Submission
from ledger.storage import entries_for_vin, log_size
from plugins.claims import MAX_CLAIM_AGE
from plugins.interfaces import Commission, zone
from plugins.referrals import BrokenContract, check_model, compute_commissions, major
from plugins.registry import PluginTimedOut, Registry
from plugins.sale_order import BOOK_KINDS, SaleBook, check_resolution, check_sale, vin_sales

BACKLOG_CHUNK = 500  # sales read at once from the backlog of sales logged before
log = logging.getLogger("vinledger.commissions")


# ---- settling a sale's commissions: at the sale, or later while pending ---------------


class CommissionRecorder:
    """The sequencer's follow for sales (``ledger.sequencer.Follow``): the commissions
    of a sale that names a referral code, stored in the sale's own transaction.

    They are computed by the rule version installed as the sale is logged, if it is
    of the referral's major version, and committed with the sale or not at all, so
    neither reading them later nor installing another version meanwhile changes them.
    The referral was checked before the lock (``check_sale_referral``); should its
    rule fail, not answer, be gone or be of another major version by the time the sale
    is logged, the sale is still appended, with a pending row instead.

    First, so that one sale never earns twice, it refuses a sale that would record a
    sale of the car in force again, or a returned sale, and the resolution of a dispute
    whose sale was recorded again (``plugins.sale_order``). These read the car's sales,
    disputes and returns, the batch's own included, from the batch's ``SaleBook``: the
    log is read once per car, and the batch's entries of those kinds are counted as this
    follow, the last one of each, sees them placed; so nothing is written before it.
    """

    kinds = frozenset(BOOK_KINDS)
    name = "commission recorder"
    reads_log = False  # the SaleBook reads the log itself, and counts the batch's entries

    def __init__(self, registry: Registry):
        self.registry = registry

    def __call__(
        self, s: Session, sub: Submission, index: int, actor_id: str, logged_at: datetime
    ) -> list[Submission]:
        record = sub.record
        book = SaleBook.of(s)
        if record.kind == "dispute":
            check_resolution(book.items(record.vin, index), record)
        elif record.kind == "sale":
            check_sale(book.items(record.vin, index), record, index, actor_id)
            if record.referral_code is not None:  # before any row is written
                _settle(s, self.registry, record, index, refuse=True)
        book.place(record, index, actor_id)  # nothing raises after this
        return []  # private rows only: nothing more is appended to the log


def _settle(
    s: Session, registry: Registry, sale: Sale, index: int, *, refuse: bool = False
) -> None:
    """Store what sale ``index`` earns, or a pending row saying why it cannot yet: by
    the installed rule version if it is of the referral's major version, as the sale
    is logged or (a sale logged before commissions were computed at the sale) on a
    read; by the installed version for a referral that recorded none.

    Everything that may fail is done before the first write, so that the recorder
    never leaves rows behind a sale the sequencer refuses. ``refuse``: as the sale is
    logged, the rule's refusal refuses it; on a read, where the sale is in the log
    already, the refusal is kept as why it is pending (a read never fails for it).
    """
    referral = s.get(ReferralRow, sale.referral_code)
    if referral is None:  # not from the API: its codes are checked and never deleted
        log.error("sale %d names referral code %r, unknown here", index, sale.referral_code)
        return
    paid, version, pending = _attempt(
        registry, referral, sale, index, referral.rule_version, refuse=refuse
    )
    s.execute(
        insert(CommissionSaleRow),
        [
            {
                "sale_idx": index,
                "code": referral.code,
                "dealer": sale.dealer,
                "rule": referral.rule,
                "rule_version": version,
                "pending": pending,
            }
        ],
    )
    _store(s, referral.code, sale.dealer, index, paid)


def _attempt(
    registry: Registry,
    referral: ReferralRow,
    sale: Sale,
    index: int,
    wanted: str | None,
    *,
    refuse: bool = False,
) -> tuple[list[Commission], str | None, str | None]:
    """``(commissions, the rule version that computed them, None)``, or ``([], the
    version it waits for, why)`` while it cannot be computed.

    ``wanted``: the version whose major alone may compute it (None: any, for a sale
    logged on a referral that recorded no version). A commission waits for the
    version its referral was made under, as it is logged and while pending, or, for a
    referral older than that record, the one installed at the sale; if none was, it
    waits for no version in particular, and the first one installed computes it (or,
    failing, becomes the one it waits for).
    """
    try:
        check_model(referral, sale)
    except InvalidRecord as err:  # cannot happen to a checked sale: it earns nothing
        log.warning("sale %d earns no commission: %s", index, err)
        return [], None, None
    rule = registry.rules.get(referral.rule)
    waits = wanted or referral.rule_version or (rule.version if rule else None)
    if rule is None and waits is None:  # a referral from before, its rule gone then
        why = (
            f"commission rule {referral.rule!r} is not installed on this ledger, and "
            f"referral {referral.code!r} was made before referrals recorded their rule's "
            "version: the first version of the rule installed will compute it, so install "
            "the major version the referral was made under"
        )
        return [], None, why
    of = f" version {major(waits)}"
    if rule is None:
        return [], waits, f"commission rule {referral.rule!r}{of} is not installed on this ledger"
    if wanted is not None and major(rule.version) != major(wanted):
        whose = " (the referral's)" if referral.rule_version else ""
        why = f"commission rule {rule.id!r} version {rule.version} is installed; only"
        why += f"{of}{whose} computes it: it is computed on a read once that is installed"
        return [], waits, why
    try:
        return compute_commissions(registry, rule, referral, sale, index), rule.version, None
    except VinledgerError as err:
        if refuse and not isinstance(err, PluginFailed | PluginTimedOut):
            # The rule refuses the sale (a cap, a slot taken): as the sale is logged, that
            # refuses it, as at its check; only the rule's own failure leaves it pending.
            raise
        why = str(err)
        if isinstance(err, PluginFailed) and err.__cause__ is not None:
            cause = err.__cause__  # not the note to a submitter: this sale is logged
            what = str(cause) if isinstance(cause, BrokenContract) else repr(cause)
            why = f"its plugin {err.plugin!r} failed: {what}"
        elif isinstance(err, PluginTimedOut):  # not the note to a submitter either
            why = f"its plugin {err.plugin!r} did not answer within {err.seconds:g} seconds"
        return [], waits, f"commission rule {rule.id!r} version {rule.version} failed: {why}"


def _store(s: Session, code: str, dealer: str, index: int, paid: list[Commission]) -> None:
    if paid:
        s.execute(
            insert(CommissionRow),
            [
                {
                    "sale_idx": index,
                    "code": code,
                    "dealer": dealer,
                    "beneficiary": c.beneficiary,
                    "level": c.level,
                    "amount": str(c.amount),  # already cents, rounded half up
                    "currency": c.currency,
                    "rule": c.rule,
                    "rule_version": c.version,
                }
                for c in paid
            ],
        )


# ---- commissions the earlier release stored --------------------------------------------
# It computed a sale's commissions on the first read and stored them, and nothing else:
# no ``commission_sales`` row. During a rolling upgrade its processes still do, for any
# sale that has no ``commissions`` rows, pending ones too, even as a process of this
# release computes the same sale. What it stored is kept as it is, by the version it
# cites, and never computed again.


def _stored(s: Session, sale_idxs: Sequence[int]) -> dict[int, CommissionRow]:
    """The first level's stored commission of each of these sales that has any."""
    query = select(CommissionRow).where(CommissionRow.sale_idx.in_(sale_idxs))
    found: dict[int, CommissionRow] = {}
    for row in s.scalars(query.order_by(CommissionRow.level)):
        found.setdefault(row.sale_idx, row)
    return found


def _keep(s: Session, paid: CommissionRow) -> None:
    """Record the sale of ``paid`` as settled by the version ``paid`` cites, computing
    nothing. Of two readers recording it at once, the second finds it recorded."""
    with contextlib.suppress(IntegrityError), s.begin_nested():
        s.execute(
            insert(CommissionSaleRow),
            [
                {
                    "sale_idx": paid.sale_idx,
                    "code": paid.code,
                    "dealer": paid.dealer,
                    "rule": paid.rule,
                    "rule_version": paid.rule_version,
                    "pending": None,
                }
            ],
        )


# ---- settling on a read: pending sales, and sales logged before -------------------------


def _resettle(s: Session, sale_idx: int, version: str | None, why: str | None) -> bool:
    """A conditional update of a pending sale: of two readers at once, only one gets
    True (and stores the amounts)."""
    return bool(
        s.execute(
            update(CommissionSaleRow)
            .where(CommissionSaleRow.sale_idx == sale_idx)
            .where(CommissionSaleRow.pending.is_not(None))
            .values(rule_version=version, pending=why)
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def _retry_pending(s: Session, registry: Registry) -> None:
    """Compute the pending commissions that the same rule (id and major version) now
    computes; the others keep saying why not."""
    query = select(CommissionSaleRow).where(CommissionSaleRow.pending.is_not(None))
    for row in s.scalars(query.order_by(CommissionSaleRow.sale_idx)).all():  # locks in order
        kept = _stored(s, [row.sale_idx]).get(row.sale_idx)
        if kept is not None:  # computed by a process of the earlier release
            _resettle(s, row.sale_idx, kept.rule_version, None)
            continue
        sale_row = s.get(EntryRow, row.sale_idx)
        sale = msgspec.json.decode(record_bytes(decode_entry(sale_row.data)), type=Sale)
        referral = s.get(ReferralRow, row.code)  # never deleted
        paid, version, why = _attempt(registry, referral, sale, row.sale_idx, row.rule_version)
        if (version, why) == (row.rule_version, row.pending):
            continue
        try:
            with s.begin_nested():
                if _resettle(s, row.sale_idx, version, why) and why is None:
                    _store(s, row.code, row.dealer, row.sale_idx, paid)
        except IntegrityError:  # stored meanwhile by a process of the earlier release
            for kept in _stored(s, [row.sale_idx]).values():
                _resettle(s, row.sale_idx, kept.rule_version, None)


def _catch_up(s: Session, registry: Registry) -> None:
    """Settle the sales logged before commissions were computed at the sale: they have
    no ``commission_sales`` row. The backlog row remembers how far the log has been
    read (and is locked while it is read), so each read looks only at the sales logged
    since the last one, and two readers never settle one sale."""
    size = log_size(s)
    done = s.get(CommissionBacklogRow, 1)
    if done is not None and done.next_idx >= size:
        return  # nothing logged since: no lock, so readers do not wait for each other
    if done is None:
        with contextlib.suppress(IntegrityError), s.begin_nested():
            s.add(CommissionBacklogRow(id=1, next_idx=0))  # once; another reader may win
    done = s.get(CommissionBacklogRow, 1, with_for_update=True, populate_existing=True)
    while done.next_idx < size:
        chunk = s.execute(
            select(EntryRow.idx, EntryRow.data)
            .where(EntryRow.kind == "sale", EntryRow.idx >= done.next_idx, EntryRow.idx < size)
            .where(~exists().where(CommissionSaleRow.sale_idx == EntryRow.idx))
            .order_by(EntryRow.idx)
            .limit(BACKLOG_CHUNK)
        ).all()
        stored = _stored(s, [idx for idx, _ in chunk])
        for idx, data in chunk:
            if idx in stored:  # computed on a read of the earlier release
                _keep(s, stored[idx])
                continue
            sale = msgspec.json.decode(record_bytes(decode_entry(data)), type=Sale)
            if sale.referral_code is None:
                continue
            try:
                with s.begin_nested():
                    _settle(s, registry, sale, idx)
            except IntegrityError:  # stored meanwhile by a process of the earlier release
                for kept in _stored(s, [idx]).values():
                    _keep(s, kept)
        done.next_idx = chunk[-1].idx + 1 if len(chunk) == BACKLOG_CHUNK else size


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
    bound), days where the ledger counts them."""
    _retry_pending(s, registry)  # first: those _catch_up finds pending were just tried
    _catch_up(s, registry)
    paid = select(CommissionRow)
    pending = (
        select(CommissionSaleRow)
        .join(ReferralRow, ReferralRow.code == CommissionSaleRow.code)
        .where(CommissionSaleRow.pending.is_not(None))
        # as stored: the rows _retry_pending loaded are older than its updates
        .execution_options(populate_existing=True)
    )
    if actor_id is not None:
        paid = paid.where(
            (CommissionRow.dealer == actor_id) | (CommissionRow.beneficiary == actor_id)
        )
        pending = pending.where(
            (CommissionSaleRow.dealer == actor_id) | (ReferralRow.referrer == actor_id)
        )
    items = [_item(row) for row in s.scalars(paid)] + [_item(row) for row in s.scalars(pending)]
    items.sort(key=lambda c: (c["sale"], c["level"] or 0))
    standings: dict[int, Standing] = {}
    for c in items:
        if c["sale"] not in standings:
            standings[c["sale"]] = _standing(s, c["sale"], as_of, registry.time_zone)
        standing = standings[c["sale"]]
        c.update(vin=standing.vin, sold_on=standing.sold_on, held_until=standing.held_until)
        if c["status"] is None or standing.status in ("voided", "disputed", "replaced"):
            c["status"], c["reason"] = standing.status, standing.reason or c["reason"]  # no pay
        if c["status"] in ("held", "payable") and Decimal(c["amount"]) == 0:
            c["status"] = "nothing to pay"  # rounded to nothing in its currency
    since, until = (None if day is None else day.isoformat() for day in sold)
    return [
        c
        for c in items
        if (since is None or c["sold_on"] >= since) and (until is None or c["sold_on"] <= until)
    ]


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


def _standing(s: Session, sale_idx: int, as_of: date, time_zone: str) -> Standing:
    """The standing of sale ``sale_idx``'s commissions as of the day ``as_of`` where
    the ledger counts days (``time_zone``)."""
    sale_row = s.get(EntryRow, sale_idx)
    if sale_row is None:
        raise NotFound(f"sale {sale_idx} is not in the log")
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
