"""Replay the whole log from storage and check that it is what it claims to be.

The audit trusts nothing stored except the entry bytes: it recomputes every leaf hash
and every perfect-subtree hash, checks every VIN chain link, checks that every
checkpoint is signed by the log key and that its root is the root the replay reaches
at that size (which makes all checkpoints consistent with one another), replays the
trust entries (each signed by an operator key valid at its index) and compares the
actors and keys tables with the result, and checks every DSSE signature against the
key valid at that index and the signer's role against the record's kind. It stops at
the first thing that is wrong and says where.

The log is checked in aligned chunks of ``CHUNK`` entries. Everything within a chunk
(reading its rows, leaf hashes, decoding, envelope digests, the chunk's own subtree
nodes, signatures) does not depend on any other chunk, so with ``jobs > 1`` worker
processes check chunks side by side. What runs in order, in this process, is what
links chunks: the VIN chains, the trust replay, key validity at each index, the
checkpoints and the nodes above the chunks.
"""

from __future__ import annotations

import bisect
import contextlib
import multiprocessing
import operator
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from sqlalchemy import func, select

from core.errors import AuditError, VinledgerError
from ledger import merkle
from ledger.audit_chunks import (
    Chunk,
    check_chunk,
    check_nodes,
    map_pages,
    start_worker,
    stored_keys,
    worker_chunk,
)
from ledger.audit_refs import EntryFacts, References, StoredEntries
from ledger.schema import ActorRow, CheckpointRow, EntryRow, KeyRow, LogState
from ledger.signing import open_checkpoint
from ledger.storage import Store, select_rows
from ledger.trust_replay import Genesis, TrustReplay, genesis_of

# Entries are read and checked CHUNK at a time, so memory stays bounded however long
# the log is (an entry is at most 64 KiB). A power of two: each chunk is a perfect
# subtree of the log, whose nodes it can check alone.
CHUNK = 2048

_checkpoints = CheckpointRow.__table__
_CHECKPOINTS_SQL = "SELECT size, root, note FROM checkpoints WHERE size > ? AND size <= ?"
_first = operator.itemgetter(0)


@dataclass
class AuditResult:
    size: int
    checkpoints: int
    vins: int
    signatures: int


def audit(
    store: Store,
    vkey: str,
    *,
    signatures: bool = True,
    jobs: int = 1,
    chunk: int = CHUNK,
    progress: Callable[[int, int], None] | None = None,
) -> AuditResult:
    """Check the whole log; raise ``AuditError`` naming the first thing that is wrong.

    ``jobs`` worker processes check chunks side by side (1: all in this process);
    ``chunk`` must be a power of two.
    """
    if chunk < 2 or chunk & (chunk - 1):
        raise ValueError(f"the chunk size must be a power of two; got {chunk}")
    with store.reader() as s:
        if not store.is_sqlite:  # one snapshot for the whole audit (SQLite's reads are one)
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            return _audit(store, s, vkey, signatures, jobs, chunk, progress)
        mapped = map_pages(s)  # the pooled connection's setting is put back after
        try:
            return _audit(store, s, vkey, signatures, jobs, chunk, progress)
        finally:
            with contextlib.suppress(Exception):  # never in place of what the audit raised
                map_pages(s, mapped)


def _audit(store, s, vkey, signatures, jobs, chunk, progress) -> AuditResult:
    size = s.execute(select(LogState.size)).scalar_one()
    count, last = s.execute(select(func.count(), func.max(_checkpoints.c.size))).one()
    if size and _checkpoints_in(s, size - 1, size).get(size) is None:
        raise AuditError(f"log_state: size {size} has no checkpoint")
    if (last or 0) > size:
        raise AuditError(f"checkpoint for size {last} is beyond the log's size {size}")
    _check_checkpoint(_checkpoints_in(s, -1, 0).get(0), 0, merkle.EMPTY_ROOT, vkey)
    replay = _Replay(chunk, genesis_of(_entry_bytes(s, 1)), signatures, StoredEntries(s))
    ranges = [(a, min(size, a + chunk)) for a in range(0, size, chunk)]
    for found in _checked_chunks(store, s, ranges, signatures, jobs):
        replay.add(s, found, vkey)
        if progress:
            progress(found.stop, size)
    replay.references.decided()
    _check_trust_tables(s, replay.keys, replay.actors)
    return AuditResult(
        size=size, checkpoints=count, vins=len(replay.heads), signatures=replay.trust.verified
    )


def _checked_chunks(store: Store, s, ranges, signatures: bool, jobs: int) -> Iterator[Chunk]:
    """``check_chunk`` of every range, in order: here, or in ``jobs`` worker processes."""
    database = store.url.split("?")[0]
    in_memory = database.endswith((":memory:", "sqlite://")) or "mode=memory" in store.url
    if jobs <= 1 or len(ranges) < 2 or in_memory:
        keys = stored_keys(s) if signatures else None
        for start, stop in ranges:
            yield check_chunk(s, start, stop, keys)
        return
    # Not forked from this process, whose open database connections a child would
    # share: from a fork server that has imported the audit once (spawned elsewhere).
    # This module too: each worker runs the parent's main module again as it starts,
    # and a main module that imports the audit (as the benchmark does) took 20 ms of
    # each worker's start to import it.
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([check_chunk.__module__, __name__])
    else:
        context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(
        jobs, mp_context=context, initializer=start_worker, initargs=(store.url, signatures)
    )
    done = False
    try:
        # A bounded window of chunks in flight keeps memory flat on any log size.
        window = 4 * jobs
        pending = [pool.submit(worker_chunk, *r) for r in ranges[:window]]
        for i in range(len(ranges)):
            found = pending[i].result()
            pending[i] = None
            if i + window < len(ranges):
                pending.append(pool.submit(worker_chunk, *ranges[i + window]))
            yield found
        done = True
    finally:  # also when the audit stops at a failure: drop the chunks not yet begun
        # Once every chunk is back, the workers are left to exit on their own (SQLite:
        # a PostgreSQL database may be dropped once the audit returns).
        pool.shutdown(wait=not (done and store.is_sqlite), cancel_futures=True)


class _Replay:
    """The part of the audit that runs in log order: chains, trust, checkpoints, the top."""

    def __init__(self, chunk: int, genesis: Genesis, signatures: bool, entries: EntryFacts):
        self.chunk = chunk
        self.signatures = signatures
        self.heads: dict[str, tuple[int, bytes]] = {}
        self.trust = TrustReplay(genesis)
        self.keys, self.actors = self.trust.keys, self.trust.actors
        self.references = References(self.actors, entries)
        # The tree above the chunks: each full chunk's root is one of its leaves.
        self.top = merkle.CompactRange(0, [])

    def add(self, s, found: Chunk, vkey: str) -> None:
        if found.error is not None and found.error[1] is not None and found.error[1] <= 1:
            # Entries 0 and 1 are replayed with the key entry 1 grants: a damaged entry 1
            # is reported as itself, not as a wrong signer of entry 0.
            raise AuditError(found.error[0], index=found.error[1])
        if self.signatures:
            trust = iter(found.trust)
            pending = next(trust, None)
            for fact in found.vehicle:
                while pending is not None and pending[0] < fact[0]:
                    self.trust.trust(*pending)
                    pending = next(trust, None)
                self._vehicle(*fact)
            while pending is not None:
                self.trust.trust(*pending)
                pending = next(trust, None)
        else:  # the same order: the vehicle entries before each trust entry, then it
            facts, at = found.vehicle, 0
            for pending in found.trust:
                upto = bisect.bisect_left(facts, pending[0], lo=at, key=_first)
                self._chains(facts[at:upto])
                self.trust.trust(*pending)
                at = upto
            self._chains(facts[at:] if at else facts)
        self.trust.verified += found.signatures
        if found.error is not None:
            self._check_keys_used(found)
            message, index = found.error
            raise AuditError(message, index=index)
        cps = sorted(_checkpoints_in(s, found.start, found.stop).items())
        whole = found.stop - found.start == self.chunk
        for size, row in cps:
            if size < found.stop or not whole:
                _check_checkpoint(row, size, self._root(found, size), vkey)
        if whole:
            # The chunk's root is a node at level ``height``; those it completes above
            # it are the top tree's, ``height`` levels up.
            height = self.chunk.bit_length() - 1
            for level, n, h in self.top.append(found.levels[height])[1:]:
                check_nodes(s, level + height, n, h)
            if cps and cps[-1][0] == found.stop:
                _check_checkpoint(cps[-1][1], found.stop, self.top.root(), vkey)

    def _check_keys_used(self, found: Chunk) -> None:
        """Before blaming an entry's signature: was the stored key the one its grant holds?"""
        for keyid, raw in found.keys.items():
            granted = self.keys.get(keyid)
            if granted is not None and granted[1] != raw:
                what = "lacks" if raw is None else "holds another public key for"
                raise AuditError(
                    f"keys table {what} key {keyid[:16]}…, granted at entry {granted[2]}"
                )

    def _root(self, found: Chunk, size: int) -> bytes:
        """The root at ``size`` inside the chunk: the top's right edge, then the perfect
        subtrees of the chunk up to ``size`` (all smaller than a chunk)."""
        hashes = self.top.hashes
        offset, rest = 0, size - found.start
        for level in range(rest.bit_length() - 1, -1, -1):
            if rest >> level & 1:
                at = (offset >> level) * 32
                hashes.append(found.levels[level][at : at + 32])
                offset += 1 << level
        return merkle.CompactRange(size, hashes).root()

    def _chains(self, facts: list[tuple]) -> None:
        """``_vehicle`` of each fact, without signatures (the chain links only): inline."""
        heads = self.heads
        head_of = heads.get
        for fact in facts:
            _, vin, vin_seq, prev, leaf = fact
            head = head_of(vin)
            if head is None:
                if vin_seq != 0 or prev is not None:
                    self._vehicle(*fact)  # names the broken link
            elif vin_seq != head[0] + 1 or prev != head[1]:
                self._vehicle(*fact)
            heads[vin] = (vin_seq, leaf)

    def _vehicle(
        self, index, vin, vin_seq, prev, leaf, keyid=None, actor_id=None, kind=None, refs=None
    ) -> None:
        """Check a vehicle entry's chain link; with signatures, its key at that index and
        what its record references (the facts hold those only then)."""
        if self.signatures:
            self.references.next_entry(index, kind)
        head = self.heads.get(vin)
        want_seq, want_prev = (0, None) if head is None else (head[0] + 1, head[1])
        if vin_seq != want_seq or prev != want_prev:
            why = (
                f"position {vin_seq}, expected {want_seq}"
                if vin_seq != want_seq
                else "prev is not the leaf hash of the entry before"
            )
            raise AuditError(f"entry {index}: VIN {vin} chain link is broken ({why})", index=index)
        self.heads[vin] = (want_seq, leaf)
        if self.signatures:
            self.trust.valid_key(index, keyid, actor_id, kind)
            if refs is not None:
                self.references.check(index, vin, actor_id, kind, refs)


def _checkpoints_in(s, lo: int, hi: int) -> dict[int, tuple[bytes, str]]:
    """The stored checkpoints for sizes in ``(lo, hi]``: size -> (root, note).

    Read once per chunk, on the driver's cursor: through SQLAlchemy this query took
    about 2% of an audit without signatures."""
    return {size: (root, note) for size, root, note in select_rows(s, _CHECKPOINTS_SQL, (lo, hi))}


def _entry_bytes(s, index: int) -> bytes | None:
    row = s.get(EntryRow, index)
    data = None if row is None else row.data
    # Not bytes (text in a BLOB column): the chunk check reports that row first.
    return bytes(data) if isinstance(data, bytes | bytearray | memoryview) else None


def _check_checkpoint(row: tuple[bytes, str] | None, size: int, root: bytes, vkey: str) -> None:
    if row is None:
        return
    stored_root, note = row
    try:
        cp = open_checkpoint(note, vkey)
    except VinledgerError as err:
        raise AuditError(f"checkpoint {size}: signature does not verify: {err}") from None
    if cp.size != size or cp.root != root or stored_root != root:
        raise AuditError(
            f"checkpoint {size}: its root is not the root of the log's first {size} entries"
        )


def _check_trust_tables(s, keys: dict, actors: dict) -> None:
    stored_actors = {
        r.actor_id: (r.name, r.role, r.upline, r.idx) for r in s.execute(select(ActorRow)).scalars()
    }
    if stored_actors != actors:
        which = _first_difference(stored_actors, actors)
        raise AuditError(f"actors table differs from the actor entries in the log: {which}")
    stored_keys = {
        r.key_id: [r.actor_id, r.public_key, r.granted_idx, r.revoked_idx]
        for r in s.execute(select(KeyRow)).scalars()
    }
    if stored_keys != keys:
        which = _first_difference(stored_keys, keys)
        raise AuditError(
            f"keys table differs from the key grants and revocations in the log: {which}"
        )


def _first_difference(stored: dict, replayed: dict) -> str:
    """Which row of a trust table is not what the log's entries make it, in words."""
    for key in sorted(set(stored) | set(replayed)):
        name = key[:16] + "…" if len(key) > 20 else key
        if key not in replayed:
            return f"row {name!r} has no entry in the log"
        if key not in stored:
            return f"row {name!r} is missing"
        if stored[key] != replayed[key]:
            return f"row {name!r} is not as its entries make it"
    return "no row differs"
