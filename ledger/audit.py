"""Replay the whole log from storage and check that it is what it claims to be.

The audit trusts nothing stored except the entry bytes: it recomputes every leaf hash
and every perfect-subtree hash, checks every VIN chain link, checks that every
checkpoint is signed by the log key and that its root is the root the replay reaches
at that size (which makes all checkpoints consistent with one another), replays the
trust entries and compares the actors and keys tables with the result, and checks
every DSSE signature against the key valid at that index. It stops at the first
thing that is wrong and says where.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import sha256

import msgspec
from sqlalchemy import bindparam, func, select

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import public_key_from_raw
from core.records import parse_record
from ledger import merkle
from ledger.entry import decode_entry, record_bytes
from ledger.signing import open_checkpoint
from ledger.storage import ActorRow, CheckpointRow, EntryRow, KeyRow, LogState, NodeRow, Store

# Entries are read and checked CHUNK at a time, so memory stays bounded however long
# the log is (an entry is at most 64 KiB); the tree nodes a chunk completes are then
# compared with one range scan per level.
CHUNK = 2048

_entries = EntryRow.__table__
_nodes = NodeRow.__table__
_checkpoints = CheckpointRow.__table__

# Plain Core statements, one range scan each: loading ORM objects cost more than
# everything the audit checks.
_ENTRY_RANGE = (
    select(
        _entries.c.idx,
        _entries.c.leaf_hash,
        _entries.c.data,
        _entries.c.digest,
        _entries.c.kind,
        _entries.c.vin,
        _entries.c.vin_seq,
        _entries.c.keyid,
        _entries.c.actor_id,
    )
    .where(_entries.c.idx >= bindparam("lo"), _entries.c.idx < bindparam("hi"))
    .order_by(_entries.c.idx)
)
_NODE_RANGE = (
    select(_nodes.c.n, _nodes.c.hash)
    .where(
        _nodes.c.level == bindparam("level"),
        _nodes.c.n >= bindparam("lo"),
        _nodes.c.n < bindparam("hi"),
    )
    .order_by(_nodes.c.n)
)


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
    progress: Callable[[int, int], None] | None = None,
) -> AuditResult:
    with store.reader() as s:
        size = s.execute(select(LogState.size)).scalar_one()
        count, last = s.execute(select(func.count(), func.max(_checkpoints.c.size))).one()
        if size and _checkpoints_in(s, size - 1, size).get(size) is None:
            raise AuditError(f"log_state: size {size} has no checkpoint")
        if (last or 0) > size:
            raise AuditError(f"checkpoint for size {last} is beyond the log's size {size}")
        rng = merkle.CompactRange(0, [])
        heads: dict[str, tuple[int, bytes]] = {}
        keys: dict[str, list] = {}  # key_id -> [actor_id, raw, granted, revoked]
        actors: dict[str, tuple[str, str, str | None, int]] = {}
        verified = 0
        genesis = _genesis_key(s)
        _check_checkpoint(_checkpoints_in(s, -1, 0).get(0), 0, rng, vkey)
        for start in range(0, size, CHUNK):
            stop = min(size, start + CHUNK)
            rows = s.execute(_ENTRY_RANGE, {"lo": start, "hi": stop}).all()
            cps = _checkpoints_in(s, start, stop)
            # The nodes this chunk completes, per level: the first n and the hashes.
            completed: list[tuple[int, list[bytes]]] = []
            for offset, (
                idx,
                leaf_hash,
                data,
                digest,
                kind,
                vin,
                vin_seq,
                keyid,
                actor_id,
            ) in enumerate(rows):
                index = start + offset
                if idx != index:
                    raise AuditError(
                        f"entry {index} is missing (next stored entry is {idx})", index=index
                    )
                leaf = merkle.hash_leaf(data)
                if leaf != leaf_hash:
                    raise AuditError(
                        f"entry {index}: stored leaf hash does not match the entry bytes",
                        index=index,
                    )
                entry = _decode(data, index)
                signer = entry.signer
                if (vin, vin_seq, kind, keyid, actor_id) != (
                    entry.vin,
                    entry.vin_seq,
                    entry.kind,
                    signer.keyid,
                    signer.actor_id,
                ):
                    raise AuditError(
                        f"entry {index}: the row's columns disagree with the entry bytes",
                        index=index,
                    )
                if digest != _envelope_digest(entry.envelope, index):
                    raise AuditError(f"entry {index}: stored envelope digest is wrong", index=index)
                _check_chain(entry, index, leaf, heads)
                if signatures or entry.vin is None:
                    _check_signature(entry, index, keys, actors, genesis)
                    verified += 1
                for level, n, h in rng.append(leaf):
                    # Nodes of one level complete left to right, and a level's first
                    # completion comes after every level below it has had one.
                    if level == len(completed):
                        completed.append((n, []))
                    completed[level][1].append(h)
                cp = cps.get(rng.size)
                if cp is not None:
                    _check_checkpoint(cp, rng.size, rng, vkey)
            if len(rows) < stop - start:
                raise AuditError(
                    f"entries {start + len(rows)}… are missing", index=start + len(rows)
                )
            _check_nodes(s, completed)
            if progress:
                progress(rng.size, size)
        _check_trust_tables(s, keys, actors)
        return AuditResult(size=size, checkpoints=count, vins=len(heads), signatures=verified)


def _checkpoints_in(s, lo: int, hi: int) -> dict:
    """The stored checkpoints for sizes in ``(lo, hi]``, by size."""
    rows = s.execute(
        select(_checkpoints.c.size, _checkpoints.c.root, _checkpoints.c.note).where(
            _checkpoints.c.size > lo, _checkpoints.c.size <= hi
        )
    )
    return {row.size: row for row in rows}


def _decode(data: bytes, index: int):
    try:
        entry = decode_entry(data)
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if entry.index != index:
        raise AuditError(f"entry {index} says its index is {entry.index}", index=index)
    return entry


def _envelope_digest(env: dsse.Envelope, index: int) -> bytes:
    """``dsse.envelope_digest``, with a faster base64 decoder where it gives the same bytes.

    ``dsse`` checks base64 text with a regular expression, which took most of the
    audit's time. msgspec's decoder accepts only padded standard base64, on which
    both give the same bytes; any other text (URL-safe, unpadded or not base64 at
    all) is left to ``dsse`` itself, so the digest is the same as the sequencer's.
    """
    try:
        payload = msgspec.convert(env.payload, bytes)
        sigs = sorted(
            (s.keyid.encode("utf-8"), msgspec.convert(s.sig, bytes)) for s in env.signatures
        )
        h = sha256(dsse.pae(env.payload_type, payload))
    except (msgspec.ValidationError, ValueError, VinledgerError):
        try:
            return dsse.envelope_digest(env)
        except VinledgerError as err:
            raise AuditError(f"entry {index}: {err}", index=index) from None
    for keyid, sig in sigs:
        h.update(keyid + b"\x00" + sig)
    return h.digest()


def _check_chain(entry, index: int, leaf: bytes, heads: dict[str, tuple[int, bytes]]) -> None:
    if entry.vin is None:
        return
    head = heads.get(entry.vin)
    want_seq, want_prev = (0, None) if head is None else (head[0] + 1, head[1])
    if entry.vin_seq != want_seq or entry.prev_hash != want_prev:
        raise AuditError(
            f"entry {index}: VIN {entry.vin} chain link is broken "
            f"(position {entry.vin_seq}, expected {want_seq}; prev does not match)",
            index=index,
        )
    heads[entry.vin] = (want_seq, leaf)


def _genesis_key(s) -> bytes | None:
    """The operator key granted by entry 1, which signs entries 0 and 1 themselves."""
    row = s.get(EntryRow, 1)
    if row is None:
        return None
    try:
        record = parse_record(dsse.payload_bytes(decode_entry(row.data).envelope))
    except VinledgerError:
        return None
    return base64.b64decode(record.public_key) if record.kind == "key_grant" else None


def _check_signature(entry, index: int, keys: dict, actors: dict, genesis: bytes | None) -> None:
    try:
        record = parse_record(record_bytes(entry))
        if index in (0, 1):
            if genesis is None:
                raise AuditError("entry 1 is not the operator's key grant", index=1)
            raw = genesis
        else:
            key = keys.get(entry.signer.keyid)
            if key is None or key[2] >= index or (key[3] is not None and key[3] < index):
                raise AuditError(
                    f"entry {index}: signed with a key not valid at that index", index=index
                )
            raw = key[1]
        dsse.verify_envelope(entry.envelope, public_key_from_raw(raw))
    except AuditError:
        raise
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if record.kind == "actor":
        actors[record.actor_id] = (record.name, record.role, record.upline, index)
    elif record.kind == "key_grant":
        keys[record.key_id] = [record.actor_id, base64.b64decode(record.public_key), index, None]
    elif record.kind == "key_revoke" and record.key_id in keys:
        keys[record.key_id][3] = index


def _check_checkpoint(row: CheckpointRow | None, size: int, rng, vkey: str) -> None:
    if row is None:
        return
    try:
        cp = open_checkpoint(row.note, vkey)
    except VinledgerError as err:
        raise AuditError(f"checkpoint {size}: signature does not verify: {err}") from None
    root = rng.root()
    if cp.size != size or cp.root != root or row.root != root:
        raise AuditError(
            f"checkpoint {size}: its root is not the root of the log's first {size} entries"
        )


def _check_nodes(s, completed: list[tuple[int, list[bytes]]]) -> None:
    """Compare the nodes a chunk completed with storage: one range scan per level."""
    stored = []
    for level, (first, hashes) in enumerate(completed):
        bounds = {"level": level, "lo": first, "hi": first + len(hashes)}
        rows = s.execute(_NODE_RANGE, bounds).all()
        if len(rows) != len(hashes):
            have = {n for n, _ in rows}
            n = next(n for n in range(first, first + len(hashes)) if n not in have)
            raise AuditError(f"tree node {(level, n)} is missing from storage")
        stored.append(rows)
    for level, ((_, hashes), rows) in enumerate(zip(completed, stored, strict=True)):
        if [bytes(h) for _, h in rows] != hashes:
            n = next(n for (n, h), want in zip(rows, hashes, strict=True) if h != want)
            raise AuditError(f"tree node level {level} index {n}: stored hash is wrong")


def _check_trust_tables(s, keys: dict, actors: dict) -> None:
    stored_actors = {
        r.actor_id: (r.name, r.role, r.upline, r.idx) for r in s.execute(select(ActorRow)).scalars()
    }
    if stored_actors != actors:
        raise AuditError("actors table differs from the actor entries in the log")
    stored_keys = {
        r.key_id: [r.actor_id, r.public_key, r.granted_idx, r.revoked_idx]
        for r in s.execute(select(KeyRow)).scalars()
    }
    if stored_keys != keys:
        raise AuditError("keys table differs from the key grants and revocations in the log")
