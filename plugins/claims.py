"""Deciding return requests and warranty claims, inside the sequencer's lock.

A claim names a sale (by log index) and one of the policies attached to it. The
ledger first refuses what is the filer's mistake rather than a question for the
policy, and appends nothing for it (a 4xx names what to fix):

- a claim of the wrong kind for the policy (a ``warranty_claim`` under a return
  policy, a ``return_request`` under a warranty or re-inspection);
- a claim dated before the sale, or not when it happened: its date must be when the
  car was brought back or the fault reported, so no later than the ledger logs it
  (``CLOCK_SKEW``) and no earlier than ``MAX_CLAIM_AGE`` before;
- a claim on a sale that an approved return already undid;
- an odometer reading at the claim below the sale's: a car is not driven backwards.

Everything else goes to the policy plugin, which decides from the ledger's facts at
that point of the log (``plugins.claim_facts``) — the terms stated at the sale, days
since the sale, the highest odometer reading since the sale (corrected, and not
disputed, as the history view reads it), earlier claims on the same sale, the car's brands, damage
and rollbacks — and the ledger appends the decision, signed by the operator key,
right after the claim in the same transaction. If the plugin fails (any exception:
a policy refuses by deciding so), the claim is refused and nothing is appended; so
is a decision the ledger would have to reinterpret to sign (``approved`` not a bool,
a blank reason, a reason too long for the record), which fails the plugin too. A
plugin that does not answer within the registry's ``call_timeout`` is left behind
(``PluginTimedOut``, 503): the sequencer goes on, and its late answer is dropped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, get_args

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from core import dsse
from core.corrections import apply_corrections
from core.errors import (
    Conflict,
    Forbidden,
    InvalidRecord,
    NotFound,
    PluginFailed,
    PolicyUnavailable,
    VinledgerError,
)
from core.fields import Text
from core.keys import key_id
from core.records import ClaimDecision, encode_record, parse_record
from core.sale_standing import recorded_again, sold_again
from ledger.claim_rules import CLAIM_FOR_POLICY, CLOCK_SKEW, MAX_CLAIM_AGE
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow
from ledger.sequencer import Submission
from ledger.storage import entries_for_vin, get_actor, granted_keys
from plugins.claim_facts import CLAIM_KINDS, claim_facts
from plugins.interfaces import Decision, Terms
from plugins.registry import Registry

# The longest reason a claim_decision record holds (its ``reason`` is a Text).
REASON_MAX_CHARS = get_args(Text)[1].max_length
# How far ahead of the ledger's clock a filer's clock may run (CLOCK_SKEW), and how
# long after the car comes back or the fault is reported a claim may be filed
# (MAX_CLAIM_AGE): a dealer who dated it freely could reach back into a window that
# has closed. Shared with every checker (ledger.claim_rules).

_EVENT = {
    "return_request": "the car was brought back",
    "warranty_claim": "the fault was reported",
}


_DECIDE_REFUSES = "a policy refuses a claim by returning Decision(False, reason)"


class ClaimPluginFailed(PluginFailed):
    """A policy plugin failed on a claim. Disabling the plugin would not help the
    claim (its claims are then refused as the policy's being unavailable): it is
    filed again once the plugin is fixed."""

    def __init__(self, plugin: str, detail: str):
        VinledgerError.__init__(
            self,
            f"plugin {plugin!r} failed: {detail}; nothing was appended. File the same claim "
            "again, with the same date, once the plugin is fixed (tell the ledger's "
            f"operator): a claim is accepted up to {_hours(MAX_CLAIM_AGE)} hours after its "
            "date",
        )
        self.plugin = plugin


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


log = logging.getLogger("vinledger.plugins")


def _cannot_sign() -> PolicyUnavailable:
    return PolicyUnavailable(
        "the ledger cannot sign claim decisions right now; nothing was appended. File the "
        "same claim again later, within 72 hours of its date; the ledger's operator has "
        "been told"
    )


class ClaimDecider:
    """The sequencer's ``follow``: one ``claim_decision`` after each claim.

    A claim is judged by ``logged_at``, the time its batch is logged (its
    ``sequenced_at``), so anyone can check the window from the log alone.
    """

    kinds = CLAIM_KINDS

    def __init__(
        self,
        registry: Registry,
        operator_key: Ed25519PrivateKey | Callable[[], Ed25519PrivateKey],
    ):
        """``operator_key``: the key, or what reads it when a decision is signed (the
        ledger's data directory: an operator who rotates the key replaces the file,
        and a running server signs with the new one, no restart needed)."""
        self.registry = registry
        self._operator_key = operator_key if callable(operator_key) else lambda: operator_key

    def __call__(self, s: Session, sub: Submission, index: int, actor_id: str, logged_at: datetime):
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
        if not stated and any(ref.id == claim.policy for ref in sale.policies):
            raise InvalidRecord(
                f"sale {claim.sale} names policy {claim.policy!r} in its signed record, but "
                "it was logged before this ledger stated a policy's terms at sale (its entry "
                "states none), so no claim can be decided under it; nothing was logged. If "
                "the guarantee stands, the operator files a dispute of the sale and the dealer "
                "records it again, with its policies",
                field="$.policy",
            )
        if not stated:
            attached = ", ".join(t["policy"] for t in derived.get("terms", [])) or "none"
            raise InvalidRecord(
                f"sale {claim.sale} carries no policy {claim.policy!r}; it carries: {attached}",
                field="$.policy",
            )
        if claim.policy not in self.registry.policies:
            raise PolicyUnavailable(
                f"sale {claim.sale} states policy {claim.policy!r}, but no plugin on this "
                "ledger provides it now (the operator disabled or removed it), so its claims "
                "cannot be decided; nothing was logged. Ask the ledger's operator to enable "
                f"it, then file again: a claim is accepted up to {_hours(MAX_CLAIM_AGE)} "
                "hours after its date",
                field="$.policy",
            )
        policy = self.registry.policies[claim.policy]
        try:
            terms = msgspec.convert(stated[0], Terms)
        except msgspec.ValidationError as err:  # stored before the ledger checked terms
            raise ClaimPluginFailed(
                self.registry.plugin_of(policy),
                f"the terms of {policy.id!r} stored at sale {claim.sale} are malformed: {err}",
            ) from None
        _check_kind(claim, terms)
        self._check_date(claim, sale, logged_at)
        entries = self._vin_entries(s, claim, index, actor_id)
        items = apply_corrections(entries)  # as the history view reads them
        sales = [i for i in items if i["kind"] == "sale"]
        claimed = next(i for i in sales if i["index"] == claim.sale)
        _check_not_superseded(sales, claimed, [i for i in items if i["kind"] == "dispute"])
        _check_not_sold_on(sales, claimed, claim, by_operator=actor.role == "operator")
        facts = claim_facts(entries, items, claim, index, sale, terms.day_of)
        returned = [p for p in facts.prior_claims if p.kind == "return_request" and p.approved]
        if returned:
            raise Conflict(
                f"sale {claim.sale} was returned (entry {returned[0].index + 1} approved its "
                "return); a returned sale admits no further claims",
                field="$.sale",
            )
        # Inside the sequencer's lock: bounded in time, and no exception is a refusal,
        # since a policy refuses a claim by deciding so (the dealer's own mistakes were
        # refused above, and a refusal raised here would sign no decision).
        decision = self.registry.call_in_sequencer(
            policy, "decide", terms, facts, refusal=_DECIDE_REFUSES, failed=ClaimPluginFailed
        )
        problem = _decision_problem(decision)
        if problem:
            raise ClaimPluginFailed(
                self.registry.plugin_of(policy), f"{policy.id}.decide {problem}"
            )
        record = ClaimDecision(
            vin=claim.vin,
            occurred_at=claim.occurred_at,
            odometer_km=facts.odometer_km,
            claim=index,
            sale=claim.sale,
            policy=policy.id,
            policy_version=policy.version,
            approved=decision.approved,
            reason=decision.reason,
            days_since_sale=facts.days_since_sale,
            km_since_sale=facts.km_since_sale,
        )
        payload = encode_record(record)
        key, keyid = self._signing_key(s)
        env = dsse.sign_envelope(payload, key)
        return [Submission(env, parse_record(payload), dsse.envelope_digest(env), keyid)]

    def _signing_key(self, s: Session):
        """The operator key, and its ID, if the log holds it valid now. Otherwise the
        claim waits (503, nothing appended) and the operator is told in the server's
        log: the dealer is told neither the server's paths nor the operator's chores,
        and the batch it came in with is not failed by the ledger's own entry."""
        try:
            key = self._operator_key()
        except VinledgerError as err:
            log.error("claim decisions cannot be signed: %s", err)
            raise _cannot_sign() from None
        keyid = key_id(key.public_key())
        granted = granted_keys(s, [keyid]).get(keyid)
        if granted is None or granted.role != "operator" or granted.revoked_idx is not None:
            log.error(
                "claim decisions cannot be signed: operator.key (key %s) is not an operator "
                "key the log holds valid; put back the granted one",
                keyid,
            )
            raise _cannot_sign()
        return key, keyid

    def _check_date(self, claim, sale, now: datetime) -> None:
        """The claim happened after the sale, and is filed when it happened."""
        event = _EVENT[claim.kind]
        if claim.occurred_at < sale.occurred_at:
            raise InvalidRecord(
                f"the claim is dated {_stamp(claim.occurred_at)}, before sale {claim.sale} "
                f"({_stamp(sale.occurred_at)}); date it when {event}",
                field="$.occurred_at",
            )
        if claim.occurred_at > now + CLOCK_SKEW:
            raise InvalidRecord(
                f"the claim is dated {_stamp(claim.occurred_at)}, after the ledger's time "
                f"({_stamp(now)}); date it when {event}, not later",
                field="$.occurred_at",
            )
        if claim.occurred_at < now - MAX_CLAIM_AGE:
            hours = _hours(MAX_CLAIM_AGE)
            raise InvalidRecord(
                f"the claim is dated {_stamp(claim.occurred_at)}, more than {hours} hours "
                f"before the ledger logs it ({_stamp(now)}); a {claim.kind} must be dated "
                f"when {event} and filed within {hours} hours of it",
                field="$.occurred_at",
            )

    def _vin_entries(self, s: Session, claim, index: int, actor_id: str) -> list[dict[str, Any]]:
        """This VIN's entries and the claim, as ``core.history`` reads them."""
        items = [_item(row) for row in entries_for_vin(s, claim.vin)]
        items.append(
            {
                "index": index,
                "kind": claim.kind,
                "signer": {"id": actor_id},
                "record": msgspec.json.decode(encode_record(claim)),
            }
        )
        return items


def _check_kind(claim, terms: Terms) -> None:
    """A return policy takes return requests; warranties and re-inspections, claims."""
    wanted = CLAIM_FOR_POLICY.get(terms.kind, "warranty_claim")  # as every checker reads it
    if claim.kind != wanted:
        what = "a return policy" if terms.kind == "return" else f"a {terms.kind} policy"
        raise InvalidRecord(
            f"{terms.policy} is {what}; file a {wanted}, not a {claim.kind}", field="$.kind"
        )


def _hours(span: timedelta) -> int:
    return int(span.total_seconds() // 3600)


def _decision_problem(decision: object) -> str | None:
    """What keeps ``decision`` from being signed as it stands, or None.

    The ledger signs exactly what the policy decided: it never reads a truthy string
    as an approval, writes a reason the policy did not give, or cuts one short.
    """
    if not isinstance(decision, Decision):
        return f"returned {type(decision).__name__}, not a Decision"
    if not isinstance(decision.approved, bool):
        return f"returned approved={decision.approved!r}; approved must be True or False"
    reason = decision.reason
    if not isinstance(reason, str) or not reason.strip():
        return f"returned reason={reason!r}; the reason must be a sentence a buyer can read"
    if len(reason) > REASON_MAX_CHARS:
        return (
            f"returned a reason of {len(reason):,} characters; a decision's reason is at "
            f"most {REASON_MAX_CHARS:,}"
        )
    return None


def _item(row: EntryRow) -> dict[str, Any]:
    """An entry as ``core.history`` reads it."""
    return {
        "index": row.idx,
        "kind": row.kind,
        "signer": {"id": row.actor_id},
        "record": msgspec.json.decode(record_bytes(decode_entry(row.data))),
    }


def _check_not_superseded(
    sales: list[dict[str, Any]], sale: dict[str, Any], disputes: list[dict[str, Any]]
) -> None:
    """A sale the operator disputed and its dealer recorded again (the way to fix a sale
    recorded wrongly) is replaced: its guarantees are the new sale's, claimed there."""
    if not sale.get("disputes"):
        return
    dispute = sale["disputes"][0]["index"]  # the first of its disputes still open
    again = recorded_again(sales, sale, next(d for d in disputes if d["index"] == dispute))
    if again is not None:
        raise Conflict(
            f"sale {sale['index']} was disputed (entry {dispute}) and "
            f"{sale['signer']['id']!r} recorded the sale again at entry {again['index']}: "
            f"file the claim on sale {again['index']}",
            field="$.sale",
        )


def _check_not_sold_on(
    sales: list[dict[str, Any]], sale: dict[str, Any], claim, *, by_operator: bool
) -> None:
    """A car sold again cannot be brought back under an earlier sale: its buyer no longer
    has it. (A warranty stays with the car; its dealer may still honour it.) A disputed
    later sale counts too (a dispute of its price does not undo it); only the operator,
    who judged the dispute, may file a return past one (a sale put on the wrong car)."""
    if claim.kind != "return_request":
        return
    later = sold_again(sales, sale, past_disputed=by_operator)
    if later is not None:
        raise Conflict(
            f"the car was sold again after sale {claim.sale} (entry {later['index']}); a "
            "return is filed on the latest sale, by its dealer",
            field="$.sale",
        )
