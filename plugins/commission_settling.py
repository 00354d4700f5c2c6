"""The commissions of each sale that names a referral code: settled as the sale is
logged, or kept pending while they cannot be computed and settled on a later read.

A dealer's sale that names a referral code earns the commissions its rule computes
(``plugins.referrals.compute_commissions``) as the sale is logged, in the sale's own
transaction (``CommissionRecorder``), by the rule version installed then if it is of
the major version the referral was made under: the referral's version binds every
sale on its code, new sales too, and a code made after an upgrade binds the new
version. They are kept privately, beside the log, each citing the sale's log index and
the rule's id and version, so an auditor holding the referral can recompute the amount
from the public sale entry; the sale's ``commission_sales`` row says how it was settled.

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

On a read the rule runs outside any transaction (``settle_on_read``); the
commissions are then read with their status (``plugins.commission_status``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import msgspec
from sqlalchemy import exists, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import InvalidRecord, PluginFailed, VinledgerError
from core.records import Sale
from ledger.entry import decode_entry, record_bytes
from ledger.schema import (
    CommissionBacklogRow,
    CommissionRow,
    CommissionSaleRow,
    EntryRow,
    ReferralRow,
)
from ledger.sequencer import Submission
from ledger.storage import Store, log_size
from plugins.interfaces import Commission
from plugins.referrals import BrokenContract, check_model, compute_commissions, major
from plugins.registry import PluginTimedOut, Registry
from plugins.sale_order import BOOK_KINDS, SaleBook, check_resolution, check_sale

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
                _settle(s, self.registry, record, index)
        book.place(record, index, actor_id)  # nothing raises after this
        return []  # private rows only: nothing more is appended to the log


def _settle(s: Session, registry: Registry, sale: Sale, index: int) -> None:
    """Store what sale ``index`` earns as it is logged, or a pending row saying why it
    cannot yet: by the installed rule version if it is of the referral's major
    version; by the installed version for a referral that recorded none.

    Everything that may fail is done before the first write, so that the recorder
    never leaves rows behind a sale the sequencer refuses; the rule's refusal refuses
    the sale (on a read, where the sale is in the log already, it is kept as why the
    commission is pending instead: a read never fails for it).
    """
    referral = s.get(ReferralRow, sale.referral_code)
    if referral is None:  # not from the API: its codes are checked and never deleted
        log.error("sale %d names referral code %r, unknown here", index, sale.referral_code)
        return
    attempt = _attempt(registry, referral, sale, index, referral.rule_version, refuse=True)
    _record(s, referral, sale.dealer, index, attempt)


# What a sale earns, by the rule version that computed it; or nothing yet, the version
# it waits for and why (``_attempt``).
Attempt = tuple[list[Commission], str | None, str | None]


def _record(s: Session, referral: ReferralRow, dealer: str, index: int, attempt: Attempt) -> None:
    """Store the ``commission_sales`` row of sale ``index`` and what it earns."""
    paid, version, pending = attempt
    s.execute(
        insert(CommissionSaleRow),
        [
            {
                "sale_idx": index,
                "code": referral.code,
                "dealer": dealer,
                "rule": referral.rule,
                "rule_version": version,
                "pending": pending,
            }
        ],
    )
    _store(s, referral.code, dealer, index, paid)


def _attempt(
    registry: Registry,
    referral: ReferralRow,
    sale: Sale,
    index: int,
    wanted: str | None,
    *,
    refuse: bool = False,
) -> Attempt:
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
# The rule runs between two transactions, never inside one: on SQLite, whose writers
# are one at a time, a slow rule held every submission to the log. The sales are read
# in a reader, computed, and what was computed is stored in a short write, where
# _resettle (a pending sale) and the backlog row's lock (a sale logged before) keep two
# readers from both settling one sale.


def settle_on_read(store: Store, registry: Registry) -> None:
    """Compute the pending commissions that the same rule (id and major version) now
    computes, and settle the sales logged before commissions were computed at the
    sale: before commissions are read (``commissions``)."""
    _retry_pending(store, registry)  # first: those _catch_up finds pending were just tried
    _catch_up(store, registry)


def _resettle(
    s: Session,
    sale_idx: int,
    version: str | None,
    why: str | None,
    as_read: CommissionSaleRow | None = None,
) -> bool:
    """A conditional update of a pending sale: of two readers at once, only one gets
    True (and stores the amounts). ``as_read``: only if the row is still as it was read
    when its rule was run (another process may have bound it to another version)."""
    query = (
        update(CommissionSaleRow)
        .where(CommissionSaleRow.sale_idx == sale_idx)
        .where(CommissionSaleRow.pending.is_not(None))
    )
    if as_read is not None:
        query = query.where(
            CommissionSaleRow.pending == as_read.pending,
            CommissionSaleRow.rule_version.is_not_distinct_from(as_read.rule_version),
        )
    values = query.values(rule_version=version, pending=why)
    return bool(s.execute(values.execution_options(synchronize_session=False)).rowcount)


class _Retried(NamedTuple):
    """A pending sale as read, and what its rule computed for it now."""

    row: CommissionSaleRow
    paid: list[Commission]
    version: str | None
    why: str | None


def _retry_pending(store: Store, registry: Registry) -> None:
    """Try the pending commissions again, ``BACKLOG_CHUNK`` at a time; those their rule
    still does not compute keep saying why not."""
    with store.reader() as s:
        query = select(CommissionSaleRow).where(CommissionSaleRow.pending.is_not(None))
        rows = s.scalars(query.order_by(CommissionSaleRow.sale_idx)).all()
    for at in range(0, len(rows), BACKLOG_CHUNK):
        chunk = rows[at : at + BACKLOG_CHUNK]
        with store.reader() as s:
            kept = _stored(s, [row.sale_idx for row in chunk])
            sales = _sales(s, [row.sale_idx for row in chunk if row.sale_idx not in kept])
            referrals = _referrals(s, {row.code for row in chunk})
        retried = []
        for row in chunk:
            if row.sale_idx in kept:  # computed by a process of the earlier release
                retried.append(_Retried(row, [], kept[row.sale_idx].rule_version, None))
                continue
            referral, sale = referrals[row.code], sales[row.sale_idx]  # never deleted
            paid, version, why = _attempt(registry, referral, sale, row.sale_idx, row.rule_version)
            if (version, why) != (row.rule_version, row.pending):
                retried.append(_Retried(row, paid, version, why))
        if retried:
            with store.writing() as s:
                for one in retried:  # in sale order: locks in order
                    _store_retried(s, one)


def _store_retried(s: Session, one: _Retried) -> None:
    sale_idx = one.row.sale_idx
    try:
        with s.begin_nested():
            if _resettle(s, sale_idx, one.version, one.why, one.row) and one.why is None:
                _store(s, one.row.code, one.row.dealer, sale_idx, one.paid)
    except IntegrityError:  # stored meanwhile by a process of the earlier release
        for kept in _stored(s, [sale_idx]).values():
            _resettle(s, sale_idx, kept.rule_version, None)


class _Backlog(NamedTuple):
    """A chunk of the sales logged before commissions were computed at the sale."""

    start: int  # the backlog row's next_idx as read
    end: int  # its next_idx once these are settled
    idxs: list[int]  # the sales read, without a commission_sales row then
    named: dict[int, tuple[ReferralRow, Sale]]  # those that name a known code, to compute


def _catch_up(store: Store, registry: Registry) -> None:
    """Settle the sales logged before commissions were computed at the sale: they have
    no ``commission_sales`` row. The backlog row remembers how far the log has been
    read, so each read looks only at the sales logged since the last one. Each chunk
    is stored in a write that locks the backlog row and moves it on, unless another
    reader moved it meanwhile (it settled the chunk): then the chunk from where that
    one stopped is read, so two readers never settle one sale."""
    with store.reader() as s:
        size = log_size(s)
    while (chunk := _read_backlog(store, size)) is not None:
        computed = {}
        for idx, (referral, sale) in chunk.named.items():  # the rule runs in no transaction
            attempt = _attempt(registry, referral, sale, idx, referral.rule_version)
            computed[idx] = (referral, sale.dealer, attempt)
        with store.writing() as s:
            if _advance(s, chunk.start, chunk.end):
                _store_backlog(s, chunk.idxs, computed)


def _read_backlog(store: Store, size: int) -> _Backlog | None:
    """The next chunk of the backlog below ``size``; None once it is all read."""
    with store.reader() as s:
        done = s.get(CommissionBacklogRow, 1)
        start = 0 if done is None else done.next_idx
        if start >= size:
            return None  # nothing logged since: no write, so readers do not wait
        chunk = s.execute(
            select(EntryRow.idx, EntryRow.data)
            .where(EntryRow.kind == "sale", EntryRow.idx >= start, EntryRow.idx < size)
            .where(~exists().where(CommissionSaleRow.sale_idx == EntryRow.idx))
            .order_by(EntryRow.idx)
            .limit(BACKLOG_CHUNK)
        ).all()
        kept = _stored(s, [idx for idx, _ in chunk])  # computed on a read of the earlier release
        sales = {idx: _sale(data) for idx, data in chunk if idx not in kept}
        named = {idx: sale for idx, sale in sales.items() if sale.referral_code is not None}
        referrals = _referrals(s, {sale.referral_code for sale in named.values()})
    known = {}
    for idx, sale in named.items():
        referral = referrals.get(sale.referral_code)
        if referral is None:  # not from the API: its codes are checked and never deleted
            log.error("sale %d names referral code %r, unknown here", idx, sale.referral_code)
            continue
        known[idx] = (referral, sale)
    end = chunk[-1].idx + 1 if len(chunk) == BACKLOG_CHUNK else size
    return _Backlog(start, end, [idx for idx, _ in chunk], known)


def _advance(s: Session, start: int, end: int) -> bool:
    """Move the backlog row from ``start`` to ``end``, locked until the transaction
    ends; False if another reader moved it meanwhile (it settled those sales)."""
    if s.get(CommissionBacklogRow, 1) is None:
        with contextlib.suppress(IntegrityError), s.begin_nested():
            s.add(CommissionBacklogRow(id=1, next_idx=0))  # once; another reader may win
    done = s.get(CommissionBacklogRow, 1, with_for_update=True, populate_existing=True)
    if done.next_idx != start:
        return False
    done.next_idx = end
    return True


def _store_backlog(
    s: Session, idxs: list[int], computed: dict[int, tuple[ReferralRow, str, Attempt]]
) -> None:
    """Store what was ``computed`` for these sales (by referral, dealer), or keep what a
    process of the earlier release stored for them, read again here."""
    stored = _stored(s, idxs)
    for idx in idxs:
        if idx in stored:
            _keep(s, stored[idx])
        elif idx in computed:
            referral, dealer, attempt = computed[idx]
            try:
                with s.begin_nested():
                    _record(s, referral, dealer, idx, attempt)
            except IntegrityError:  # stored meanwhile by a process of the earlier release
                for kept in _stored(s, [idx]).values():
                    _keep(s, kept)


def _sale(data: bytes) -> Sale:
    return msgspec.json.decode(record_bytes(decode_entry(data)), type=Sale)


def _sales(s: Session, sale_idxs: Sequence[int]) -> dict[int, Sale]:
    query = select(EntryRow.idx, EntryRow.data).where(EntryRow.idx.in_(sale_idxs))
    return {idx: _sale(data) for idx, data in s.execute(query)}


def _referrals(s: Session, codes: set[str]) -> dict[str, ReferralRow]:
    """These referrals, as read (used after ``s`` is closed)."""
    return {r.code: r for r in s.scalars(select(ReferralRow).where(ReferralRow.code.in_(codes)))}
