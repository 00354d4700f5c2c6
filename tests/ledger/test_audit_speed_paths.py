"""The paths of ``audit`` that read storage in chunks and range scans, and its fast
envelope digest: each kind of damage is still found and named, across chunk borders."""

from __future__ import annotations

import base64
import functools
import json
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, select, text, update

from api import service_checks
from core.errors import AuditError, VinledgerError
from ledger import trust
from ledger.audit import audit
from ledger.schema import EntryRow, NodeRow
from tests.conftest import VIN, inspection, onboard, seed_two_vehicles


@pytest.fixture(params=[1, 2], ids=["in-process", "two-workers"])
def chunked(ledger, request):
    """A seeded log audited in chunks of 4 entries, so tree nodes span chunk borders:
    in this process, and by two worker processes."""
    seed_two_vehicles(ledger, days=6)
    run = functools.partial(audit, ledger.store, ledger.vkey, chunk=4, jobs=request.param)
    return SimpleNamespace(store=ledger.store, vkey=ledger.vkey, audit=run)


def test_chunked_audit_agrees_with_one_chunk(chunked):
    small = chunked.audit()
    assert audit(chunked.store, chunked.vkey, chunk=2048, jobs=1) == small
    assert small.size > 16 and small.vins == 2 and small.signatures == small.size


def test_chunk_size_must_be_a_power_of_two(chunked):
    with pytest.raises(ValueError, match="power of two"):
        audit(chunked.store, chunked.vkey, chunk=3)


def test_changed_node_above_a_chunk(chunked):
    with chunked.store.writer.begin() as s:
        h = s.execute(select(NodeRow.hash).where(NodeRow.level == 3, NodeRow.n == 1)).scalar_one()
        s.execute(
            update(NodeRow)
            .where(NodeRow.level == 3, NodeRow.n == 1)
            .values(hash=bytes([h[0] ^ 1]) + h[1:])
        )
    with pytest.raises(AuditError, match=r"level 3 index 1\b"):
        chunked.audit()


def test_missing_node(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(delete(NodeRow).where(NodeRow.level == 2, NodeRow.n == 2))
    with pytest.raises(AuditError, match=r"tree node \(2, 2\) is missing"):
        chunked.audit()


def test_missing_entry(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(delete(EntryRow).where(EntryRow.idx == 7))
    with pytest.raises(AuditError, match="entry 7 is missing"):
        chunked.audit()


def test_missing_last_entries(chunked):
    with chunked.store.writer.begin() as s:
        last = s.execute(select(EntryRow.idx).order_by(EntryRow.idx.desc())).scalars().first()
        s.execute(delete(EntryRow).where(EntryRow.idx == last))
    with pytest.raises(AuditError, match=f"entry {last} is missing"):
        chunked.audit()


def test_changed_digest_column(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(update(EntryRow).where(EntryRow.idx == 9).values(digest=bytes(32)))
    with pytest.raises(AuditError, match="entry 9: stored envelope digest is wrong"):
        chunked.audit()


@pytest.mark.parametrize(
    ("column", "value"), [("vin", "X" * 17), ("vin_seq", 99), ("kind", "sale"), ("actor_id", "x")]
)
def test_changed_row_column(chunked, column, value):
    with chunked.store.writer.begin() as s:
        row = s.get(EntryRow, 10)
        setattr(row, column, value)
    with pytest.raises(AuditError, match="entry 10: the row's columns disagree"):
        chunked.audit()


def test_unpadded_base64_takes_the_reference_digest(ledger):
    """An envelope whose payload has no base64 padding (which DSSE allows) is stored
    verbatim; the fast decoder refuses it, and ``dsse``'s own digest must agree."""
    inspector = onboard(ledger, "acme", "inspector")
    for km in range(48_000, 48_010):
        env = json.loads(inspector.envelope(inspection(vin=VIN, km=km)))
        if env["payload"].endswith("="):
            break
    else:
        pytest.fail("no payload with padding among ten odometer readings")
    env["payload"] = env["payload"].rstrip("=")
    [outcome] = ledger.submit_now([json.dumps(env).encode()])
    assert getattr(outcome, "created", False), outcome
    with ledger.store.reader() as s:
        assert f'"payload":"{env["payload"]}"'.encode() in s.get(EntryRow, outcome.index).data
    audit(ledger.store, ledger.vkey)
    with ledger.store.writer.begin() as s:
        s.execute(update(EntryRow).where(EntryRow.idx == outcome.index).values(digest=bytes(32)))
    with pytest.raises(AuditError, match=f"entry {outcome.index}: stored envelope digest"):
        audit(ledger.store, ledger.vkey)


def test_gap_of_several_entries(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(delete(EntryRow).where(EntryRow.idx.in_([5, 6, 7])))
    with pytest.raises(AuditError, match="entries 5–7 are missing"):
        chunked.audit()


def test_kind_the_signers_role_may_not_sign(ledger, monkeypatch):
    """A log holding what the server must refuse (here, a workshop's inspection) fails
    the audit at that entry, however it got in."""
    workshop = onboard(ledger, "quickfix", "workshop")
    for module in (service_checks, trust):
        monkeypatch.setattr(module, "check_role_may_submit", lambda role, kind: None)
    [outcome] = ledger.submit_now([workshop.envelope(inspection())])
    assert getattr(outcome, "created", False), outcome
    audit(ledger.store, ledger.vkey, signatures=False)  # roles are checked with signatures
    with pytest.raises(AuditError, match=rf"entry {outcome.index}: a workshop may not sign"):
        audit(ledger.store, ledger.vkey)


def test_trust_entry_signed_by_a_non_operator(ledger, monkeypatch):
    registry = onboard(ledger, "dmv", "registry")
    for module in (service_checks, trust):
        monkeypatch.setattr(module, "check_role_may_submit", lambda role, kind: None)
    record = {
        "kind": "actor",
        "actor_id": "shadow",
        "name": "Shadow",
        "role": "inspector",
        "occurred_at": "2026-05-04T09:30:00Z",
    }
    [outcome] = ledger.submit_now([registry.envelope(record)])
    assert getattr(outcome, "created", False), outcome
    with pytest.raises(AuditError, match=rf"entry {outcome.index}: a registry may not sign"):
        audit(ledger.store, ledger.vkey, signatures=False)


@given(
    payload=st.binary(max_size=300),
    payload_type=st.text(min_size=1, max_size=40),
    sigs=st.lists(
        st.tuples(st.text(max_size=20), st.binary(min_size=1, max_size=70)),
        min_size=1,
        max_size=3,
    ),
    style=st.sampled_from(["padded", "unpadded", "urlsafe"]),
)
def test_fast_envelope_digest_is_the_reference_digest(payload, payload_type, sigs, style):
    """The audit's envelope digest equals ``dsse.envelope_digest`` for every envelope
    either can read: any payload type, several signatures in any order, any base64."""
    from core import dsse
    from ledger.audit_chunks import envelope_digest

    def b64(raw: bytes) -> str:
        text = (base64.urlsafe_b64encode if style == "urlsafe" else base64.b64encode)(raw)
        return (text.rstrip(b"=") if style == "unpadded" else text).decode()

    env = dsse.Envelope(
        payload=b64(payload),
        payload_type=payload_type,
        signatures=[dsse.Signature(keyid=k, sig=b64(sig)) for k, sig in sigs],
    )
    # The signer's signatures only; for a signer with none (the signature checks fail
    # that entry), every signature.
    for signer, keyid in [(k, k) for k, _ in sigs] + [("no-such-key", None)]:
        try:
            want = dsse.envelope_digest(env, keyid)
        except VinledgerError:
            with pytest.raises(AuditError, match="entry 3: "):
                envelope_digest(env, signer, 3)
        else:
            assert envelope_digest(env, signer, 3) == want


def test_a_changed_keys_row_is_named_not_the_entries_it_signed(chunked):
    """Workers check signatures with the stored key; when that fails because the keys
    table lost or changed a key, the audit names the table row, not an innocent entry."""
    from ledger.schema import KeyRow

    with chunked.store.writer.begin() as s:
        key = s.execute(select(KeyRow).where(KeyRow.actor_id == "acme")).scalar_one()
        keyid, raw = key.key_id, key.public_key
        s.execute(update(KeyRow).where(KeyRow.key_id == keyid).values(public_key=bytes(32)))
    with pytest.raises(
        AuditError, match=rf"keys table holds another public key for key {keyid[:16]}"
    ):
        chunked.audit()
    with chunked.store.writer.begin() as s:
        s.execute(delete(KeyRow).where(KeyRow.key_id == keyid))
    with pytest.raises(AuditError, match=rf"keys table lacks key {keyid[:16]}"):
        chunked.audit()
    assert raw


def test_a_changed_genesis_grant_is_named(chunked):
    with chunked.store.writer.begin() as s:
        row = s.get(EntryRow, 1)
        row.data = row.data.replace(b'"key_grant"', b'"key_grunt"', 1)
    with pytest.raises(AuditError, match=r"^entry 1: stored leaf hash") as err:
        chunked.audit()
    assert err.value.index == 1


def test_a_column_of_the_wrong_type_names_its_chunk(sqlite_ledger):
    """SQLite keeps text in a BLOB column (PostgreSQL's typed columns cannot)."""
    seed_two_vehicles(sqlite_ledger, days=6)
    with sqlite_ledger.store.writer.begin() as s:
        s.execute(text("UPDATE entries SET data = 'not bytes' WHERE idx = 6"))
    for jobs in (1, 2):
        with pytest.raises(AuditError, match="entries 4–7: a stored row cannot be read"):
            audit(sqlite_ledger.store, sqlite_ledger.vkey, chunk=4, jobs=jobs)
    with sqlite_ledger.store.writer.begin() as s:  # entry 1 holds the operator's key
        s.execute(text("UPDATE entries SET data = 'not bytes' WHERE idx = 1"))
    with pytest.raises(AuditError, match="entries 0–3: a stored row cannot be read"):
        audit(sqlite_ledger.store, sqlite_ledger.vkey, chunk=4)


def test_a_changed_trust_table_row_is_named(chunked):
    from ledger.schema import ActorRow

    with chunked.store.writer.begin() as s:
        s.get(ActorRow, "acme").name = "Acme Renamed"
    with pytest.raises(AuditError, match=r"actors table differs .*: row 'acme' is not as its"):
        chunked.audit()
    with chunked.store.writer.begin() as s:
        s.get(ActorRow, "acme").name = "Acme"
        s.add(ActorRow(actor_id="ghost", name="Ghost", role="operator", upline=None, idx=0))
    with pytest.raises(AuditError, match="row 'ghost' has no entry in the log"):
        chunked.audit()
