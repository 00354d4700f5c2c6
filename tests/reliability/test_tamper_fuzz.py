"""Any single changed byte in storage: ``audit`` fails and names the place; a bundle
that carries the changed data fails ``verify``. Hypothesis chooses the byte."""

from __future__ import annotations

import re
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from core.errors import AuditError
from ledger.audit import audit
from ledger.bundle import build_bundle
from ledger.schema import CheckpointRow, EntryRow, NodeRow
from ledger.storage import Store
from ledger.verify import verify_bundle
from tests.conftest import VIN, inspection, make_ledger, seed_two_vehicles

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A small log on SQLite: two vehicles, two partners, several checkpoints."""
    tmp = tmp_path_factory.mktemp("seeded")
    ledger = make_ledger(tmp / "data", f"sqlite:///{tmp / 'ledger.db'}")
    _, inspector = seed_two_vehicles(ledger, days=4)
    ledger.submit_now([inspector.envelope(inspection(km=50_000, day=9))])
    audit(ledger.store, ledger.vkey)
    vkey = ledger.vkey
    ledger.close()
    with Store(f"sqlite:///{tmp / 'ledger.db'}").reader() as s:
        entries = [(r.idx, len(r.data), r.vin) for r in s.scalars(select(EntryRow))]
        nodes = [(lv, n) for lv, n in s.execute(select(NodeRow.level, NodeRow.n))]
        cps = [(r.size, len(r.note)) for r in s.scalars(select(CheckpointRow))]
    return tmp / "ledger.db", vkey, entries, nodes, cps


@st.composite
def tampering(draw, entries, nodes, cps):
    what = draw(st.sampled_from(["entry", "leaf", "node", "checkpoint"]))
    if what in ("entry", "leaf"):
        idx, length, vin = draw(st.sampled_from(entries))
        at = draw(st.integers(0, (length if what == "entry" else 32) - 1))
        return what, idx, at, draw(st.integers(1, 255)), vin
    if what == "node":
        return (
            what,
            draw(st.sampled_from(nodes)),
            draw(st.integers(0, 31)),
            draw(st.integers(1, 255)),
            None,
        )
    size, length = draw(st.sampled_from(cps))
    return what, size, draw(st.integers(0, length - 1)), draw(st.integers(0, 63)), None


def flip(data: bytes, at: int, mask: int) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


def apply(store: Store, change) -> str:
    """Make the change; returns the words audit must name it with."""
    what, key, at, mask, _ = change
    with store.writer.begin() as s:
        if what == "entry":
            row = s.get(EntryRow, key)
            row.data = flip(row.data, at, mask)
            return f"entry {key}"
        if what == "leaf":
            row = s.get(EntryRow, key)
            row.leaf_hash = flip(row.leaf_hash, at, mask)
            return f"entry {key}"
        if what == "node":
            level, n = key
            h = s.execute(select(NodeRow.hash).where(NodeRow.level == level, NodeRow.n == n))
            new = flip(h.scalar_one(), at, mask)
            s.execute(
                update(NodeRow).where(NodeRow.level == level, NodeRow.n == n).values(hash=new)
            )
            return f"level {level} index {n}"
        row = s.get(CheckpointRow, key)
        old = row.note[at]
        new = B64[mask] if B64[mask] != old else B64[(mask + 1) % 64]
        row.note = row.note[:at] + new + row.note[at + 1 :]
        return f"checkpoint {key}"


def test_every_single_change_is_named(seeded, tmp_path):
    db, vkey, entries, nodes, cps = seeded

    @settings(
        max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
    )
    @given(change=tampering(entries, nodes, cps))
    def check(change):
        copy = tmp_path / "copy.db"
        shutil.copyfile(db, copy)
        store = Store(f"sqlite:///{copy}")
        try:
            place = apply(store, change)
            with pytest.raises(AuditError) as err:
                audit(store, vkey)
            assert re.search(rf"\b{place}\b", str(err.value)), (change, str(err.value))
            what, key, _, _, vin = change
            latest = max(size for size, _ in cps)
            # A bundle carries entry bytes and the latest checkpoint (a stored leaf hash
            # column is redundant with the bytes, and a node off the VIN's proof paths is
            # not in its bundle): when the change is in what the bundle carries, it fails.
            if (what == "entry" and vin is not None) or (what == "checkpoint" and key == latest):
                report = verify_bundle(build_bundle(store, vin or VIN), vkey)
                assert not report.ok, change
        finally:
            store.dispose()

    check()
