"""What the sequencer checks of a vehicle record's references, from a bundle's entries.

A dealer records only its own sales; a correction (by the corrected entry's signer or
the operator, naming only fields that kind may have corrected), a dispute and a
complaint name an earlier entry of the same VIN, which the bundle therefore holds; a
claim names a sale of its own signer (or the operator) carrying its policy and keeps
the claim rules (``ledger.claim_rules``); a decision comes right after its claim.
"""

from __future__ import annotations

from core.corrections import check_correction_fields
from core.errors import VinledgerError
from core.records import parse_record
from ledger.claim_rules import CLAIMS, check_claim_rules, policy_terms
from ledger.entry import Entry, record_bytes


def check_references(record, index: int, signer: str, role: str, by_index) -> None:
    """What the sequencer checks of a record's references, from this VIN's entries.

    A dealer records only its own sales; a correction (by the corrected entry's signer
    or the operator), a dispute and a complaint name an earlier entry of the same VIN,
    which the bundle therefore holds; a claim names a sale of its own signer (or the
    operator) carrying its policy, and is one the sequencer decides; a decision comes
    right after the claim it decides.
    """
    if record.kind == "sale" and role != "operator" and record.dealer != signer:
        raise VinledgerError(f"the sale names dealer {record.dealer!r} but {signer!r} signed it")
    if record.kind == "correction":
        earlier = _earlier(by_index, record.corrects, index, record.vin)
        if role != "operator" and earlier.signer.actor_id != signer:
            raise VinledgerError(
                f"it corrects entry {record.corrects}, signed by "
                f"{earlier.signer.actor_id!r}; only that signer or the operator may correct it"
            )
        check_correction_fields(record.fields, earlier.kind)
    elif record.kind == "dispute":
        _earlier(by_index, record.disputes, index, record.vin)
    elif record.kind == "complaint" and record.sale is not None:
        earlier = _earlier(by_index, record.sale, index, record.vin)
        if earlier.kind != "sale" or earlier.signer.actor_id != record.dealer:
            raise VinledgerError(f"entry {record.sale} is not a sale by {record.dealer!r}")
    elif record.kind in CLAIMS:
        _check_claim(record, index, signer, role, by_index)
    elif record.kind == "claim_decision":
        claim = by_index.get(record.claim)
        if record.claim != index - 1 or claim is None or claim.kind not in CLAIMS:
            raise VinledgerError(
                f"it decides entry {record.claim}, but a decision comes right after its claim"
            )
        decided = parse_record(record_bytes(claim))
        if (decided.sale, decided.policy) != (record.sale, record.policy):
            raise VinledgerError(
                f"it names sale {record.sale} and policy {record.policy!r}; the claim it "
                f"decides names sale {decided.sale} and policy {decided.policy!r}"
            )


def _earlier(by_index, ref: int, index: int, vin: str) -> Entry:
    earlier = by_index.get(ref)
    if earlier is None or ref >= index or earlier.vin != vin:
        raise VinledgerError(f"it names entry {ref}, which is no earlier entry of this VIN")
    return earlier


def _check_claim(record, index: int, signer: str, role: str, by_index) -> None:
    sale = _earlier(by_index, record.sale, index, record.vin)
    if sale.kind != "sale":
        raise VinledgerError(f"entry {record.sale} is not a sale")
    if role != "operator" and sale.signer.actor_id != signer:
        raise VinledgerError(
            f"sale {record.sale} was recorded by {sale.signer.actor_id!r}; a dealer files "
            "claims only on its own sales"
        )
    terms = sale.derived.get("terms") if isinstance(sale.derived, dict) else None
    stated = policy_terms(terms, record.policy)
    if stated is None:
        raise VinledgerError(f"sale {record.sale} carries no policy {record.policy!r}")
    check_claim_rules(
        record.kind,
        record.sale,
        record.policy,
        record.occurred_at,
        by_index[index].sequenced_at,
        policy_kind=stated.get("kind"),
        sold_at=parse_record(record_bytes(sale)).occurred_at,
        returned=_returned(by_index, record.sale, index),
    )
    decision = by_index.get(index + 1)
    if decision is None or decision.kind != "claim_decision":
        raise VinledgerError(
            f"the ledger appends a decision right after every claim; entry {index + 1} is not one"
        )


def _returned(by_index, sale: int, before: int) -> int | None:
    """The decision before ``before`` that approved a return of ``sale``, if one did."""
    for index in sorted(i for i in by_index if i < before):
        entry = by_index[index]
        if entry.kind != "claim_decision":
            continue
        try:
            decision = parse_record(record_bytes(entry))
        except VinledgerError:  # that entry's own failure
            continue
        claim = by_index.get(decision.claim)
        returns = claim is not None and claim.kind == "return_request"
        if returns and decision.sale == sale and decision.approved:
            return index
    return None
