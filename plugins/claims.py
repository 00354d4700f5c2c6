"""Deciding return requests and warranty claims, inside the sequencer's lock.

A claim names a sale (by log index) and one of the policies attached to it. The
policy plugin decides from the ledger's facts at that point of the log — the terms
stated at the sale, days since the sale, the latest odometer reading, earlier claims
on the same sale — and the ledger appends the decision, signed by the operator key,
right after the claim in the same transaction. If the plugin fails, the claim is
refused and nothing is appended.
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from core import dsse
from core.errors import Forbidden, InvalidRecord, NotFound
from core.keys import key_id
from core.records import ClaimDecision, encode_record, parse_record
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow
from ledger.sequencer import Submission
from ledger.storage import entries_for_vin, get_actor
from plugins.interfaces import ClaimFacts, PriorClaim, Terms
from plugins.registry import Registry

CLAIM_KINDS = frozenset({"return_request", "warranty_claim"})


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class ClaimDecider:
    """The sequencer's ``follow``: one ``claim_decision`` after each claim."""

    kinds = CLAIM_KINDS

    def __init__(self, registry: Registry, operator_key: Ed25519PrivateKey):
        self.registry = registry
        self.key = operator_key
        self.keyid = key_id(operator_key.public_key())

    def __call__(self, s: Session, sub: Submission, index: int, actor_id: str):
        claim = sub.record
        sale_row = s.get(EntryRow, claim.sale)
        if sale_row is None or sale_row.kind != "sale":
            raise NotFound(f"entry {claim.sale} is not a sale in this log", field="$.sale")
        if sale_row.vin != claim.vin:
            raise InvalidRecord(
                f"sale {claim.sale} is about VIN {sale_row.vin}, not {claim.vin}", field="$.vin"
            )
        actor = get_actor(s, actor_id)
        if actor.role != "operator" and sale_row.actor_id != actor_id:
            raise Forbidden(
                f"sale {claim.sale} was recorded by {sale_row.actor_id!r}; a dealer files and "
                "decides claims only on its own sales"
            )
        sale_entry = decode_entry(sale_row.data)
        sale = parse_record(record_bytes(sale_entry))
        derived = sale_entry.derived if isinstance(sale_entry.derived, dict) else {}
        stated = [t for t in derived.get("terms", []) if t["policy"] == claim.policy]
        if not stated:
            attached = ", ".join(t["policy"] for t in derived.get("terms", [])) or "none"
            raise InvalidRecord(
                f"sale {claim.sale} carries no policy {claim.policy!r}; it carries: {attached}",
                field="$.policy",
            )
        terms = msgspec.convert(stated[0], Terms)
        policy = self.registry.policy(claim.policy, field="$.policy")
        facts = self._facts(s, claim, index, sale)
        decision = self.registry.call(policy, "decide", terms, facts)
        record = ClaimDecision(
            vin=claim.vin,
            occurred_at=claim.occurred_at,
            odometer_km=facts.odometer_km,
            claim=index,
            sale=claim.sale,
            policy=policy.id,
            policy_version=policy.version,
            approved=bool(decision.approved),
            reason=str(decision.reason)[:2000] or "no reason given",
            days_since_sale=facts.days_since_sale,
            km_since_sale=facts.km_since_sale,
        )
        payload = encode_record(record)
        env = dsse.sign_envelope(payload, self.key)
        return [Submission(env, parse_record(payload), dsse.envelope_digest(env), self.keyid)]

    def _facts(self, s: Session, claim, index: int, sale) -> ClaimFacts:
        """Days, kilometres and earlier claims, from this VIN's entries on the ledger."""
        readings: list[tuple[datetime, int, int]] = []
        claims: dict[int, dict] = {}
        decisions: list[dict] = []
        for row in entries_for_vin(s, claim.vin):
            rec = msgspec.json.decode(record_bytes(decode_entry(row.data)))
            at = _time(rec["occurred_at"])
            if rec.get("odometer_km") is not None and at <= claim.occurred_at:
                readings.append((at, row.idx, rec["odometer_km"]))
            if rec["kind"] in CLAIM_KINDS:
                claims[row.idx] = rec
            elif rec["kind"] == "claim_decision" and rec["sale"] == claim.sale:
                decisions.append(rec)
        if claim.odometer_km is not None:
            readings.append((claim.occurred_at, index, claim.odometer_km))
        latest = max(readings)[2] if readings else None
        prior = [
            PriorClaim(
                index=d["claim"],
                kind=claims[d["claim"]]["kind"],
                policy=d["policy"],
                component=claims[d["claim"]].get("component"),
                approved=d["approved"],
            )
            for d in decisions
            if d["claim"] in claims
        ]
        km_since = (
            latest - sale.odometer_km
            if latest is not None and sale.odometer_km is not None
            else None
        )
        return ClaimFacts(
            kind=claim.kind,
            index=index,
            filed_at=claim.occurred_at,
            component=getattr(claim, "component", None),
            days_since_sale=(claim.occurred_at.date() - sale.occurred_at.date()).days,
            odometer_km=latest,
            km_since_sale=km_since,
            prior_claims=prior,
        )
