"""The audit's node checks done by the database, the chunk levels sent as one string
each, the envelope digest's remembered PAE parts, the checkpoint reads on the driver's
cursor and the slim vehicle facts of an audit without signatures: each against the
reference it stands in for, and each kind of damage still named where it is."""

from __future__ import annotations

import functools
import itertools
from hashlib import sha256
from types import SimpleNamespace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from core import dsse
from core.errors import AuditError
from ledger import audit_chunks, merkle, sequencer
from ledger.audit import _Replay, audit
from ledger.schema import CheckpointRow, NodeRow
from ledger.storage import Store
from tests.conftest import VIN, inspection, onboard, seed_two_vehicles

# ---- check_nodes: the database compares, Python names -------------------------------


@pytest.fixture
def nodes_store(database_url):
    """An empty schema (SQLite and PostgreSQL) whose nodes table each example refills."""
    store = Store(database_url)
    store.create_schema()
    yield store
    store.dispose()


def _hashes(k: int, seed: int) -> list[bytes]:
    return [sha256(b"%d/%d" % (seed, i)).digest() for i in range(k)]


def _store_nodes(store: Store, level: int, first: int, stored: list[bytes | None]) -> None:
    with store.writer.begin() as s:
        s.execute(NodeRow.__table__.delete())
        rows = [
            {"level": level, "n": first + i, "hash": h}
            for i, h in enumerate(stored)
            if h is not None
        ]
        if rows:
            s.execute(NodeRow.__table__.insert(), rows)


def _check(store: Store, level: int, first: int, hashes: list[bytes]) -> None:
    with store.reader() as s:
        audit_chunks.check_nodes(s, level, first, b"".join(hashes))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    level=st.integers(0, 12),
    first=st.integers(0, 5000),
    k=st.integers(1, 40),
    damage=st.sampled_from(["none", "byte", "missing", "split", "short", "long"]),
    where=st.integers(0, 39),
    byte=st.integers(0, 31),
)
def test_check_nodes_names_the_first_wrong_node(nodes_store, level, first, k, damage, where, byte):
    """Whatever one node holds instead (a changed byte, nothing, a hash one byte short or
    long, or a hash split with its neighbour so the run's bytes read the same), the node
    is named; an intact run passes."""
    hashes = _hashes(k, first)
    stored: list[bytes | None] = list(hashes)
    j = where % k
    if damage == "split" and j == k - 1:
        damage = "long"  # the last node has no neighbour to split with
    if damage == "byte":
        h = hashes[j]
        stored[j] = h[:byte] + bytes([h[byte] ^ 0x40]) + h[byte + 1 :]
    elif damage == "missing":
        stored[j] = None
    elif damage == "split":
        stored[j], stored[j + 1] = hashes[j] + hashes[j + 1][:1], hashes[j + 1][1:]
    elif damage == "short":
        stored[j] = hashes[j][:31]
    elif damage == "long":
        stored[j] = hashes[j] + b"\x00"
    _store_nodes(nodes_store, level, first, stored)
    n = first + j
    if damage == "none":
        _check(nodes_store, level, first, hashes)
    elif damage == "missing":
        with pytest.raises(AuditError, match=rf"^tree node \({level}, {n}\) is missing"):
            _check(nodes_store, level, first, hashes)
    else:
        with pytest.raises(AuditError, match=rf"^tree node level {level} index {n}: stored hash"):
            _check(nodes_store, level, first, hashes)


def test_check_nodes_reads_only_its_run(nodes_store):
    """Nodes just outside the run, and on other levels, are no part of the comparison."""
    hashes = _hashes(8, 1)
    _store_nodes(nodes_store, 3, 10, [bytes(32), *hashes, bytes(32)])
    with nodes_store.writer.begin() as s:
        s.execute(NodeRow.__table__.insert(), [{"level": 4, "n": 11, "hash": bytes(32)}])
    _check(nodes_store, 3, 11, hashes)
    with pytest.raises(AuditError, match=r"level 3 index 10: stored hash is wrong"):
        _check(nodes_store, 3, 10, [hashes[0], *hashes])


def test_a_node_stored_as_text_is_not_its_hash(sqlite_url):
    """SQLite keeps text in a BLOB column: the same bytes as text are not the hash, and
    the node is named as wrong. ASCII hashes, so the text is valid UTF-8."""
    store = Store(sqlite_url)
    store.create_schema()
    hashes = [bytes([65 + i]) * 32 for i in range(4)]
    _store_nodes(store, 0, 0, hashes)
    with store.writer.begin() as s:
        s.execute(text("UPDATE nodes SET hash = CAST(hash AS TEXT) WHERE n = 2"))
    with pytest.raises(AuditError, match="tree node level 0 index 2: stored hash is wrong"):
        _check(store, 0, 0, hashes)
    store.dispose()


# ---- the chunk's levels as strings, and the roots inside a chunk --------------------


@given(size=st.integers(1, 80), chunk_bits=st.integers(1, 5))
def test_roots_inside_and_above_chunks_are_the_tree_roots(size, chunk_bits):
    """``_Replay._root`` reads a chunk's levels sliced from one string each: at every
    size, the root it reaches (top tree, then the chunk's perfect subtrees) is RFC 9162's."""
    leaves = [merkle.hash_leaf(b"%d" % i) for i in range(size)]
    chunk = 1 << chunk_bits
    replay = _Replay.__new__(_Replay)
    replay.chunk = chunk
    replay.top = merkle.CompactRange(0, [])
    for start in range(0, size, chunk):
        part = leaves[start : start + chunk]
        levels = [b"".join(level) for level in audit_chunks._levels(part)]
        assert levels[0] == b"".join(part)
        found = SimpleNamespace(start=start, stop=start + len(part), levels=levels)
        for at in range(start + 1, found.stop + 1):
            if at < found.stop or len(part) < chunk:
                assert replay._root(found, at) == merkle.root(leaves[:at]), at
        if len(part) == chunk:
            assert len(levels[chunk_bits]) == 32
            replay.top.append(levels[chunk_bits])
            assert replay.top.root() == merkle.root(leaves[: found.stop])


@given(st.lists(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_levels_are_the_reference_node_hashes(leaves):
    """Each level pairs the one below left to right, as ``merkle.hash_children``; an odd
    last hash waits for its sibling."""
    levels = audit_chunks._levels(leaves)
    for below, above in itertools.pairwise(levels):
        assert above == [
            merkle.hash_children(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)
        ]
    assert len(levels[-1]) == 1 or len(levels) == 1


# ---- the envelope digest's remembered PAE parts --------------------------------------


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["application/vnd.vinledger.record+json", "text/plain", "x/é"]),
            st.sampled_from(["k1", "k2", "ключ"]),
            st.binary(max_size=64),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_digests_in_a_row_with_changing_types_and_signers(envelopes):
    """The head and key id remembered from one entry are used for the next only when
    both are the same: any run of payload types and signers gives dsse's digests."""
    for payload_type, keyid, payload in envelopes:
        env = audit_chunks._FastEnvelope(
            payload=payload,
            payload_type=payload_type,
            signatures=[audit_chunks._FastSignature(keyid=keyid, sig=b"sig:" + payload[:3])],
        )
        want = dsse.envelope_digest(_reference_envelope(env), keyid)
        assert audit_chunks._signed_once_digest(env) == want


def _reference_envelope(env) -> dsse.Envelope:
    import base64

    return dsse.Envelope(
        payload=base64.b64encode(env.payload).decode(),
        payload_type=env.payload_type,
        signatures=[
            dsse.Signature(keyid=s.keyid, sig=base64.b64encode(s.sig).decode())
            for s in env.signatures
        ],
    )


# ---- whole audits: checkpoints read raw, chains from slim facts, in workers too -------


@pytest.fixture
def seeded(ledger):
    seed_two_vehicles(ledger, days=6)
    return ledger


_MODES = [
    pytest.param(dict(jobs=1, signatures=False), id="one-no-signatures"),
    pytest.param(dict(jobs=2, signatures=False), id="two-no-signatures"),
    pytest.param(dict(jobs=1, signatures=True), id="one-signatures"),
]


@pytest.mark.parametrize("mode", _MODES)
def test_a_changed_checkpoint_root_column_is_named(seeded, mode):
    """The root column, not the signed note: inside a chunk and at a chunk's end."""
    run = functools.partial(audit, seeded.store, seeded.vkey, chunk=4, **mode)
    with seeded.store.reader() as s:
        sizes = sorted(
            s.execute(select(CheckpointRow.size).where(CheckpointRow.size > 0)).scalars()
        )
    inside = next(n for n in sizes if n % 4)
    at_end = next((n for n in sizes if n % 4 == 0), None)
    for size in [inside] + ([at_end] if at_end is not None else []):
        with seeded.store.writer.begin() as s:
            row = s.get(CheckpointRow, size)
            root = row.root
            row.root = bytes([root[0] ^ 1]) + root[1:]
        with pytest.raises(AuditError, match=rf"^checkpoint {size}: its root is not the root"):
            run()
        with seeded.store.writer.begin() as s:
            s.get(CheckpointRow, size).root = root
    run()


@pytest.mark.parametrize("mode", _MODES)
def test_a_broken_chain_link_in_a_consistent_log_is_named(seeded, mode, monkeypatch):
    """An entry whose prev is not its VIN's last leaf hash, though every hash, node and
    checkpoint agrees with it (a sequencer that read the wrong head wrote it)."""
    inspector = onboard(seeded, "late-inspections", "inspector")
    real = sequencer.vin_heads

    def wrong_heads(c, vins):
        return {v: None if h is None else (h[0], bytes(32)) for v, h in real(c, vins).items()}

    monkeypatch.setattr(sequencer, "vin_heads", wrong_heads)
    [outcome] = seeded.submit_now([inspector.envelope(inspection(km=90_000, day=20))])
    assert getattr(outcome, "created", False), outcome
    monkeypatch.undo()
    with pytest.raises(AuditError) as err:
        audit(seeded.store, seeded.vkey, chunk=4, **mode)
    assert err.value.index == outcome.index
    assert str(err.value) == (
        f"entry {outcome.index}: VIN {VIN} chain link is broken "
        "(prev is not the leaf hash of the entry before)"
    )


def test_nodes_of_a_partial_last_chunk_are_checked(seeded):
    """The last chunk is not whole: its own subtrees are compared, the odd leaf alone."""
    with seeded.store.reader() as s:
        size = s.execute(text("SELECT size FROM log_state")).scalar_one()
    if size % 4 == 0:
        pytest.skip("the seeded log ends on a chunk border")
    last = size - 1
    with seeded.store.writer.begin() as s:
        s.execute(
            update(NodeRow).where(NodeRow.level == 0, NodeRow.n == last).values(hash=bytes(32))
        )
    with pytest.raises(AuditError, match=rf"^tree node level 0 index {last}: stored hash"):
        audit(seeded.store, seeded.vkey, chunk=4, signatures=False)
