"""Referral codes and the commissions a sale earns, computed by the rule plugins.

A referrer creates a referral by signing it with its own granted key (DSSE,
``payloadType`` below); it names a commission rule and that rule's parameters, and
the car model and region it is for, and records the rule's version then. A dealer's
sale that names the code earns the commissions the rule computes as the sale is
logged, in the sale's own transaction (``CommissionRecorder``), by the rule version
installed then. They are kept privately, beside the log, each citing the sale's log
index and the rule's id and version, so an auditor holding the referral can
recompute the amount from the public sale entry.

A sale is never lost for want of its commission: if the rule fails or is gone when
the sale is logged, the sale is appended with a *pending* commission naming the rule
and why, computed on a later read by the same rule id and major version the referral
was made under, never by another. Sales logged before commissions were computed at
the sale are computed on the first read after it, each once.

A referral is for one car model, the VIN's WMI (its first three characters) and
model year as ``core.vin.decode_vin`` reads them on the sale's day ("1HG/2003"): a
sale of another car cannot use its code. The selling dealer never earns a commission
on its own sale, at any level, whatever the rule computes; and amounts are stored as
decimal strings rounded half up to cents, from ``Decimal`` amounts only.

A commission is *held* until the sale's return window closes (the last day of its
return policy, as stated at the sale) and a return dated in it could still be filed
(``plugins.claims.MAX_CLAIM_AGE`` later), then *payable*; it is *voided* if the ledger
holds an approved return of the sale. The status is read from the ledger each time,
as of a stated day, so the same ledger and day always give the same answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy import exists, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import dsse
from core.errors import (
    Conflict,
    Forbidden,
    InvalidRecord,
    NotFound,
    PluginFailed,
    VinledgerError,
)
from core.records import Sale
from core.vin import decode_vin
from ledger.entry import decode_entry, record_bytes
from ledger.schema import (
    ActorRow,
    CommissionBacklogRow,
    CommissionRow,
    CommissionSaleRow,
    EntryRow,
    ReferralRow,
)
from ledger.sequencer import Submission
from ledger.storage import entries_for_vin, get_actor, log_size
from plugins.claims import MAX_CLAIM_AGE
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission
from plugins.registry import Registry

PAYLOAD_TYPE = "application/vnd.vinledger.referral+json"
_Slug = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}\Z")]
_MODEL = re.compile(r"[0-9A-HJ-NPR-Z]{3}/[0-9]{4}")  # WMI / model year: "LFV/2020"
_CURRENCY = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # a sale's largest price (core.records.Money)
BACKLOG_CHUNK = 500  # sales read at once from the backlog of sales logged before
log = logging.getLogger("vinledger.referrals")


# ISO 3166-1 alpha-2, or an ISO 3166-2 subdivision of it.
_REGION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")


class ReferralRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: _Slug
    rule: Annotated[str, Meta(min_length=1, max_length=64)]
    params: dict[str, Any] = {}
    model: Annotated[str, Meta(min_length=1, max_length=64)]  # e.g. "LFV/2020"
    region: Annotated[str, Meta(min_length=1, max_length=64)]  # e.g. "CN-SH"


def _referral(row: ReferralRow) -> Referral:
    return Referral(
        code=row.code,
        referrer=row.referrer,
        upline=row.upline,
        rule=row.rule,
        params=json.loads(row.params),
        model=row.model,
        region=row.region,
    )


def create_referral(s: Session, registry: Registry, actor_id: str, payload: bytes) -> Referral:
    """Store a referral the referrer ``actor_id`` signed; refuses what the rule refuses."""
    try:
        req = msgspec.json.decode(payload, type=ReferralRequest)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InvalidRecord(f"invalid referral: {err}") from None
    if not _REGION.fullmatch(req.region):
        raise InvalidRecord(
            "region is an ISO 3166 code in capitals: a country (\"DE\") or a subdivision "
            f'("DE-BE", "CN-SH"), not {req.region!r}; limited slots count referrers per '
            "model and region, so one region has one spelling",
            field="region",
        )
    if not _MODEL.fullmatch(req.model):
        raise InvalidRecord(
            "model is the cars' WMI (the VIN's first three characters) and model year, "
            f'such as "1HG/2003", not {req.model!r}',
            field="model",
        )
    actor = get_actor(s, actor_id)
    if actor is None or actor.role != "referrer":
        raise Forbidden(f"{actor_id!r} is not a referrer; only referrers create referral codes")
    _refuse_upline_cycle(s, actor)
    if s.get(ReferralRow, req.code) is not None:
        raise Conflict(f"referral code {req.code!r} is taken; choose another")
    rule = registry.rule(req.rule)
    params = registry.call(rule, "validate", req.params)
    referral = Referral(req.code, actor_id, actor.upline, rule.id, params, req.model, req.region)
    _lock_market(s, rule.id, req.model, req.region)
    active = [
        _referral(row)
        for row in s.scalars(
            select(ReferralRow)
            .where(
                ReferralRow.rule == rule.id,
                ReferralRow.model == req.model,
                ReferralRow.region == req.region,
            )
            .order_by(ReferralRow.created_at, ReferralRow.code)
        )
    ]
    registry.call(rule, "admit", referral, active)
    s.add(
        ReferralRow(
            code=req.code,
            referrer=actor_id,
            upline=actor.upline,
            rule=rule.id,
            params=json.dumps(params, sort_keys=True),
            model=req.model,
            region=req.region,
            created_at=datetime.now(UTC),
            rule_version=rule.version,
        )
    )
    try:
        s.flush()  # here, not at commit, so that a code taken meanwhile is a 409
    except IntegrityError:
        raise Conflict(f"referral code {req.code!r} is taken; choose another") from None
    return referral


def _refuse_upline_cycle(s: Session, actor: ActorRow) -> None:
    """An upline chain that comes back to the referrer would pay it twice on one sale."""
    chain, upline = [actor.actor_id], actor.upline
    while upline is not None:
        if upline in chain:
            path = " → ".join([*chain, upline])
            raise Conflict(
                f"the upline chain of {actor.actor_id!r} comes back on itself ({path}); "
                "the operator must correct the upline before it creates referral codes"
            )
        chain.append(upline)
        above = get_actor(s, upline)
        upline = above.upline if above is not None else None


def check_sale_referral(s: Session, registry: Registry, sale: Sale) -> None:
    """Refuse a sale whose referral code is unknown, for another car model, or whose
    rule cannot compute it."""
    if sale.referral_code is None:
        return
    row = s.get(ReferralRow, sale.referral_code)
    if row is None:
        raise InvalidRecord(
            f"referral code {sale.referral_code!r} is not known to this ledger; check it with "
            "the referrer, or leave referral_code out",
            field="$.referral_code",
        )
    registry.rule(row.rule, referral_code=row.code)  # its rule may be disabled since
    _compute(registry, row, sale, index=-1)  # the rule must be able to compute it


def car_model(vin: str, sold_on: date) -> str | None:
    """The model a referral names for this car: WMI and model year ("1HG/2003").

    The year is read as of the sale's day, so the answer never depends on when it is
    asked; None when the VIN's model-year code cannot be read.
    """
    year = decode_vin(vin, today=sold_on).model_year
    return None if year is None else f"{vin[:3]}/{year}"


def _compute(registry: Registry, row: ReferralRow, sale: Sale, index: int) -> list[Commission]:
    _check_model(row, sale)
    return _computed(registry, registry.rule(row.rule), row, sale, index)


def _check_model(row: ReferralRow, sale: Sale) -> None:
    model = car_model(sale.vin, sale.occurred_at.date())
    if model != row.model:
        raise InvalidRecord(
            f"referral code {row.code!r} is for {row.model} cars, and this car "
            f"({sale.vin}) is {model or 'of a model year its VIN does not say'}; "
            "leave referral_code out, or use a code for this model",
            field="$.referral_code",
        )


def _computed(
    registry: Registry, rule: CommissionRule, row: ReferralRow, sale: Sale, index: int
) -> list[Commission]:
    price = Decimal(sale.price.amount) if sale.price else None
    facts = SaleForCommission(
        index, sale.vin, sale.dealer, price, sale.price.currency if sale.price else None
    )
    referral = _referral(row)
    paid = registry.call(rule, "compute", referral, facts)
    try:
        return _checked(rule, referral, facts, paid)
    except _BrokenContract as err:
        log.error("commission rule %r %s", rule.id, err)
        why = f"commission rule {rule.id!r} {err}"
        raise PluginFailed(registry.plugin_of(rule), why) from err


class _BrokenContract(Exception):
    """What a rule computed does not keep the contract of ``CommissionRule.compute``."""


def _checked(
    rule: CommissionRule, referral: Referral, sale: SaleForCommission, paid: Any
) -> list[Commission]:
    """What the rule computed, in cents rounded half up, less anything to the dealer.

    Whatever does not keep the contract of ``CommissionRule.compute`` (a float or a
    non-finite amount, an unknown level or beneficiary) is a failure of the rule's
    plugin: ``_computed`` raises it as ``PluginFailed`` naming the plugin.
    """
    fail = _BrokenContract
    if not isinstance(paid, list | tuple):
        raise fail(f"returned {type(paid).__name__}, not a list of Commission")
    payees = {1: referral.referrer, 2: referral.upline}
    out, levels = [], set()
    for c in paid:
        if not isinstance(c, Commission):
            raise fail(f"returned {type(c).__name__}, not a Commission")
        if not isinstance(c.amount, Decimal):
            raise fail(
                f"returned the amount {c.amount!r} as {type(c.amount).__name__}; "
                "amounts are Decimal, never float"
            )
        if not c.amount.is_finite() or not 0 <= c.amount <= MAX_AMOUNT:
            raise fail(f"returned the amount {c.amount}; it must be from 0 to {MAX_AMOUNT}")
        if c.level in levels or payees.get(c.level) is None:
            raise fail(f"returned level {c.level!r}; a referral pays level 1 once and level 2 once")
        if c.beneficiary != payees[c.level]:
            raise fail(f"pays level {c.level} to {c.beneficiary!r}, not {payees[c.level]!r}")
        if not isinstance(c.currency, str) or not _CURRENCY.fullmatch(c.currency):
            raise fail(f"returned the currency {c.currency!r}; use a code such as 'EUR'")
        if (c.rule, c.version) != (rule.id, rule.version):
            raise fail(f"signed its commission as {c.rule!r} version {c.version!r}")
        levels.add(c.level)
        if c.beneficiary != sale.dealer:  # never a commission on one's own sale
            cents = c.amount.copy_abs().quantize(CENT, rounding=ROUND_HALF_UP)  # no "-0.00"
            out.append(replace(c, amount=cents))
    return out


# ---- settling a sale's commissions: at the sale, or later while pending ---------------


class CommissionRecorder:
    """The sequencer's follow for sales (``ledger.sequencer.Follow``): the commissions
    of a sale that names a referral code, stored in the sale's own transaction.

    They are computed by the rule version installed as the sale is logged and
    committed with the sale or not at all, so neither reading them later nor
    installing another version meanwhile changes them. The referral was checked
    before the lock (``check_sale_referral``); should its rule fail or be gone by the
    time the sale is logged, the sale is still appended, with a pending row instead.
    """

    kinds = frozenset({"sale"})
    name = "commission recorder"
    reads_log = False  # referrals only: the batch's entries need not be written first

    def __init__(self, registry: Registry):
        self.registry = registry

    def __call__(
        self, s: Session, sub: Submission, index: int, actor_id: str, logged_at: datetime
    ) -> list[Submission]:
        sale = sub.record
        if sale.referral_code is not None:
            _settle(s, self.registry, sale, index, at_sale=True)
        return []  # private rows only: nothing more is appended to the log


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def _settle(s: Session, registry: Registry, sale: Sale, index: int, *, at_sale: bool) -> None:
    """Store what sale ``index`` earns, or a pending row saying why it cannot yet: by
    the rule version installed ``at_sale``, or else (a sale logged before commissions
    were computed at the sale) by the referral's major version.

    Everything that may fail is done before the first write, so that the recorder
    never leaves rows behind a sale the sequencer refuses.
    """
    referral = s.get(ReferralRow, sale.referral_code)
    if referral is None:  # not from the API: its codes are checked and never deleted
        log.error("sale %d names referral code %r, unknown here", index, sale.referral_code)
        return
    wanted = None if at_sale else referral.rule_version
    paid, version, pending = _attempt(registry, referral, sale, index, wanted)
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
    registry: Registry, referral: ReferralRow, sale: Sale, index: int, wanted: str | None
) -> tuple[list[Commission], str | None, str | None]:
    """``(commissions, the rule version that computed them, None)``, or ``([], the
    version it waits for, why)`` while it cannot be computed.

    ``wanted``: the version whose major alone may compute it (None: the installed one,
    as at the sale). A pending commission waits for the version its referral was made
    under or, for a referral older than that record, the one installed at the sale.
    """
    try:
        _check_model(referral, sale)
    except InvalidRecord as err:  # cannot happen to a checked sale: it earns nothing
        log.warning("sale %d earns no commission: %s", index, err)
        return [], None, None
    rule = registry.rules.get(referral.rule)
    waits = wanted or referral.rule_version or (rule.version if rule else None)
    of = "" if waits is None else f" version {_major(waits)}"
    if rule is None:
        return [], waits, f"commission rule {referral.rule!r}{of} is not installed on this ledger"
    if wanted is not None and _major(rule.version) != _major(wanted):
        why = f"commission rule {rule.id!r} version {rule.version} is installed; only"
        return [], waits, why + f"{of} (the referral's) computes it"
    try:
        return _computed(registry, rule, referral, sale, index), rule.version, None
    except VinledgerError as err:
        why = str(err)
        if isinstance(err, PluginFailed) and err.__cause__ is not None:
            cause = err.__cause__  # not the note to a submitter: this sale is logged
            what = str(cause) if isinstance(cause, _BrokenContract) else repr(cause)
            why = f"its plugin {err.plugin!r} failed: {what}"
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


def _retry_pending(s: Session, registry: Registry) -> None:
    """Compute the pending commissions that the same rule (id and major version) now
    computes; the others keep saying why not."""
    query = select(CommissionSaleRow).where(CommissionSaleRow.pending.is_not(None))
    for row in s.scalars(query.order_by(CommissionSaleRow.sale_idx)).all():  # locks in order
        sale_row = s.get(EntryRow, row.sale_idx)
        sale = msgspec.json.decode(record_bytes(decode_entry(sale_row.data)), type=Sale)
        referral = s.get(ReferralRow, row.code)  # never deleted
        paid, version, why = _attempt(registry, referral, sale, row.sale_idx, row.rule_version)
        if (version, why) == (row.rule_version, row.pending):
            continue
        # A conditional update: of two readers at once, only one stores the amounts.
        settled = s.execute(
            update(CommissionSaleRow)
            .where(CommissionSaleRow.sale_idx == row.sale_idx)
            .where(CommissionSaleRow.pending.is_not(None))
            .values(rule_version=version, pending=why)
            .execution_options(synchronize_session=False)
        )
        if settled.rowcount and why is None:
            _store(s, row.code, row.dealer, row.sale_idx, paid)


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
        for idx, data in chunk:
            sale = msgspec.json.decode(record_bytes(decode_entry(data)), type=Sale)
            if sale.referral_code is not None:
                _settle(s, registry, sale, idx, at_sale=False)
        done.next_idx = chunk[-1].idx + 1 if len(chunk) == BACKLOG_CHUNK else size


def commissions(
    s: Session, registry: Registry, as_of: date, *, actor_id: str | None = None
) -> list[dict[str, Any]]:
    """Every commission visible to ``actor_id`` (all for None: the operator), with
    status; a pending one is visible to the dealer and the referrer, with why."""
    _retry_pending(s, registry)  # first: those _catch_up finds pending were just tried
    _catch_up(s, registry)
    paid = select(CommissionRow)
    pending = (
        select(CommissionSaleRow)
        .join(ReferralRow, ReferralRow.code == CommissionSaleRow.code)
        .where(CommissionSaleRow.pending.is_not(None))
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
    statuses: dict[int, tuple[str, str]] = {}
    for c in items:
        if c["sale"] not in statuses:
            statuses[c["sale"]] = _status(s, c["sale"], as_of)
        status, c["held_until"] = statuses[c["sale"]]
        if c["status"] is None or status == "voided":  # a returned sale earns nothing
            c["status"] = status
    return items


def _item(row: CommissionRow | CommissionSaleRow) -> dict[str, Any]:
    pending = isinstance(row, CommissionSaleRow)
    return {
        "sale": row.sale_idx,
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


def _lock_market(s: Session, rule: str, model: str, region: str) -> None:
    """One referral at a time per rule, model and region until this transaction ends,
    so ``admit`` judges every referral created before it (limited slots). SQLite's
    writers already take the write lock up front; PostgreSQL would let two through."""
    if s.get_bind().dialect.name == "postgresql":
        key = f"vinledger-referral|{rule}|{model}|{region}"
        s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def _status(s: Session, sale_idx: int, as_of: date) -> tuple[str, str]:
    sale_row = s.get(EntryRow, sale_idx)
    if sale_row is None:
        raise NotFound(f"sale {sale_idx} is not in the log")
    entry = decode_entry(sale_row.data)
    derived = entry.derived if isinstance(entry.derived, dict) else {}
    sold = msgspec.json.decode(record_bytes(entry))["occurred_at"][:10]
    ends = [t["ends"] for t in derived.get("terms", []) if t["kind"] == "return" and t["ends"]]
    # A return dated on the window's last day may still be filed MAX_CLAIM_AGE later:
    # held until then, so "payable" as of a day never turns "voided" for that day.
    late = timedelta(days=math.ceil(MAX_CLAIM_AGE / timedelta(days=1)))
    until = (date.fromisoformat(max(ends, default=sold)) + late).isoformat()
    for row in entries_for_vin(s, sale_row.vin):
        if row.kind != "claim_decision" or row.idx < sale_idx:
            continue
        rec = msgspec.json.decode(record_bytes(decode_entry(row.data)))
        claim = s.get(EntryRow, rec["claim"])
        returned = rec["sale"] == sale_idx and rec["approved"] and claim.kind == "return_request"
        if returned and rec["occurred_at"][:10] <= as_of.isoformat():
            return "voided", until
    return ("payable" if as_of.isoformat() > until else "held"), until


def verify_referral_envelope(raw: bytes) -> dsse.Envelope:
    env = dsse.decode_envelope(raw)
    if env.payload_type != PAYLOAD_TYPE:
        raise InvalidRecord(
            f"a referral is signed with payloadType {PAYLOAD_TYPE!r}, not {env.payload_type!r}",
            field="payloadType",
        )
    return env
