"""The audit's checks of what vehicle records reference, in log order.

As the sequencer (``ledger.trust``) and the claims plugin (``plugins.claims``) check
them when they append: a dealer's own sales; corrections (by the corrected entry's
signer or the operator), disputes, complaints (about a dealer) and claims name an
earlier entry of the same VIN; a claim names a sale of its signer carrying its policy
and is followed at once by the ledger's decision, which names the same sale and
policy. The few entries referred to are read through ``EntryFacts``: the ledger's
storage for the audit (rows it has checked by then), the monitor's own facts for it.
"""

from __future__ import annotations

from typing import Protocol

from core.errors import AuditError
from ledger.entry import decode_entry
from ledger.storage import entry_facts, entry_leaf_and_data


def references_of(record) -> tuple | None:
    """What the replay checks of a record's references: (dealer, entry, policy, sale)."""
    kind = record.kind
    if kind == "sale":
        return (record.dealer, None, None, None)
    if kind == "correction":
        return (None, record.corrects, None, None)
    if kind == "dispute":
        return (None, record.disputes, None, None)
    if kind == "complaint":
        return (record.dealer, record.sale, None, None)
    if kind in ("return_request", "warranty_claim"):
        return (None, record.sale, record.policy, None)
    if kind == "claim_decision":
        return (None, record.claim, record.policy, record.sale)
    return None


class EntryFacts(Protocol):
    """What the checks read of an earlier entry: its VIN, signer and kind, a sale's terms."""

    def facts(self, index: int) -> tuple[str | None, str, str] | None: ...

    def terms(self, index: int) -> object: ...


class StoredEntries:
    """``EntryFacts`` from the ledger's storage (rows the audit has checked by then)."""

    def __init__(self, s):
        self.s = s

    def facts(self, index: int) -> tuple[str | None, str, str] | None:
        return entry_facts(self.s, index)

    def terms(self, index: int) -> object:
        derived = decode_entry(entry_leaf_and_data(self.s, index)[1]).derived
        return derived.get("terms") if isinstance(derived, dict) else None


class References:
    def __init__(self, actors: dict, entries: EntryFacts):
        self.actors = actors  # the replay's: actor id -> (name, role, upline, index)
        self.entries = entries
        self.last_claim: tuple | None = None  # (index, sale, policy, VIN) of the latest claim
        self.undecided: int | None = None  # a claim whose decision must come next

    def next_entry(self, index: int, kind: str) -> None:
        """Called for each vehicle entry first: is it the decision a claim awaits?"""
        if self.undecided is not None and (index != self.undecided + 1 or kind != "claim_decision"):
            self.decided(index)

    def check(self, index: int, vin: str, signer: str, kind: str, refs) -> None:
        """As the sequencer (ledger.trust, plugins.claims): a dealer's own sales;
        corrections, disputes, complaints and claims name an earlier entry of the same
        VIN, each as it may; a decision comes right after the claim it decides."""
        dealer, ref, policy, sale = refs
        role = self.actors[signer][1] if signer in self.actors else ""
        if kind == "sale" and role != "operator" and dealer != signer:
            raise AuditError(
                f"entry {index}: the sale names dealer {dealer!r} but {signer!r} signed it",
                index=index,
            )
        if kind == "complaint" and self.actors.get(dealer, ("", ""))[1] != "dealer":
            raise AuditError(
                f"entry {index}: the complaint names {dealer!r}, who is not a dealer", index=index
            )
        if kind == "claim_decision":
            claim = self.last_claim
            if ref != index - 1 or claim is None or claim[0] != ref or claim[3] != vin:
                raise AuditError(
                    f"entry {index}: it decides entry {ref}, but a decision comes right "
                    "after its claim",
                    index=index,
                )
            if claim[1:3] != (sale, policy):
                raise AuditError(
                    f"entry {index}: it names sale {sale} and policy {policy!r}; the claim it "
                    f"decides names sale {claim[1]} and policy {claim[2]!r}",
                    index=index,
                )
            self.undecided = None
            return
        if ref is None:
            return
        facts = self.entries.facts(ref) if ref < index else None
        if facts is None or facts[0] != vin:
            raise AuditError(
                f"entry {index}: it names entry {ref}, which is no earlier entry of VIN {vin}",
                index=index,
            )
        _, author, target = facts
        if kind == "correction" and role != "operator" and author != signer:
            raise AuditError(
                f"entry {index}: it corrects entry {ref}, signed by {author!r}; only that "
                "signer or the operator may correct it",
                index=index,
            )
        if kind == "complaint" and (target != "sale" or author != dealer):
            raise AuditError(f"entry {index}: entry {ref} is not a sale by {dealer!r}", index=index)
        if kind in ("return_request", "warranty_claim"):
            self._check_claim(index, vin, ref, policy, signer, role, author, target)

    def decided(self, at: int | None = None) -> None:
        """Every claim is followed at once by its decision (the ledger appends both)."""
        if self.undecided is not None:
            claim = self.undecided
            where = "the log ends" if at is None else f"entry {at} is no decision of it"
            raise AuditError(
                f"entry {claim}: the ledger appends a decision right after every claim; {where}",
                index=claim,
            )

    def _check_claim(self, index, vin, sale, policy, signer, role, author, target) -> None:
        if target != "sale":
            raise AuditError(f"entry {index}: entry {sale} is not a sale", index=index)
        if role != "operator" and author != signer:
            raise AuditError(
                f"entry {index}: sale {sale} was recorded by {author!r}; a dealer files "
                "claims only on its own sales",
                index=index,
            )
        terms = self.entries.terms(sale)
        if not any(
            isinstance(t, dict) and t.get("policy") == policy
            for t in (terms if isinstance(terms, list) else ())
        ):
            raise AuditError(
                f"entry {index}: sale {sale} carries no policy {policy!r}", index=index
            )
        self.last_claim = (index, sale, policy, vin)
        self.undecided = index
