"""The audit's checks of what vehicle records reference, in log order.

As the sequencer (``ledger.trust``) and the claims plugin (``plugins.claims``) check
them when they append: a dealer's own sales; corrections (by the corrected entry's
signer or the operator), disputes, complaints (about a dealer) and claims name an
earlier entry of the same VIN; a claim names a sale of its signer carrying its policy,
is one the sequencer decides (``ledger.claim_rules.check_claim_rules``: of the kind its
policy takes, dated within its window and not before its sale, on a sale no approved
return undid) and is followed at once by the ledger's decision, which names the same
sale and policy. The few entries referred to are read through ``EntryFacts``: the
ledger's storage for the audit (rows it has checked by then), the monitor's own facts
for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple, Protocol

import msgspec
from sqlalchemy import select

from core.corrections import check_correction_fields
from core.errors import AuditError, InvalidRecord, VinledgerError
from core.records import parse_record
from ledger.claim_rules import CLAIMS, check_claim_rules, policy_terms
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow
from ledger.storage import entry_facts, entry_leaf_and_data


class Refs(NamedTuple):
    """What the replay checks of a record's references (``references_of``)."""

    dealer: str | None = None  # a sale's or a complaint's
    entry: int | None = None  # the earlier entry it names (a claim's: its sale)
    policy: str | None = None  # a claim's or a decision's
    sale: int | None = None  # a decision's
    at: datetime | None = None  # a claim's date
    logged: str | None = None  # a claim's entry's ``sequenced_at``
    fields: dict | None = None  # a correction's


def references_of(record, sequenced_at: str) -> Refs | None:
    """What the replay checks of a record's references, logged at ``sequenced_at``."""
    kind = record.kind
    if kind == "sale":
        return Refs(dealer=record.dealer)
    if kind == "correction":
        return Refs(entry=record.corrects, fields=record.fields)
    if kind == "dispute":
        return Refs(entry=record.disputes)
    if kind == "complaint":
        return Refs(dealer=record.dealer, entry=record.sale)
    if kind in CLAIMS:
        return Refs(
            entry=record.sale, policy=record.policy, at=record.occurred_at, logged=sequenced_at
        )
    if kind == "claim_decision":
        return Refs(entry=record.claim, policy=record.policy, sale=record.sale)
    return None


class EntryFacts(Protocol):
    """What the checks read of an earlier entry: its VIN, signer and kind; a sale's
    terms and date; whether a sale was returned."""

    def facts(self, index: int) -> tuple[str | None, str, str] | None: ...

    def terms(self, index: int) -> object: ...

    def sold_at(self, sale: int) -> datetime:
        """The date of the sale at ``sale`` (its record's ``occurred_at``)."""
        ...

    def returned(self, sale: int, before: int) -> int | None:
        """The decision before entry ``before`` that approved a return of ``sale``."""
        ...


_ENTRIES = EntryRow.__table__


class StoredEntries:
    """``EntryFacts`` from the ledger's storage (rows the audit has checked by then)."""

    def __init__(self, s):
        self.s = s

    def facts(self, index: int) -> tuple[str | None, str, str] | None:
        return entry_facts(self.s, index)

    def terms(self, index: int) -> object:
        derived = decode_entry(entry_leaf_and_data(self.s, index)[1]).derived
        return derived.get("terms") if isinstance(derived, dict) else None

    def sold_at(self, sale: int) -> datetime:
        entry = decode_entry(entry_leaf_and_data(self.s, sale)[1])
        return parse_record(record_bytes(entry)).occurred_at

    def returned(self, sale: int, before: int) -> int | None:
        vin = entry_facts(self.s, sale)[0]
        decisions = self.s.execute(
            select(_ENTRIES.c.idx, _ENTRIES.c.data)
            .where(
                _ENTRIES.c.vin == vin,
                _ENTRIES.c.kind == "claim_decision",
                _ENTRIES.c.idx > sale,
                _ENTRIES.c.idx < before,
            )
            .order_by(_ENTRIES.c.idx)
        )
        for index, data in decisions:
            # Checked by then: the decision of the claim right before it.
            record = msgspec.json.decode(record_bytes(decode_entry(bytes(data))))
            returns = entry_facts(self.s, index - 1)[2] == "return_request"
            if returns and record["sale"] == sale and record["approved"]:
                return index
        return None


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
        dealer, ref, policy, sale = refs.dealer, refs.entry, refs.policy, refs.sale
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
        if kind == "correction":
            try:
                check_correction_fields(refs.fields, target)
            except InvalidRecord as err:
                raise AuditError(f"entry {index}: {err}", index=index) from None
        if kind == "complaint" and (target != "sale" or author != dealer):
            raise AuditError(f"entry {index}: entry {ref} is not a sale by {dealer!r}", index=index)
        if kind in CLAIMS:
            self._check_claim(index, vin, kind, refs, signer, role, author, target)

    def decided(self, at: int | None = None) -> None:
        """Every claim is followed at once by its decision (the ledger appends both)."""
        if self.undecided is not None:
            claim = self.undecided
            where = "the log ends" if at is None else f"entry {at} is no decision of it"
            raise AuditError(
                f"entry {claim}: the ledger appends a decision right after every claim; {where}",
                index=claim,
            )

    def _check_claim(self, index, vin, kind, refs, signer, role, author, target) -> None:
        sale, policy = refs.entry, refs.policy
        if target != "sale":
            raise AuditError(f"entry {index}: entry {sale} is not a sale", index=index)
        if role != "operator" and author != signer:
            raise AuditError(
                f"entry {index}: sale {sale} was recorded by {author!r}; a dealer files "
                "claims only on its own sales",
                index=index,
            )
        stated = policy_terms(self.entries.terms(sale), policy)
        if stated is None:
            raise AuditError(
                f"entry {index}: sale {sale} carries no policy {policy!r}", index=index
            )
        try:
            check_claim_rules(
                kind,
                sale,
                policy,
                refs.at,
                refs.logged,
                policy_kind=stated.get("kind"),
                sold_at=self.entries.sold_at(sale),
                returned=self.entries.returned(sale, index),
            )
        except VinledgerError as err:
            raise AuditError(f"entry {index}: {err}", index=index) from None
        self.last_claim = (index, sale, policy, vin)
        self.undecided = index
