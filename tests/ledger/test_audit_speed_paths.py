"""The paths of ``audit`` that read storage in chunks and range scans, and its fast
envelope digest: each kind of damage is still found and named, across chunk borders."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import delete, select, update

from core.errors import AuditError
from ledger import audit as audit_module
from ledger.audit import audit
from ledger.storage import EntryRow, NodeRow
from tests.conftest import VIN, inspection, onboard, seed_two_vehicles


@pytest.fixture
def chunked(ledger, monkeypatch):
    """Chunks of 3 entries (not a power of two), so tree nodes span chunk borders."""
    monkeypatch.setattr(audit_module, "CHUNK", 3)
    seed_two_vehicles(ledger, days=6)
    return ledger


def test_chunked_audit_agrees_with_one_chunk(chunked, monkeypatch):
    small = audit(chunked.store, chunked.vkey)
    monkeypatch.setattr(audit_module, "CHUNK", 2048)
    assert audit(chunked.store, chunked.vkey) == small
    assert small.size > 16 and small.vins == 2


def test_changed_node_above_a_chunk(chunked):
    with chunked.store.writer.begin() as s:
        h = s.execute(select(NodeRow.hash).where(NodeRow.level == 3, NodeRow.n == 1)).scalar_one()
        s.execute(
            update(NodeRow)
            .where(NodeRow.level == 3, NodeRow.n == 1)
            .values(hash=bytes([h[0] ^ 1]) + h[1:])
        )
    with pytest.raises(AuditError, match=r"level 3 index 1\b"):
        audit(chunked.store, chunked.vkey)


def test_missing_node(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(delete(NodeRow).where(NodeRow.level == 2, NodeRow.n == 2))
    with pytest.raises(AuditError, match=r"tree node \(2, 2\) is missing"):
        audit(chunked.store, chunked.vkey)


def test_missing_entry(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(delete(EntryRow).where(EntryRow.idx == 7))
    with pytest.raises(AuditError, match="entry 7 is missing"):
        audit(chunked.store, chunked.vkey)


def test_missing_last_entries(chunked):
    with chunked.store.writer.begin() as s:
        last = s.execute(select(EntryRow.idx).order_by(EntryRow.idx.desc())).scalars().first()
        s.execute(delete(EntryRow).where(EntryRow.idx == last))
    with pytest.raises(AuditError, match=f"entries {last}… are missing"):
        audit(chunked.store, chunked.vkey)


def test_changed_digest_column(chunked):
    with chunked.store.writer.begin() as s:
        s.execute(update(EntryRow).where(EntryRow.idx == 9).values(digest=bytes(32)))
    with pytest.raises(AuditError, match="entry 9: stored envelope digest is wrong"):
        audit(chunked.store, chunked.vkey)


@pytest.mark.parametrize(
    ("column", "value"), [("vin", "X" * 17), ("vin_seq", 99), ("kind", "sale"), ("actor_id", "x")]
)
def test_changed_row_column(chunked, column, value):
    with chunked.store.writer.begin() as s:
        row = s.get(EntryRow, 10)
        setattr(row, column, value)
    with pytest.raises(AuditError, match="entry 10: the row's columns disagree"):
        audit(chunked.store, chunked.vkey)


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
