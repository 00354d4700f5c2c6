"""The audit replays the trust entries as strictly as the offline verifiers do.

The hand-made logs of tests/ledger/test_verify_trust.py (each valid but for one broken
trust rule) are written straight into storage, as a server that skipped its checks
would have left them; ``audit`` must fail on each, naming the same entry. So must it on
those of test_verify_references.py and on the vehicle defects of test_verify_trust.py
(a record that repeats a key), whose records it reads when it checks signatures.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, update

from core import dsse
from core.errors import AuditError
from core.records import parse_record
from ledger import merkle
from ledger.audit import audit
from ledger.checkpoint import Checkpoint
from ledger.entry import decode_entry
from ledger.schema import ActorRow, CheckpointRow, EntryRow, KeyRow, LogState, NodeRow
from ledger.storage import Store
from tests.conftest import VIN2, inspection
from tests.ledger.test_verify_references import DEFECTS as REFERENCE_DEFECTS
from tests.ledger.test_verify_references import (
    FIRST,
    LOTUS,
    PARTIES,
    TERMS,
    claim,
    decision,
    sale,
)
from tests.ledger.test_verify_trust import (
    ACME,
    BY_OPERATOR,
    DEFECTS,
    LOG,
    VEHICLE_DEFECTS,
    WELL_FORMED,
    encode_items,
)


def written_digest(entry, used: set[bytes]) -> bytes:
    """The digest a sequencer stored for ``entry``: its signer's (``dsse.envelope_digest``)
    as today; where an earlier entry holds that one, as a sequencer stored it before only
    the signer's own signatures, each once, counted (every signature as given), or, for
    a record it logged twice, any other."""
    env = entry.envelope
    digest = None  # no signature by its signer: the signature checks name that fault
    if any(s.keyid == entry.signer.keyid for s in env.signatures):
        digest = dsse.envelope_digest(env, entry.signer.keyid)
    if digest is None or digest in used:
        h = hashlib.sha256(dsse.pae(env.payload_type, dsse.payload_bytes(env)))
        sigs = sorted((s.keyid.encode(), base64.b64decode(s.sig)) for s in env.signatures)
        for keyid, sig in sigs:
            h.update(keyid + b"\x00" + sig)
        digest = h.digest()
        if digest in used:  # as a sequencer that skipped the check wrote it: anything
            digest = hashlib.sha256(b"stored-" + digest).digest()
    used.add(digest)
    return digest


def write_log(store: Store, items) -> None:
    """``items`` as the log's entries, nodes, one checkpoint and its trust tables."""
    now = datetime.now(UTC)
    encoded = encode_items(items)
    rng = merkle.CompactRange(0, [])
    entries, nodes, actors, keys = [], [], [], {}
    used: set[bytes] = set()
    for index, data in enumerate(encoded):
        entry = decode_entry(data)
        leaf = merkle.hash_leaf(data)
        nodes += [{"level": lv, "n": n, "hash": h} for lv, n, h in rng.append(leaf)]
        entries.append(
            {
                "idx": index,
                "leaf_hash": leaf,
                "data": data,
                "digest": written_digest(entry, used),
                "kind": entry.kind,
                "vin": entry.vin,
                "vin_seq": entry.vin_seq,
                "keyid": entry.signer.keyid,
                "actor_id": entry.signer.actor_id,
                "sequenced_at": now,
            }
        )
        try:  # the tables as a lenient replay leaves them; defects fail before they count
            record = parse_record(dsse.payload_bytes(entry.envelope))
        except Exception:
            continue
        if record.kind == "actor":
            actors.append(
                {
                    "actor_id": record.actor_id,
                    "name": record.name,
                    "role": record.role,
                    "upline": record.upline,
                    "idx": index,
                }
            )
        elif record.kind == "key_grant":
            keys[record.key_id] = {
                "key_id": record.key_id,
                "actor_id": record.actor_id,
                "public_key": base64.b64decode(record.public_key),
                "granted_idx": index,
                "revoked_idx": None,
            }
        elif record.kind == "key_revoke" and record.key_id in keys:
            keys[record.key_id]["revoked_idx"] = index
    size = len(encoded)
    note = LOG.sign(Checkpoint(LOG.origin, size, rng.root()))
    with store.writer.begin() as s:
        s.execute(insert(EntryRow), entries)
        s.execute(insert(NodeRow), nodes)
        s.execute(
            insert(CheckpointRow),
            [{"size": size, "root": rng.root(), "note": note, "created_at": now}],
        )
        s.execute(update(LogState).values(size=size))
        unique = {a["actor_id"]: a for a in actors}  # the table holds one row per actor
        s.execute(insert(ActorRow), list(unique.values()))
        # Keys of actors that exist (a foreign key); a grant to no actor fails before.
        granted = [k for k in keys.values() if k["actor_id"] in unique]
        if granted:
            s.execute(insert(KeyRow), granted)


@pytest.fixture
def store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_schema()
    yield store
    store.dispose()


def test_a_well_formed_log_passes(store):
    write_log(store, WELL_FORMED)
    result = audit(store, LOG.vkey)
    assert (result.size, result.vins) == (len(WELL_FORMED), 1)


@pytest.mark.parametrize("name", DEFECTS)
def test_a_trust_defect_fails_the_audit_naming_the_entry(store, name):
    defect = DEFECTS[name]
    write_log(store, defect.items)
    with pytest.raises(AuditError) as err:
        audit(store, LOG.vkey, signatures=False)
    assert err.value.index == defect.index, str(err.value)
    assert str(err.value).startswith(f"entry {defect.index}")
    assert defect.says in str(err.value)


def test_a_log_whose_references_hold_passes(store):
    from tests.ledger.test_verify_references import WELL_FORMED as REFERENCES

    write_log(store, REFERENCES)
    for jobs in (1, 2):
        assert audit(store, LOG.vkey, jobs=jobs, chunk=4).size == len(REFERENCES)


@pytest.mark.parametrize("name", [*REFERENCE_DEFECTS, *VEHICLE_DEFECTS])
def test_a_broken_reference_fails_the_audit_naming_the_entry(store, name):
    defect = REFERENCE_DEFECTS.get(name) or VEHICLE_DEFECTS[name]
    write_log(store, defect.items)
    with pytest.raises(AuditError) as err:
        audit(store, LOG.vkey)
    assert err.value.index == defect.index, str(err.value)
    assert defect.says in str(err.value)


def test_a_complaint_naming_no_dealer_fails_the_audit(store):
    """A bundle carries no actor entry for a dealer that signed nothing of its VIN, so
    only the audit can refuse a complaint about someone who is no dealer."""
    from tests.ledger.test_verify_references import INSPECTION, vehicle

    complaint = vehicle("complaint", dealer="acme", summary="not a dealer at all")
    write_log(store, [*PARTIES, INSPECTION, (complaint, *BY_OPERATOR)])
    with pytest.raises(AuditError, match=f"entry {FIRST + 1}: the complaint names 'acme'"):
        audit(store, LOG.vkey)


def test_a_claim_and_its_decision_on_both_sides_of_a_chunk_border(store):
    before = [(inspection(km=40_000 + k, day=1 + k), ACME, "acme") for k in range(4)]
    at = FIRST + len(before)  # the sale
    items = [
        *PARTIES,
        *before,
        (sale("lotus"), LOTUS, "lotus", TERMS),
        (claim(at), LOTUS, "lotus"),
        (decision(at + 1, at), *BY_OPERATOR),
    ]
    assert (at + 1) % 4 == 3  # the claim ends a chunk of 4, its decision begins the next
    write_log(store, items)
    for jobs in (1, 2):
        assert audit(store, LOG.vkey, jobs=jobs, chunk=4).size == len(items)


def test_a_decision_of_another_vins_claim_fails_the_audit(store):
    """A bundle holds one VIN, so only the audit sees a decision filed on another."""
    items = [
        *PARTIES,
        (inspection(km=40_000), ACME, "acme"),
        (sale("lotus"), LOTUS, "lotus", TERMS),
        (claim(FIRST + 1), LOTUS, "lotus"),
        ({**decision(FIRST + 2, FIRST + 1), "vin": VIN2}, *BY_OPERATOR),
    ]
    write_log(store, items)
    with pytest.raises(AuditError, match=f"entry {FIRST + 3}: it decides entry {FIRST + 2}"):
        audit(store, LOG.vkey)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_claim_on_a_returned_sale_fails_the_audit_in_worker_processes(store, jobs):
    defect = REFERENCE_DEFECTS["a-claim-on-a-returned-sale"]
    write_log(store, defect.items)
    with pytest.raises(AuditError, match=f"^entry {defect.index}: sale .* was returned") as err:
        audit(store, LOG.vkey, jobs=jobs, chunk=4)
    assert err.value.index == defect.index
