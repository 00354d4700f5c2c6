"""The part of the audit that checks one chunk of the log on its own.

A chunk is an aligned run of entries (a perfect subtree of the log). Reading its rows,
the leaf hashes, decoding, the row columns and envelope digests, the chunk's own tree
nodes and, with keys, every vehicle entry's signature need nothing outside it, so
``ledger.audit`` runs ``check_chunk`` in worker processes side by side and then
links the chunks in log order.
"""

from __future__ import annotations

import contextlib
from binascii import a2b_base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import msgspec

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import public_key_from_raw
from core.records import TRUST_KINDS, parse_record
from ledger.audit_refs import references_of
from ledger.entry import FORMAT_VERSION, Entry, decode_entry, record_bytes
from ledger.storage import Store, indexes_by_digest, select_rows, stream_driver_rows
from ledger.verify_trust import check_keys_once

_ENTRY_SQL = (
    "SELECT idx, leaf_hash, data, digest, kind, vin, vin_seq, keyid, actor_id"
    " FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx"
)
_NODE_SQL = "SELECT n, hash FROM nodes WHERE level = ? AND n >= ? AND n < ? ORDER BY n"
# How many rows a run of stored nodes has, at how many indexes, and how many equal
# the hashes given as one string of 32-byte hashes (the first at ``n = ?``): compared
# by the database, so no row is fetched. All three must be the run's length: a row
# stored twice (the primary key dropped) must not stand in for a wrong or missing one.
_SAME_SQL = (
    "SELECT count(*), count(DISTINCT n),"
    " count(CASE WHEN hash = substr(?, CAST((n - ?) * 32 + 1 AS INTEGER), 32) THEN 1 END)"
    " FROM nodes WHERE level = ? AND n >= ? AND n < ?"
)
_KEYS_SQL = "SELECT key_id, public_key FROM keys"


@dataclass
class Chunk:
    """What checking one chunk on its own found, for the in-order part of the audit."""

    start: int
    stop: int
    # levels[L]: the hashes of the chunk's perfect subtrees of height L, left to right,
    # as one string of 32-byte hashes (level 0: the leaf hashes). A worker sends the
    # chunk back pickled: with 4,095 hashes and nine-field facts, pickling took a worker
    # about 2.4 µs an entry and unpickling the main process 0.8; with a string a level
    # and five-field facts, 1.1 and 0.45. Empty when the chunk failed.
    levels: list[bytes] = field(default_factory=list)
    # Vehicle entries: (index, vin, vin_seq, prev leaf hash, leaf hash); with signatures
    # also keyid, actor, kind and the references (see ``references_of``).
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
        if store.is_sqlite:
            map_pages(s)
        # Every key that signed an entry below the main process's size is in this
        # later snapshot; the main process checks each key's validity at each index.
        return check_chunk(s, start, stop, stored_keys(s) if signatures else None)


# SQLite reads the pages of a chunk's rows through a memory map rather than with a
# read() call each: about a quarter less CPU to read the rows (20k entries of 2 KB:
# about 70 against 95 ms). Up to ``MMAP_SIZE`` (SQLite caps it, often at 2 GiB);
# pages past it are read as without. It changes how pages are read, never what.
MMAP_SIZE = 1 << 31


def map_pages(s, size: int = MMAP_SIZE) -> int:
    """Set SQLite's ``mmap_size`` on the session's connection; return what it was."""
    conn = s.connection()
    before = conn.exec_driver_sql("PRAGMA mmap_size").scalar()
    if before != size:
        conn.exec_driver_sql(f"PRAGMA mmap_size={int(size)}")
    return before


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
        levels = [b"".join(level) for level in _levels(leaves)]
        _check_stored_levels(s, start, levels)
        out.levels = levels
    except AuditError as err:
        out.error = (str(err), err.index)
        out.levels = []
    except (TypeError, ValueError, UnicodeError) as err:  # a column of the wrong type
        out.error = (f"entries {start}–{stop - 1}: a stored row cannot be read: {err}", start)
        out.levels = []
    return out


# ``ledger.entry.Entry`` with the envelope's base64 text (payload, sig) declared as
# bytes, so that msgspec decodes it while it parses the entry: its base64 decoder is the
# one ``envelope_digest`` calls (``msgspec.convert``), which accepts padded standard
# base64 only, where ``dsse`` gives the same bytes. Any entry this accepts, ``Entry``
# accepts the same; whatever it refuses (other base64, a damaged entry) is checked on
# the reference path, which names the fault. tests/ledger/test_audit_fastpaths_more.py
# holds the two structs to the same fields.
class _FastSignature(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    keyid: str
    sig: bytes


class _FastEnvelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    payload: bytes
    payload_type: str = msgspec.field(name="payloadType")
    signatures: list[_FastSignature]


class _FastSigner(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    keyid: str
    actor_id: str


class _FastEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True, gc=False):
    v: int
    index: int
    kind: str
    vin: str | None
    vin_seq: int | None
    prev: str | None
    sequenced_at: str
    signer: _FastSigner
    envelope: _FastEnvelope
    derived: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


_fast_decode = msgspec.json.Decoder(_FastEntry).decode
_LEAF = sha256(b"\x00")  # copied for each leaf hash


def _stream_rows(s, sql: str, params: tuple) -> Iterator[tuple]:
    """``select_rows``, one row at a time on SQLite's cursor (elsewhere: ``select_rows``).

    A chunk's rows all at once are 4 MB of entry bytes, which the C library gives back
    to the system when they are freed and takes again, page by page, for the next
    chunk: about 9,000 page faults per 20k entries, half the cost of reading them
    (58 against 31 ms). Row by row, each entry's memory is reused by the next.
    """
    conn = s.connection()
    if conn.dialect.paramstyle != "qmark":
        yield from select_rows(s, sql, params)
        return
    yield from stream_driver_rows(conn, sql, params)


class _PaeParts:
    """The constant parts of an envelope digest as last encoded: (payload type, key
    id, PAE's head for the type, the key id with its 0x00). Consecutive entries nearly
    always share them, and comparing two strings costs less than encoding them again.
    One tuple, replaced whole: threads sharing it never pair one entry's head with
    another's key id."""

    memo: tuple[str, str, bytes, bytes] = ("", "", b"", b"")


_pae = _PaeParts()


def _signed_once_digest(env: _FastEnvelope) -> bytes | None:
    """``dsse.envelope_digest`` of an envelope signed once, its base64 decoded already:
    PAE, then the signature's keyid, 0x00 and sig. None: text that is not UTF-8 (the
    reference path names it)."""
    only = env.signatures[0]
    payload = env.payload
    payload_type, keyid, head, kid = _pae.memo
    if env.payload_type != payload_type or only.keyid != keyid:
        try:
            ptype, kid = env.payload_type.encode("utf-8"), only.keyid.encode("utf-8")
        except UnicodeError:
            return None
        head, kid = b"DSSEv1 %d %b " % (len(ptype), ptype), kid + b"\x00"
        _pae.memo = (env.payload_type, only.keyid, head, kid)
    # One buffer hashed at once: fewer calls than hashing the pieces one by one.
    pae = b"%b%d %b%b%b" % (head, len(payload), payload, kid, only.sig)
    return sha256(pae).digest()


def _check_entries(s, start: int, stop: int, keys, out: Chunk) -> list[bytes]:
    leaves: list[bytes] = []
    index = start - 1
    # Closed however this ends, so no statement is left open on the connection.
    with contextlib.closing(_stream_rows(s, _ENTRY_SQL, (start, stop))) as rows:
        index = _check_rows(s, rows, index, keys, out, leaves)
    if index + 1 < stop:
        # Rows came in order and matched their indexes, so the gap runs to ``stop``.
        first = index + 1
        what = f"entry {first} is" if first == stop - 1 else f"entries {first}–{stop - 1} are"
        raise AuditError(f"{what} missing", index=first)
    return leaves


def _check_rows(s, rows, index: int, keys, out: Chunk, leaves: list[bytes]) -> int:
    """Check each row in turn (the one before: ``index``); the last row's index."""
    add_leaf = leaves.append
    vehicle, trust = out.vehicle, out.trust
    for idx, leaf_hash, data, digest, kind, vin, vin_seq, keyid, actor_id in rows:
        index += 1
        if idx != index:
            raise AuditError(f"entry {index} is missing (next stored entry is {idx})", index=index)
        data = bytes(data)
        h = _LEAF.copy()  # the 0x00 prefix hashed already: no copy of the entry bytes
        h.update(data)
        leaf = h.digest()
        if leaf != leaf_hash:
            raise AuditError(
                f"entry {index}: stored leaf hash does not match the entry bytes", index=index
            )
        # Nearly every entry: decoded once, signed once, its base64 decoded in the parse.
        expected = entry = None
        try:
            fast = _fast_decode(data)
        except (msgspec.DecodeError, UnicodeDecodeError):
            fast = None
        if (
            fast is not None
            and fast.v == FORMAT_VERSION
            and fast.index == index
            and len(fast.envelope.signatures) == 1
        ):
            signer = fast.signer
            if (
                vin != fast.vin
                or vin_seq != fast.vin_seq
                or kind != fast.kind
                or keyid != signer.keyid
                or actor_id != signer.actor_id
            ):
                raise AuditError(
                    f"entry {index}: the row's columns disagree with the entry bytes", index=index
                )
            expected = _signed_once_digest(fast.envelope)
            prev = fast.prev
        if expected is None:
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
            prev = entry.prev
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
            trust.append((index, data))
        elif kind in TRUST_KINDS:
            raise AuditError(f"entry {index}: a trust entry carries no VIN", index=index)
        else:
            if prev is not None:
                # ``Entry.prev_hash``: ``base64.b64decode`` of the text, which is this.
                try:
                    prev = a2b_base64(prev)
                except ValueError:
                    raise AuditError(f"entry {index}: prev is not base64", index=index) from None
            if keys is None:
                vehicle.append((index, vin, vin_seq, prev, leaf))
            else:
                if entry is None:
                    entry = _decode(data, index)
                out.keys[keyid] = keys.get(keyid)
                record = _check_vehicle_signature(entry, index, keys)
                refs = references_of(record, entry.sequenced_at)
                out.signatures += 1
                vehicle.append((index, vin, vin_seq, prev, leaf, keyid, actor_id, kind, refs))
        add_leaf(leaf)
    return index


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """The perfect subtrees over ``leaves`` (an aligned run), level by level."""
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        # Pairs left to right (an odd last hash has no sibling yet: not strict); 0x01
        # and the two children formatted into one buffer, hashed in one call.
        pairs = zip(level[::2], level[1::2], strict=False)
        level = [sha256(b"\x01%b%b" % pair).digest() for pair in pairs]
        levels.append(level)
    return levels


def _check_stored_levels(s, start: int, levels: list[bytes]) -> None:
    """Compare a chunk's subtree nodes with storage: one range scan per level."""
    for level, hashes in enumerate(levels):
        check_nodes(s, level, start >> level, hashes)


def check_nodes(s, level: int, first: int, hashes: bytes) -> None:
    """The stored nodes ``first``, ``first + 1``, ... of ``level`` are ``hashes`` (32
    bytes each, one after another).

    The database compares them (nearly always all equal): no row comes back. Only when
    some differ are the rows read, to name the first node missing or wrong.
    """
    stop = first + len(hashes) // 32
    [(count, distinct, same)] = select_rows(s, _SAME_SQL, (hashes, first, level, first, stop))
    if count == distinct == same == stop - first:
        return
    stored: dict[int, list] = {}
    for n, h in select_rows(s, _NODE_SQL, (level, first, stop)):
        stored.setdefault(n, []).append(h)
    for n in range(first, stop):  # the first thing wrong, in index order
        got = stored.get(n)
        if not got:
            raise AuditError(f"tree node {(level, n)} is missing from storage")
        if len(got) > 1:
            raise AuditError(f"tree node level {level} index {n} is stored twice")
        at = (n - first) * 32
        if not isinstance(got[0], bytes | memoryview) or bytes(got[0]) != hashes[at : at + 32]:
            raise AuditError(f"tree node level {level} index {n}: stored hash is wrong")
    # The database counted a difference this reading does not show: say so, never pass.
    raise AuditError(f"tree nodes of level {level} from index {first} differ from storage")


def _decode(data: bytes, index: int) -> Entry:
    try:
        entry = decode_entry(data)
    except VinledgerError as err:
        raise AuditError(f"entry {index}: {err}", index=index) from None
    if entry.index != index:
        raise AuditError(f"entry {index} says its index is {entry.index}", index=index)
    return entry


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
