"""The part of the audit that checks one chunk of the log on its own.

A chunk is an aligned run of entries (a perfect subtree of the log). Reading its rows,
the leaf hashes, decoding, the row columns and envelope digests, the chunk's own tree
nodes and, with keys, every vehicle entry's signature need nothing outside it, so
``ledger.audit`` runs ``check_chunk`` in worker processes side by side and then
links the chunks in log order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256

import msgspec

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import public_key_from_raw
from core.records import TRUST_KINDS, parse_record
from ledger.audit_refs import references_of
from ledger.entry import Entry, decode_entry, record_bytes
from ledger.storage import Store, indexes_by_digest, select_rows
from ledger.verify_trust import check_keys_once

_ENTRY_SQL = (
    "SELECT idx, leaf_hash, data, digest, kind, vin, vin_seq, keyid, actor_id"
    " FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"
)
_NODE_SQL = "SELECT n, hash FROM nodes WHERE level = ? AND n >= ? AND n < ? ORDER BY n"
_KEYS_SQL = "SELECT key_id, public_key FROM keys"


@dataclass
class Chunk:
    """What checking one chunk on its own found, for the in-order part of the audit."""

    start: int
    stop: int
    # levels[L]: the hashes of the chunk's perfect subtrees of height L, left to right
    # (level 0: the leaf hashes). Empty when the chunk failed.
    levels: list[list[bytes]] = field(default_factory=list)
    # Vehicle entries: (index, vin, vin_seq, prev leaf hash, leaf hash, keyid, actor, kind,
    # references: see ``references_of``, with signatures only).
    vehicle: list[tuple] = field(default_factory=list)
    # Trust entries (no VIN): (index, entry bytes), replayed in order.
    trust: list[tuple[int, bytes]] = field(default_factory=list)
    signatures: int = 0
    # The stored keys the chunk's signatures were checked with (None: not stored).
    keys: dict[str, bytes | None] = field(default_factory=dict)
    # The first thing wrong within the chunk: (message, index).
    error: tuple[str, int | None] | None = None


_worker: tuple[Store, bool] | None = None


def start_worker(url: str, signatures: bool) -> None:
    global _worker
    _worker = (Store(url), signatures)


def worker_chunk(start: int, stop: int) -> Chunk:
    store, signatures = _worker
    with store.reader() as s:
        # Every key that signed an entry below the main process's size is in this
        # later snapshot; the main process checks each key's validity at each index.
        return check_chunk(s, start, stop, stored_keys(s) if signatures else None)


def stored_keys(s) -> dict[str, bytes]:
    return {key_id: bytes(raw) for key_id, raw in select_rows(s, _KEYS_SQL, ())}


def check_chunk(s, start: int, stop: int, keys: dict[str, bytes] | None) -> Chunk:
    """Everything about entries ``[start, stop)`` that needs no other chunk.

    With ``keys`` (key id -> raw public key, as stored; the audit later compares the
    table with its replay), every vehicle entry's signature is verified, its payload
    checked for a key repeated in one object and its record parsed; the replay checks
    that the key was valid at that index. (Trust entries are checked in the replay.)
    """
    out = Chunk(start, stop)
    try:
        leaves = _check_entries(s, start, stop, keys, out)
        out.levels = _levels(leaves)
        _check_stored_levels(s, start, out.levels)
    except AuditError as err:
        out.error = (str(err), err.index)
        out.levels = []
    except (TypeError, ValueError, UnicodeError) as err:  # a column of the wrong type
        out.error = (f"entries {start}–{stop - 1}: a stored row cannot be read: {err}", start)
        out.levels = []
    return out


def _check_entries(s, start: int, stop: int, keys, out: Chunk) -> list[bytes]:
    rows = select_rows(s, _ENTRY_SQL, (start, stop))
    leaves = []
    for index, (idx, leaf_hash, data, digest, kind, vin, vin_seq, keyid, actor_id) in enumerate(
        rows, start
    ):
        if idx != index:
            raise AuditError(f"entry {index} is missing (next stored entry is {idx})", index=index)
        data = bytes(data)
        leaf = sha256(b"\x00" + data).digest()
        if leaf != leaf_hash:
            raise AuditError(
                f"entry {index}: stored leaf hash does not match the entry bytes", index=index
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
                f"entry {index}: the row's columns disagree with the entry bytes", index=index
            )
        if len(entry.envelope.signatures) != 1:
            try:
                dsse.check_signed_once(entry.envelope)
            except VinledgerError as err:
                raise AuditError(f"entry {index}: {err}", index=index) from None
        expected = envelope_digest(entry.envelope, signer.keyid, index)
        if digest != expected:
            # Stored under another digest, the unique index let it in: the same signed
            # record as an earlier entry, or a changed row.
            first = indexes_by_digest(s, [expected]).get(expected)
            if first is not None and first < index:
                raise AuditError(
                    f"entry {index} ({kind}): the same signed record as entry {first}; "
                    "the ledger logs a record once",
                    index=index,
                )
            raise AuditError(f"entry {index}: stored envelope digest is wrong", index=index)
        if vin is None:
            out.trust.append((index, data))
        elif kind in TRUST_KINDS:
            raise AuditError(f"entry {index}: a trust entry carries no VIN", index=index)
        else:
            prev = _prev_hash(entry, index)
            refs = None
            if keys is not None:
                out.keys[keyid] = keys.get(keyid)
                record = _check_vehicle_signature(entry, index, keys)
                refs = references_of(record, entry.sequenced_at)
                out.signatures += 1
            out.vehicle.append((index, vin, vin_seq, prev, leaf, keyid, actor_id, kind, refs))
        leaves.append(leaf)
    if len(rows) < stop - start:
        # Rows came in order and matched their indexes, so the gap runs to ``stop``.
        first = start + len(rows)
        what = f"entry {first} is" if first == stop - 1 else f"entries {first}–{stop - 1} are"
        raise AuditError(f"{what} missing", index=first)
    return leaves


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The perfect subtrees over ``leaves`` (an aligned run), level by level."""
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        level = [
            sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)
        ]
        levels.append(level)
    return levels


def _check_stored_levels(s, start: int, levels: list[list[bytes]]) -> None:
    """Compare a chunk's subtree nodes with storage: one range scan per level."""
    for level, hashes in enumerate(levels):
        check_nodes(s, level, start >> level, hashes)


def check_nodes(s, level: int, first: int, hashes: list[bytes]) -> None:
    rows = select_rows(s, _NODE_SQL, (level, first, first + len(hashes)))
    if len(rows) != len(hashes):
        have = {n for n, _ in rows}
        n = next(n for n in range(first, first + len(hashes)) if n not in have)
        raise AuditError(f"tree node {(level, n)} is missing from storage")
    if [bytes(h) for _, h in rows] != hashes:
        n = next(n for (n, h), want in zip(rows, hashes, strict=True) if h != want)
        raise AuditError(f"tree node level {level} index {n}: stored hash is wrong")


def _decode(data: bytes, index: int) -> Entry:
    try:
        entry = decode_entry(data)
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if entry.index != index:
        raise AuditError(f"entry {index} says its index is {entry.index}", index=index)
    return entry


def _prev_hash(entry: Entry, index: int) -> bytes | None:
    try:
        return entry.prev_hash
    except ValueError:
        raise AuditError(f"entry {index}: prev is not base64", index=index) from None


def envelope_digest(env: dsse.Envelope, keyid: str, index: int) -> bytes:
    """``dsse.envelope_digest``, with a faster base64 decoder where it gives the same bytes.

    ``dsse`` checks base64 text with a regular expression, which took most of the
    audit's time. msgspec's decoder accepts only padded standard base64, on which
    both give the same bytes; any other text (URL-safe, unpadded or not base64 at
    all) is left to ``dsse`` itself, so the digest is the same as the sequencer's.
    PAE's header and the payload are hashed one after the other, not copied together.
    """
    signatures = env.signatures
    if len(signatures) == 1:
        if signatures[0].keyid != keyid:
            keyid = None  # the signature checks name that fault; every signature counts
    elif not any(s.keyid == keyid for s in signatures):
        keyid = None
    try:
        payload = msgspec.convert(env.payload, bytes)
        kind = env.payload_type.encode("utf-8")
        if len(signatures) == 1:  # nearly every entry: its signer's one signature
            only = signatures[0]  # (another key's: the signature checks name that)
            sigs = [(only.keyid.encode("utf-8"), msgspec.convert(only.sig, bytes))]
        else:
            sigs = sorted(
                {
                    (s.keyid.encode("utf-8"), msgspec.convert(s.sig, bytes))
                    for s in signatures
                    if keyid is None or s.keyid == keyid
                }
            )
    except (msgspec.ValidationError, ValueError):
        try:
            return dsse.envelope_digest(env, keyid)
        except VinledgerError as err:
            raise AuditError(f"entry {index}: {err}", index=index) from None
    h = sha256(b"DSSEv1 %d %b %d " % (len(kind), kind, len(payload)))
    h.update(payload)
    for keyid, sig in sigs:
        h.update(keyid + b"\x00" + sig)
    return h.digest()


def _check_vehicle_signature(entry: Entry, index: int, keys: dict[str, bytes]):
    raw = keys.get(entry.signer.keyid)
    if raw is None:
        raise AuditError(f"entry {index}: signed with a key not valid at that index", index=index)
    try:
        dsse.verify_envelope(entry.envelope, public_key_from_raw(raw))
        check_keys_once(entry.envelope)  # the payload is decoded already (dsse's cache)
        record = parse_record(record_bytes(entry))
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if record.kind != entry.kind or getattr(record, "vin", None) != entry.vin:
        raise AuditError(
            f"entry {index}: the signed record's kind or VIN differs from the entry's",
            index=index,
        )
    return record
