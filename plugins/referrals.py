"""Referral codes and the commissions a sale earns, computed by the rule plugins.

A referrer creates a referral by signing it with its own granted key (DSSE,
``payloadType`` below); it names a commission rule and that rule's parameters, and
the car model and region it is for. A dealer's sale that names the code earns the
commissions the rule computes. They are kept privately, beside the log, each citing
the sale's log index and the rule's id and version, so an auditor holding the
referral can recompute the amount from the public sale entry.

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
from sqlalchemy import select, text
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
from ledger.schema import ActorRow, CommissionRow, EntryRow, ReferralRow
from ledger.storage import entries_for_vin, get_actor
from plugins.claims import MAX_CLAIM_AGE
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission
from plugins.registry import Registry

PAYLOAD_TYPE = "application/vnd.vinledger.referral+json"
_Slug = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}\Z")]
_MODEL = re.compile(r"[0-9A-HJ-NPR-Z]{3}/[0-9]{4}")  # WMI / model year: "LFV/2020"
_CURRENCY = re.compile(r"[A-Z]{3}")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # a sale's largest price (core.records.Money)
log = logging.getLogger("vinledger.referrals")


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
    _compute(registry, row, sale, index=-1)  # the rule must be able to compute it


def car_model(vin: str, sold_on: date) -> str | None:
    """The model a referral names for this car: WMI and model year ("1HG/2003").

    The year is read as of the sale's day, so the answer never depends on when it is
    asked; None when the VIN's model-year code cannot be read.
    """
    year = decode_vin(vin, today=sold_on).model_year
    return None if year is None else f"{vin[:3]}/{year}"


def _compute(registry: Registry, row: ReferralRow, sale: Sale, index: int) -> list[Commission]:
    model = car_model(sale.vin, sale.occurred_at.date())
    if model != row.model:
        raise InvalidRecord(
            f"referral code {row.code!r} is for {row.model} cars, and this car "
            f"({sale.vin}) is {model or 'of a model year its VIN does not say'}; "
            "leave referral_code out, or use a code for this model",
            field="$.referral_code",
        )
    rule = registry.rule(row.rule)
    price = Decimal(sale.price.amount) if sale.price else None
    facts = SaleForCommission(
        index, sale.vin, sale.dealer, price, sale.price.currency if sale.price else None
    )
    referral = _referral(row)
    paid = registry.call(rule, "compute", referral, facts)
    return _checked(registry, rule, referral, facts, paid)


def _checked(
    registry: Registry,
    rule: CommissionRule,
    referral: Referral,
    sale: SaleForCommission,
    paid: Any,
) -> list[Commission]:
    """What the rule computed, in cents rounded half up, less anything to the dealer.

    Whatever does not keep the contract of ``CommissionRule.compute`` (a float or a
    non-finite amount, an unknown level or beneficiary) is a failure of the rule's
    plugin, named in the problem: nothing is stored for the sale.
    """

    def fail(why: str) -> PluginFailed:
        log.error("commission rule %r %s", rule.id, why)
        return PluginFailed(registry.plugin_of(rule), f"commission rule {rule.id!r} {why}")

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


def commissions(
    s: Session, registry: Registry, as_of: date, *, actor_id: str | None = None
) -> list[dict[str, Any]]:
    """Every commission visible to ``actor_id`` (all for None: the operator), with status."""
    _compute_missing(s, registry)
    query = select(CommissionRow).order_by(CommissionRow.sale_idx, CommissionRow.level)
    if actor_id is not None:
        query = query.where(
            (CommissionRow.dealer == actor_id) | (CommissionRow.beneficiary == actor_id)
        )
    out = []
    for row in s.scalars(query):
        status, until = _status(s, row.sale_idx, as_of)
        out.append(
            {
                "sale": row.sale_idx,
                "code": row.code,
                "dealer": row.dealer,
                "beneficiary": row.beneficiary,
                "level": row.level,
                "amount": row.amount,
                "currency": row.currency,
                "rule": row.rule,
                "rule_version": row.rule_version,
                "status": status,
                "held_until": until,
            }
        )
    return out


def _compute_missing(s: Session, registry: Registry) -> None:
    """Commissions of sales that name a code and have none stored yet.

    Computing on first read, not at the sale, keeps the sale's transaction free of
    private writes; a sale is never lost for want of its commission, and the rule
    version that computed each amount is stored with it. Two readers may compute the
    same sale at once: the second finds the first's rows and keeps them.
    """
    done = set(s.scalars(select(CommissionRow.sale_idx)))
    for row in s.scalars(select(EntryRow).where(EntryRow.kind == "sale")):
        if row.idx in done:
            continue
        sale = msgspec.json.decode(record_bytes(decode_entry(row.data)), type=Sale)
        if sale.referral_code is None:
            continue
        referral = s.get(ReferralRow, sale.referral_code)
        if referral is None:
            continue
        try:
            paid = _compute(registry, referral, sale, row.idx)
        except VinledgerError as err:  # recorded when the rule is back; the sale stays
            log.warning("no commission for sale %d yet: %s", row.idx, err)
            continue
        try:
            with s.begin_nested():
                s.add_all(
                    CommissionRow(
                        sale_idx=row.idx,
                        code=referral.code,
                        dealer=sale.dealer,
                        beneficiary=c.beneficiary,
                        level=c.level,
                        amount=str(c.amount),  # already cents, rounded half up
                        currency=c.currency,
                        rule=c.rule,
                        rule_version=c.version,
                    )
                    for c in paid
                )
        except IntegrityError:  # another reader stored this sale's commissions first
            continue


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
