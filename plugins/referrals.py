"""Referral codes and the commissions a sale earns, computed by the rule plugins.

A referrer creates a referral by signing it with its own granted key (DSSE,
``payloadType`` below); it names a commission rule and that rule's parameters, and
the car model and region it is for. A dealer's sale that names the code earns the
commissions the rule computes. They are kept privately, beside the log, each citing
the sale's log index and the rule's id and version, so an auditor holding the
referral can recompute the amount from the public sale entry.

A commission is *held* until the sale's return window closes (the last day of its
return policy, as stated at the sale), then *payable*; it is *voided* if the ledger
holds an approved return of the sale. The status is read from the ledger each time,
as of a stated day, so the same ledger and day always give the same answer.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import dsse
from core.errors import Conflict, Forbidden, InvalidRecord, NotFound, VinledgerError
from core.records import Sale
from ledger.entry import decode_entry, record_bytes
from ledger.schema import CommissionRow, EntryRow, ReferralRow
from ledger.storage import entries_for_vin, get_actor
from plugins.interfaces import Referral, SaleForCommission
from plugins.registry import Registry

PAYLOAD_TYPE = "application/vnd.vinledger.referral+json"
_Slug = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{1,63}\Z")]


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
    actor = get_actor(s, actor_id)
    if actor is None or actor.role != "referrer":
        raise Forbidden(f"{actor_id!r} is not a referrer; only referrers create referral codes")
    if s.get(ReferralRow, req.code) is not None:
        raise Conflict(f"referral code {req.code!r} is taken; choose another")
    rule = registry.rule(req.rule)
    params = registry.call(rule, "validate", req.params)
    referral = Referral(req.code, actor_id, actor.upline, rule.id, params, req.model, req.region)
    active = [
        _referral(row)
        for row in s.scalars(
            select(ReferralRow).where(
                ReferralRow.model == req.model, ReferralRow.region == req.region
            )
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
    return referral


def check_sale_referral(s: Session, registry: Registry, sale: Sale) -> None:
    """Refuse a sale whose referral code is unknown or whose rule cannot compute it."""
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


def _compute(registry: Registry, row: ReferralRow, sale: Sale, index: int):
    rule = registry.rule(row.rule)
    price = Decimal(sale.price.amount) if sale.price else None
    facts = SaleForCommission(
        index, sale.vin, sale.dealer, price, sale.price.currency if sale.price else None
    )
    return registry.call(rule, "compute", _referral(row), facts)


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
    version that computed each amount is stored with it.
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
        except VinledgerError:  # recorded when the rule is back; the sale stays
            continue
        for c in paid:
            s.add(
                CommissionRow(
                    sale_idx=row.idx,
                    code=referral.code,
                    dealer=sale.dealer,
                    beneficiary=c.beneficiary,
                    level=c.level,
                    amount=f"{c.amount:.2f}",
                    currency=c.currency,
                    rule=c.rule,
                    rule_version=c.version,
                )
            )
    s.flush()


def _status(s: Session, sale_idx: int, as_of: date) -> tuple[str, str]:
    sale_row = s.get(EntryRow, sale_idx)
    if sale_row is None:
        raise NotFound(f"sale {sale_idx} is not in the log")
    entry = decode_entry(sale_row.data)
    derived = entry.derived if isinstance(entry.derived, dict) else {}
    sold = msgspec.json.decode(record_bytes(entry))["occurred_at"][:10]
    ends = [t["ends"] for t in derived.get("terms", []) if t["kind"] == "return" and t["ends"]]
    until = max(ends, default=sold)
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
