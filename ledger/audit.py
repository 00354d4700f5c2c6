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

from sqlalchemy import select

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import public_key_from_raw
from core.records import parse_record
from ledger import merkle
from ledger.entry import decode_entry, record_bytes
from ledger.signing import open_checkpoint
from ledger.storage import ActorRow, CheckpointRow, EntryRow, KeyRow, LogState, Store, read_nodes

CHUNK = 2048


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
        cps = {row.size: row for row in s.execute(select(CheckpointRow)).scalars()}
        if size and size not in cps:
            raise AuditError(f"log_state: size {size} has no checkpoint")
        if max(cps, default=0) > size:
            raise AuditError(f"checkpoint for size {max(cps)} is beyond the log's size {size}")
        rng = merkle.CompactRange(0, [])
        heads: dict[str, tuple[int, bytes]] = {}
        keys: dict[str, list] = {}  # key_id -> [actor_id, raw, granted, revoked]
        actors: dict[str, tuple[str, str, str | None, int]] = {}
        verified = 0
        genesis = _genesis_key(s)
        _check_checkpoint(cps.get(0), 0, rng, vkey)
        for start in range(0, size, CHUNK):
            rows = list(
                s.execute(
                    select(EntryRow)
                    .where(EntryRow.idx >= start, EntryRow.idx < min(size, start + CHUNK))
                    .order_by(EntryRow.idx)
                ).scalars()
            )
            expected_nodes: dict[tuple[int, int], bytes] = {}
            for offset, row in enumerate(rows):
                index = start + offset
                if row.idx != index:
                    raise AuditError(
                        f"entry {index} is missing (next stored entry is {row.idx})", index=index
                    )
                leaf = merkle.hash_leaf(row.data)
                if leaf != row.leaf_hash:
                    raise AuditError(
                        f"entry {index}: stored leaf hash does not match the entry bytes",
                        index=index,
                    )
                entry = _decode(row.data, index)
                _check_row_matches(row, entry, index)
                _check_chain(entry, index, leaf, heads)
                if signatures or entry.vin is None:
                    _check_signature(entry, index, keys, actors, genesis)
                    verified += 1
                for level, n, h in rng.append(leaf):
                    expected_nodes[(level, n)] = h
                _check_checkpoint(cps.get(rng.size), rng.size, rng, vkey)
            if len(rows) < min(CHUNK, size - start):
                raise AuditError(
                    f"entries {start + len(rows)}… are missing", index=start + len(rows)
                )
            _check_nodes(s, expected_nodes)
            if progress:
                progress(rng.size, size)
        _check_trust_tables(s, keys, actors)
        return AuditResult(size=size, checkpoints=len(cps), vins=len(heads), signatures=verified)


def _decode(data: bytes, index: int):
    try:
        entry = decode_entry(data)
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if entry.index != index:
        raise AuditError(f"entry {index} says its index is {entry.index}", index=index)
    return entry


def _check_row_matches(row: EntryRow, entry, index: int) -> None:
    if (row.vin, row.vin_seq, row.kind, row.keyid, row.actor_id) != (
        entry.vin,
        entry.vin_seq,
        entry.kind,
        entry.signer.keyid,
        entry.signer.actor_id,
    ):
        raise AuditError(
            f"entry {index}: the row's columns disagree with the entry bytes", index=index
        )
    if row.digest != dsse.envelope_digest(entry.envelope):
        raise AuditError(f"entry {index}: stored envelope digest is wrong", index=index)


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


def _check_nodes(s, expected: dict[tuple[int, int], bytes]) -> None:
    if not expected:
        return
    coords = sorted(expected)
    try:
        stored = read_nodes(s, coords)
    except KeyError as err:
        raise AuditError(str(err.args[0])) from None
    for c, h in zip(coords, stored, strict=True):
        if h != expected[c]:
            raise AuditError(f"tree node level {c[0]} index {c[1]}: stored hash is wrong")


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
