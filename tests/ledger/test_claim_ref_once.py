"""An insurer's claim is logged once per vehicle: a copy of it re-serialised by a
client's retry, or edited, is refused naming the entry, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

from core import dsse
from core.errors import Conflict
from ledger.sequencer import Appended
from ledger.storage import log_size
from tests.conftest import VIN, VIN2, onboard


def claim(ref: str = "CLM-619545", vin: str = VIN, **extra) -> dict:
    return {"kind": "insurance_claim", "vin": vin, "occurred_at": "2026-05-04T09:30:00Z",
            "claim_ref": ref, "cause": "flood", "severity": "severe", "total_loss": True,
            **extra}  # fmt: skip


def signed(partner, record: dict, indent: int | None = None) -> bytes:
    payload = json.dumps(record, indent=indent).encode()
    return dsse.encode_envelope(dsse.sign_envelope(payload, partner.key))


def test_a_claim_sent_again_respelled_is_refused_naming_its_entry(ledger):
    insurer = onboard(ledger, "pacific-mutual", "insurer")
    other = onboard(ledger, "harbour-insurance", "insurer")
    (first,) = ledger.submit_now([signed(insurer, claim())])
    assert isinstance(first, Appended) and first.created

    again = ledger.submit_now([
        signed(insurer, claim()),  # the same envelope: its entry, as ever
        signed(insurer, claim(), indent=2),  # re-serialised by a retry
        signed(insurer, claim(occurred_at="2026-05-04T09:31:00Z")),  # a fresh timestamp
        signed(insurer, claim(severity="moderate")),  # edited instead of corrected
    ])  # fmt: skip
    assert isinstance(again[0], Appended) and again[0].index == first.index
    assert not again[0].created
    for refused in again[1:]:
        assert isinstance(refused, Conflict), refused
        assert refused.field == "$.claim_ref"
        assert f"entry {first.index}" in str(refused) and "correction" in str(refused)

    # Other claims, other cars and other insurers' references are theirs.
    fine = ledger.submit_now([
        signed(insurer, claim("CLM-619546")),
        signed(insurer, claim(vin=VIN2)),
        signed(other, claim()),
    ])  # fmt: skip
    assert all(isinstance(o, Appended) and o.created for o in fine), fine


def test_two_copies_in_one_batch_log_one(ledger):
    insurer = onboard(ledger, "pacific-mutual", "insurer")
    size = _size(ledger)
    out = ledger.submit_now([signed(insurer, claim()), signed(insurer, claim(), indent=1)])
    assert isinstance(out[0], Appended) and out[0].created
    assert isinstance(out[1], Conflict) and f"entry {out[0].index}" in str(out[1])
    assert _size(ledger) == size + 1


def _size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def test_a_claims_reference_is_the_one_a_correction_gave_it(ledger):
    insurer = onboard(ledger, "pacific-mutual", "insurer")
    (first,) = ledger.submit_now([signed(insurer, claim("CLM-1"))])
    fix = {"kind": "correction", "vin": VIN, "occurred_at": "2026-05-05T09:00:00Z",
           "corrects": first.index, "reason": "claim reference mistyped",
           "fields": {"claim_ref": "CLM-2"}}  # fmt: skip
    (fixed,) = ledger.submit_now([signed(insurer, fix)])
    assert isinstance(fixed, Appended), fixed
    refused, other = ledger.submit_now([
        signed(insurer, claim("CLM-2"), indent=2),  # the corrected claim, re-serialised
        signed(insurer, claim("CLM-1", severity="minor")),  # the old reference is free
    ])  # fmt: skip
    assert isinstance(refused, Conflict) and f"entry {first.index}" in str(refused)
    assert isinstance(other, Appended) and other.created


def test_a_correction_cannot_give_a_claim_another_claims_reference(ledger):
    insurer = onboard(ledger, "pacific-mutual", "insurer")
    a, b = ledger.submit_now([signed(insurer, claim("CLM-A")), signed(insurer, claim("CLM-B"))])
    fix = {"kind": "correction", "vin": VIN, "occurred_at": "2026-05-05T09:00:00Z",
           "corrects": b.index, "reason": "reference",
           "fields": {"claim_ref": "CLM-A"}}  # fmt: skip
    (refused,) = ledger.submit_now([signed(insurer, fix)])
    assert isinstance(refused, Conflict) and refused.field == "$.fields.claim_ref", refused
    assert f"entry {a.index}" in str(refused)
    ok = {**fix, "fields": {"claim_ref": "CLM-B2"}}
    (fixed,) = ledger.submit_now([signed(insurer, ok)])
    assert isinstance(fixed, Appended), fixed
