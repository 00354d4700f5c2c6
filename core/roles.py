"""Roles, and the record kinds each role may submit.

Every actor has exactly one role, fixed when the operator adds it. The table below
is the whole trust policy for kinds (DESIGN.md, "Trust model"): the sequencer
checks it before it appends, and offline verifiers check it again for every entry.
"""

from __future__ import annotations

from core.errors import Forbidden

ROLES = ("operator", "inspector", "workshop", "insurer", "registry", "dealer", "referrer")

KINDS_BY_ROLE: dict[str, frozenset[str]] = {
    "operator": frozenset(
        {
            "actor",
            "key_grant",
            "key_revoke",
            "correction",
            "recall",
            "return_request",
            "warranty_claim",
            "claim_decision",
            "dispute",
            "complaint",
        }
    ),
    "inspector": frozenset({"inspection", "odometer", "correction"}),
    "workshop": frozenset({"maintenance", "odometer", "recall", "correction"}),
    "insurer": frozenset({"insurance_claim", "title_brand", "odometer", "correction"}),
    "registry": frozenset(
        {"title_brand", "transfer", "registration", "odometer", "recall", "correction"}
    ),
    # A dealer files claims on its own sales; the ledger's policies decide them.
    "dealer": frozenset({"sale", "odometer", "correction", "return_request", "warranty_claim"}),
    # Referrers earn commissions on sales but sign nothing on a vehicle's history.
    "referrer": frozenset(),
}


def check_role_may_submit(role: str, kind: str) -> None:
    """Returns if an actor with ``role`` may sign a ``kind`` record; raises Forbidden if not."""
    if role not in KINDS_BY_ROLE:
        raise Forbidden(f"{role!r} is not a role; the roles are: {', '.join(ROLES)}")
    allowed = KINDS_BY_ROLE[role]
    if kind in allowed:
        return
    who = f"{article(role)} {role}"
    may = f"may submit: {', '.join(sorted(allowed))}" if allowed else "may submit no records"
    raise Forbidden(f"{who} may not submit {kind!r} records; {who} {may}", field="$.kind")


def article(word: str) -> str:
    """The indefinite article before ``word``: "an inspector", "a dealer"."""
    return "an" if word[:1] in tuple("aeiou") else "a"
