"""Referral codes, and what the commission rule plugins compute for a sale naming one.

A referrer creates a referral by signing it with its own granted key (DSSE,
``payloadType`` below); it names a commission rule and that rule's parameters, and
the car model and region it is for, and records the rule's version then. A dealer's
sale that names the code is checked here before it is logged
(``check_sale_referral``); what it earns is computed by ``compute_commissions`` and
stored, kept pending and read by ``plugins.commission_settling``.

A referral is for one car model, the VIN's WMI (its first three characters) and
model year as ``core.vin.decode_vin`` reads them on the sale's day ("1HG/2003"): a
sale of another car cannot use its code. The selling dealer never earns a commission
on its own sale, at any level, whatever the rule computes; and amounts are stored as
decimal strings rounded half up to the currency's minor unit (``plugins.currency``:
cents, whole yen, thousandths of a dinar), from ``Decimal`` amounts only.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core import dsse
from core.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    InvalidRecord,
    PluginFailed,
    PluginTimedOut,
)
from core.records import Sale
from core.vin import decode_vin
from ledger.schema import ActorRow, ReferralRow
from ledger.storage import get_actor
from plugins.currency import round_to_minor_unit
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission
from plugins.registry import Registry

PAYLOAD_TYPE = "application/vnd.vinledger.referral+json"
_Slug = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}\Z")]
_MODEL = re.compile(r"[0-9A-HJ-NPR-Z]{3}/[0-9]{4}")  # WMI / model year: "LFV/2020"
_CURRENCY = re.compile(r"[A-Z]{3}")
MAX_AMOUNT = Decimal("9999999999.99")  # a sale's largest price (core.records.Money)
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
        # As a region is written now; a referral stored before regions were checked
        # may say "de-be " for "DE-BE", and is the same market.
        region=row.region.strip().upper(),
    )


def read_request(payload: bytes) -> ReferralRequest:
    """A referral request as its referrer signed it; refuses a malformed one (422)."""
    try:
        req = msgspec.json.decode(payload, type=ReferralRequest)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InvalidRecord(f"invalid referral: {err}") from None
    except RecursionError:
        raise InvalidRecord(
            "invalid referral: it nests JSON arrays or objects too deeply; flatten params"
        ) from None
    if not _REGION.fullmatch(req.region):
        raise InvalidRecord(
            'region is an ISO 3166 code in capitals: a country ("DE") or a subdivision '
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
    return req


@dataclass(frozen=True)
class Market:
    """What a new referral is judged against, as read from the database: the code if
    its referrer already holds it (with its stored parameters), the upline it would pay,
    and the referrals of its rule, model and region that ``admit`` counts."""

    held: tuple[Referral, str] | None
    upline: str | None
    active: tuple[Referral, ...]


def lock_market(s: Session, rule: str, req: ReferralRequest) -> None:
    """First in the transaction that stores a referral, until it ends: one code check at
    a time (a look-alike, ``_refuse_lookalike``) and one referral at a time per rule,
    model and region, so ``admit`` judged every referral created before it (limited
    slots). PostgreSQL only: SQLite's writers already take the write lock up front.
    What the transaction reads after them is as of then (a key revoked while it waited
    is read revoked), and the key and actors it reads are locked FOR SHARE until it
    ends, so a revocation meanwhile waits for it."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended('vinledger-codes', 0))"))
        key = f"vinledger-referral|{rule}|{req.model}|{req.region}"
        s.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key})


def read_market(
    s: Session, actor_id: str, req: ReferralRequest, rule: str, *, writing: bool = False
) -> Market:
    """Refuse what the database refuses (not a referrer, an upline cycle, a code another
    holds or one that reads as it) and read the ``Market``. ``writing``: in the
    transaction that stores the referral, after ``lock_market``; the actors read are
    then locked FOR SHARE until it ends (PostgreSQL; SQLite ignores FOR SHARE, its
    writers being one at a time)."""
    actor = _actor(s, actor_id, lock=writing)
    if actor is None or actor.role != "referrer":
        raise Forbidden(f"{actor_id!r} is not a referrer; only referrers create referral codes")
    _refuse_upline_cycle(s, actor)
    existing = s.get(ReferralRow, req.code)
    if existing is not None and existing.referrer != actor_id:
        raise Conflict(f"referral code {req.code!r} is taken; choose another")
    if existing is None:
        _refuse_lookalike(s, req.code)
    same_market = (
        _referral(row)
        for row in s.scalars(
            select(ReferralRow)
            .where(ReferralRow.rule == rule, ReferralRow.model == req.model)
            .order_by(ReferralRow.created_at, ReferralRow.code)
        )
    )
    return Market(
        held=None if existing is None else (_referral(existing), existing.params),
        upline=_paid_upline(s, actor, writing=writing),
        active=tuple(r for r in same_market if r.region == req.region),
    )


def judge_referral(
    registry: Registry, rule: CommissionRule, actor_id: str, req: ReferralRequest, market: Market
) -> tuple[Referral, bool]:
    """The referral ``req`` asks for, as its rule validates and admits it into
    ``market``, and whether it is new: the same referrer asking again for a code it
    holds, with the same rule, params, model and region (a retry after a lost answer),
    gets that code back. Runs the rule's plugin code: call it outside any transaction,
    so that a slow rule holds up no writer."""
    params = _validated(registry, rule, req.params)
    if market.held is not None:
        held, held_params = market.held
        asked = (rule.id, json.dumps(params, sort_keys=True), req.model, req.region)
        if (held.rule, held_params, held.model, held.region) == asked:
            return held, False
        raise Conflict(
            f"referral code {req.code!r} is already yours, with other terms (rule "
            f"{held.rule!r}, model {held.model!r}, region {held.region!r}); a code keeps "
            "the terms it was made with: choose another code for these"
        )
    referral = Referral(req.code, actor_id, market.upline, rule.id, params, req.model, req.region)
    registry.call(rule, "admit", referral, list(market.active))
    return referral, True


def store_referral(s: Session, rule: CommissionRule, referral: Referral) -> None:
    """Store ``referral`` as ``judge_referral`` made it, in the transaction in which
    ``read_market(..., writing=True)`` read the market it was judged against."""
    s.add(
        ReferralRow(
            code=referral.code,
            referrer=referral.referrer,
            upline=referral.upline,
            rule=rule.id,
            params=json.dumps(referral.params, sort_keys=True),
            model=referral.model,
            region=referral.region,
            created_at=datetime.now(UTC),
            rule_version=rule.version,
        )
    )
    try:
        s.flush()  # here, not at commit, so that a code taken meanwhile is a 409
    except IntegrityError:
        raise Conflict(f"referral code {referral.code!r} is taken; choose another") from None


def _validated(registry: Registry, rule: CommissionRule, params: dict[str, Any]) -> dict:
    """The parameters as ``rule.validate`` normalises them. Its refusal of a parameter
    is a 422 naming the parameter, as a policy's refusal of a sale's parameters is
    (a rule may raise ``InvalidInput``, 400, or ``InvalidRecord``); anything but a dict
    of JSON values back is the rule's failure (500), not the referrer's."""
    try:
        params = registry.call(rule, "validate", params)
    except InvalidInput as err:
        if type(err) is not InvalidInput:
            raise
        raise InvalidRecord(err.detail, field=err.field) from None
    if not isinstance(params, dict):
        problem = f"returned {type(params).__name__}, not a dict of the parameters"
    else:
        try:
            json.dumps(params, sort_keys=True, allow_nan=False)
            problem = None
        except (TypeError, ValueError) as err:
            problem = f"returned parameters that are not JSON: {err}"
    if problem:
        plugin = registry.plugin_of(rule)
        raise registry.failure(plugin, f"commission rule {rule.id!r}: {rule.id}.validate {problem}")
    return params


def _lookalike_key(code: str) -> str:
    return code.upper().replace("_", "-")


def _refuse_lookalike(s: Session, code: str) -> None:
    """A code that differs from a taken one only in case or in "-" and "_" is the same
    code to a buyer who reads it out: it would divert that referrer's commissions.
    Storing, one such check at a time (``lock_market``)."""
    spelled = func.upper(func.replace(ReferralRow.code, "_", "-"))
    taken = s.scalars(
        select(ReferralRow.code).where(spelled == _lookalike_key(code)).limit(1)
    ).first()
    if taken is not None:
        raise Conflict(
            f"referral code {code!r} reads as {taken!r}, which is taken (codes that differ "
            'only in capitals or in "-" and "_" are one code to a buyer): choose another'
        )


def _actor(s: Session, actor_id: str, *, lock: bool) -> ActorRow | None:
    """The actor, its row locked FOR SHARE until the transaction ends if ``lock``."""
    return s.get(ActorRow, actor_id, with_for_update={"read": True} if lock else None)


def _paid_upline(s: Session, actor: ActorRow, *, writing: bool) -> str | None:
    """The upline a new referral of ``actor`` pays level 2 to: its upline if that is a
    referrer, else none. The operator can no longer make another role an upline
    (``ledger.trust``), but an actor added before that check may have a dealer as its
    upline, which would earn level 2 on its competitors' sales; such a referrer's new
    codes pay level 1 alone (its codes made before keep their terms). ``writing``: as
    the referral is stored (the upline locked as the actor is; warned of when read)."""
    if actor.upline is None:
        return None
    above = _actor(s, actor.upline, lock=writing)
    if above is None or above.role != "referrer":
        if not writing:
            log.warning(
                "referrer %r has %r (role %s) as its upline, not a referrer: its new "
                "referral pays no level 2",
                actor.actor_id,
                actor.upline,
                None if above is None else above.role,
            )
        return None
    return actor.upline


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
    """Refuse a sale whose referral code is unknown, for another car model, whose rule
    is not installed, or that the rule refuses (a ``VinledgerError`` it raises).

    The rule's failing or not answering does not refuse the sale: as when that happens
    while it is logged, the sale is logged with its commission pending
    (``plugins.commission_settling``). Nor does a rule of another major version than
    the referral's: the referral's version binds every sale on its code, new ones too,
    so the sale is logged with its commission pending until that version computes it.
    """
    if sale.referral_code is None:
        return
    row = s.get(ReferralRow, sale.referral_code)
    if row is None:
        raise InvalidRecord(
            f"referral code {sale.referral_code!r} is not known to this ledger; check it with "
            "the referrer, or leave referral_code out",
            field="$.referral_code",
        )
    rule = registry.rule(row.rule, referral_code=row.code)  # its rule may be disabled since
    check_model(row, sale)
    if row.rule_version is not None and major(rule.version) != major(row.rule_version):
        return  # pending: only the referral's version computes it
    try:  # the rule may refuse the sale (a VinledgerError it raises names the field)
        compute_commissions(registry, rule, row, sale, index=-1)
    except (PluginFailed, PluginTimedOut) as err:
        why = err.__cause__ if isinstance(err, PluginFailed) and err.__cause__ else err
        log.warning(
            "a sale of %s on referral %r goes on to be logged, its commission pending if "
            "rule %r fails again then: %s",
            sale.vin,
            row.code,
            rule.id,
            why,
        )


def major(version: str) -> str:
    """A rule version's major part: "1" of "1.1"; the same major computes a referral."""
    return version.split(".", 1)[0]


def car_model(vin: str, sold_on: date) -> str | None:
    """The model a referral names for this car: WMI and model year ("1HG/2003").

    The year is read as of the sale's day, so the answer never depends on when it is
    asked; None when the VIN's model-year code cannot be read.
    """
    year = decode_vin(vin, today=sold_on).model_year
    return None if year is None else f"{vin[:3]}/{year}"


def check_model(row: ReferralRow, sale: Sale) -> None:
    """Refuse a sale of another car model than the referral's (``InvalidRecord``)."""
    model = car_model(sale.vin, sale.occurred_at.date())
    if model != row.model:
        raise InvalidRecord(
            f"referral code {row.code!r} is for {row.model} cars, and this car "
            f"({sale.vin}) is {model or 'of a model year its VIN does not say'}; "
            "leave referral_code out, or use a code for this model",
            field="$.referral_code",
        )


def compute_commissions(
    registry: Registry, rule: CommissionRule, row: ReferralRow, sale: Sale, index: int
) -> list[Commission]:
    """What ``rule`` computes for sale ``index`` (-1 while it is checked) under the
    referral ``row``, as stored: ``PluginFailed`` naming the rule's plugin if it fails
    or breaks the contract of ``CommissionRule.compute`` (``BrokenContract``)."""
    price = Decimal(sale.price.amount) if sale.price else None
    facts = SaleForCommission(
        index, sale.vin, sale.dealer, price, sale.price.currency if sale.price else None
    )
    referral = _referral(row)
    # Bounded in time: as the sale is logged, this runs inside the sequencer's lock.
    paid = registry.call_in_sequencer(rule, "compute", referral, facts)
    try:
        return _checked(rule, referral, facts, paid)
    except BrokenContract as err:
        log.error("commission rule %r %s", rule.id, err)
        why = f"commission rule {rule.id!r}: {rule.id}.compute {err}"
        raise registry.failure(registry.plugin_of(rule), why) from err


class BrokenContract(Exception):
    """What a rule computed does not keep the contract of ``CommissionRule.compute``."""


def _checked(
    rule: CommissionRule, referral: Referral, sale: SaleForCommission, paid: Any
) -> list[Commission]:
    """What the rule computed, rounded half up to its currency's minor unit (cents,
    whole yen, thousandths of a dinar), less anything to the dealer.

    Whatever does not keep the contract of ``CommissionRule.compute`` (a float or a
    non-finite amount, an unknown level or beneficiary) is a failure of the rule's
    plugin: ``compute_commissions`` raises it as ``PluginFailed`` naming the plugin.
    """
    fail = BrokenContract
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
            paid_as = round_to_minor_unit(c.amount.copy_abs(), c.currency)  # no "-0.00"
            out.append(replace(c, amount=paid_as))
    return out


def verify_referral_envelope(raw: bytes) -> dsse.Envelope:
    env = dsse.decode_envelope(raw)
    if env.payload_type != PAYLOAD_TYPE:
        raise InvalidRecord(
            f"a referral is signed with payloadType {PAYLOAD_TYPE!r}, not {env.payload_type!r}",
            field="payloadType",
        )
    return env
