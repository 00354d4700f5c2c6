"""Change one stored byte: ``audit`` and ``verify`` must fail and say where."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.errors import AuditError
from ledger.audit import audit
from ledger.bundle import build_bundle, encode_bundle
from ledger.schema import CheckpointRow, EntryRow, NodeRow
from ledger.verify import verify_bundle_bytes
from tests.conftest import VIN, inspection, maintenance, onboard


@pytest.fixture
def seeded(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    shop = onboard(ledger, "quicklane", "workshop")
    ledger.submit_now([shop.envelope(maintenance(km=30_000 + d, day=d)) for d in range(1, 6)])
    ledger.submit_now([inspector.envelope(inspection(km=40_000 + d, day=d)) for d in range(1, 6)])
    audit(ledger.store, ledger.vkey)
    return ledger


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_changed_entry_byte(seeded):
    with seeded.store.writer.begin() as s:
        row = s.get(EntryRow, 8)
        row.data = flip(row.data, len(row.data) // 2)
    with pytest.raises(AuditError, match="entry 8"):
        audit(seeded.store, seeded.vkey)
    report = verify_bundle_bytes(encode_bundle(build_bundle(seeded.store, VIN)), seeded.vkey)
    assert not report.ok
    assert any(f.index == 8 for f in report.failures), report.failures


def test_changed_leaf_hash(seeded):
    with seeded.store.writer.begin() as s:
        row = s.get(EntryRow, 10)
        row.leaf_hash = flip(row.leaf_hash, 0)
    with pytest.raises(AuditError, match="entry 10"):
        audit(seeded.store, seeded.vkey)


def test_changed_tree_node(seeded):
    with seeded.store.writer.begin() as s:
        h = s.execute(select(NodeRow.hash).where(NodeRow.level == 1, NodeRow.n == 2)).scalar_one()
        s.execute(update(NodeRow).where(NodeRow.level == 1, NodeRow.n == 2).values(hash=flip(h, 5)))
    with pytest.raises(AuditError, match="level 1 index 2"):
        audit(seeded.store, seeded.vkey)
    # A proof through that node no longer reaches the signed root; the entries whose
    # proofs pass through it are named (and their absence then breaks the VIN chain).
    report = verify_bundle_bytes(encode_bundle(build_bundle(seeded.store, VIN)), seeded.vkey)
    assert not report.ok
    failed = [f for f in report.failures if f.check == "inclusion"]
    assert failed and all(f.index is not None for f in failed)
    assert {f.check for f in report.failures} <= {"inclusion", "chain"}


def test_changed_checkpoint(seeded):
    with seeded.store.writer.begin() as s:
        row = s.execute(select(CheckpointRow).order_by(CheckpointRow.size.desc())).scalars().first()
        size = row.size
        # Change one character of the signature line (the note's last line).
        body, sig = row.note.rstrip("\n").rsplit("\n", 1)
        sig = sig[:-4] + ("A" if sig[-4] != "A" else "B") + sig[-3:]
        row.note = f"{body}\n{sig}\n"
    with pytest.raises(AuditError, match=f"checkpoint {size}"):
        audit(seeded.store, seeded.vkey)
    report = verify_bundle_bytes(encode_bundle(build_bundle(seeded.store, VIN)), seeded.vkey)
    assert [f.check for f in report.failures] == ["checkpoint"]
