"""What the ledger refuses of a claim before its policy decides, as every checker reads it.

The sequencer (``plugins.claims``) refuses a claim of the wrong kind for its policy,
dated before its sale, dated later than ``CLOCK_SKEW`` after its batch is logged or
more than ``MAX_CLAIM_AGE`` before, or on a sale an approved return undid. The
offline verifier (``ledger.verify``), the audit (``ledger.audit_refs``) and the
monitor check the same with ``check_claim_rules``, from the log alone: the time a
claim was judged by is its entry's ``sequenced_at``. ``api/static/verify.js`` holds
the same rules in JavaScript.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from core.errors import VinledgerError
from core.fields import parse_time

CLAIMS = ("return_request", "warranty_claim")
# How long after the time its entry is logged a claim may be dated, and how long
# before (``plugins.claims`` judges by these).
CLOCK_SKEW = timedelta(minutes=5)
MAX_CLAIM_AGE = timedelta(hours=72)
# The claim each kind of policy takes (``plugins.claims._check_kind``).
CLAIM_FOR_POLICY = {
    "return": "return_request",
    "warranty": "warranty_claim",
    "reinspection": "warranty_claim",
}
# ``sequenced_at`` as the sequencer writes it (``ledger.sequencer.format_time``).
_SEQUENCED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


def policy_terms(terms: object, policy: str) -> dict | None:
    """The terms a sale's entry states for ``policy`` (the first, as the sequencer reads
    them) among its ``derived.terms``; None if it states none."""
    for t in terms if isinstance(terms, list) else ():
        if isinstance(t, dict) and t.get("policy") == policy:
            return t
    return None


def check_claim_rules(
    kind: str,
    sale: int,
    policy: str,
    at: datetime,
    sequenced_at: str,
    *,
    policy_kind: object,
    sold_at: datetime,
    returned: int | None,
) -> None:
    """What ``plugins.claims`` refuses of a claim before its policy decides, in its order.

    A claim of ``kind`` on ``sale`` under ``policy``, dated ``at``, in an entry of
    ``sequenced_at`` (the time the sequencer judged it by), is of the kind its policy
    takes (``policy_kind``, as the sale's terms state it); it is dated no earlier than
    the sale (``sold_at``), no later than ``CLOCK_SKEW`` after ``sequenced_at`` and no
    earlier than ``MAX_CLAIM_AGE`` before; and no approved return undid the sale
    (``returned``: the entry of that decision, if one did).
    """
    wanted = CLAIM_FOR_POLICY.get(policy_kind) if isinstance(policy_kind, str) else None
    if wanted is None:
        raise VinledgerError(
            f"sale {sale} states no kind (return, warranty or reinspection) for policy "
            f"{policy!r}, so no claim may be filed under it"
        )
    if kind != wanted:
        raise VinledgerError(
            f"policy {policy!r} of sale {sale} is a {policy_kind} policy; it "
            f"takes a {wanted}, not a {kind}"
        )
    if at < sold_at:
        raise VinledgerError(f"it is dated {_stamp(at)}, before sale {sale} ({_stamp(sold_at)})")
    if not _SEQUENCED_AT.match(sequenced_at):
        raise VinledgerError(
            f"its sequenced_at {sequenced_at!r} is not a time as the ledger writes it"
        )
    logged = parse_time(sequenced_at)
    # Differences, not sums: a time near year 1 or 9999 minus a window would overflow.
    if at - logged > CLOCK_SKEW:
        raise VinledgerError(
            f"it is dated {_stamp(at)}, more than {CLOCK_SKEW.seconds // 60} minutes after "
            f"the ledger logged it ({sequenced_at}); a claim is dated when it happened"
        )
    if logged - at > MAX_CLAIM_AGE:
        hours = int(MAX_CLAIM_AGE.total_seconds() // 3600)
        raise VinledgerError(
            f"it is dated {_stamp(at)}, more than {hours} hours before the ledger logged it "
            f"({sequenced_at}); a claim is filed within {hours} hours of it"
        )
    if returned is not None:
        raise VinledgerError(
            f"sale {sale} was returned (entry {returned} approved its return); a "
            "returned sale admits no further claims"
        )


def _stamp(at: datetime) -> str:
    """A time as a claim is judged by it: to the microsecond, where it has any."""
    return at.isoformat().replace("+00:00", "Z")
