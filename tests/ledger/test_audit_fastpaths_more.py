"""The audit's faster paths (``ledger.audit_chunks``, ``ledger.audit``) against the
reference code they stand in for: the entry struct with base64 decoded in the parse,
the envelope digest of an envelope signed once, ``prev``'s base64, the VIN chain links
without signatures (in log order with the trust entries), and the SQLite memory map
the audit sets on a pooled connection and puts back."""

from __future__ import annotations

import base64
import binascii
import functools
from types import SimpleNamespace

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from core import dsse
from core.errors import AuditError, VinledgerError
from ledger import audit_chunks
from ledger.audit import _Replay, audit
from ledger.entry import Entry, decode_entry
from tests.conftest import seed_two_vehicles

# ---- the struct the audit decodes entries with --------------------------------------


def _shape(struct: type, as_bytes: dict) -> list:
    """The fields of ``struct`` and of the structs it holds: name, JSON name, default
    and type, with ``as_bytes`` (struct name -> field names) read as ``str``."""
    info = msgspec.inspect.type_info(struct)
    out = []
    for f in info.fields:
        kind = f.type
        if f.name in as_bytes.get(struct.__name__.removeprefix("_Fast"), ()):
            assert isinstance(kind, msgspec.inspect.BytesType), (struct, f.name)
            kind = msgspec.inspect.StrType()
        nested = kind.item_type if isinstance(kind, msgspec.inspect.ListType) else kind
        if isinstance(nested, msgspec.inspect.StructType):
            kind = ("struct", _shape(nested.cls, as_bytes))
            if isinstance(f.type, msgspec.inspect.ListType):
                kind = ("list", kind)
        out.append((f.name, f.encode_name, f.required, repr(f.default), repr(kind)))
    return [
        out,
        info.forbid_unknown_fields,
        info.array_like,
        struct.__struct_config__.frozen,
    ]


def test_the_fast_struct_is_entry_with_base64_as_bytes():
    """Any entry ``_FastEntry`` reads, ``Entry`` reads with the same fields: only the
    envelope's payload and signatures' sig are bytes (their base64, decoded)."""
    as_bytes = {"Envelope": ("payload",), "Signature": ("sig",)}
    assert _shape(audit_chunks._FastEntry, as_bytes) == _shape(Entry, {})


@given(
    payload=st.binary(max_size=300),
    payload_type=st.text(min_size=1, max_size=40),
    keyid=st.text(max_size=20),
    sig=st.binary(min_size=1, max_size=70),
    style=st.sampled_from(["padded", "unpadded", "urlsafe"]),
)
def test_signed_once_digest_is_the_reference_digest(payload, payload_type, keyid, sig, style):
    """Whatever base64 the fast struct reads gives ``dsse.envelope_digest``; what it
    refuses (unpadded, URL-safe) is left to the reference path."""

    def b64(raw: bytes) -> str:
        text = (base64.urlsafe_b64encode if style == "urlsafe" else base64.b64encode)(raw)
        return (text.rstrip(b"=") if style == "unpadded" else text).decode()

    env = dsse.Envelope(
        payload=b64(payload),
        payload_type=payload_type,
        signatures=[dsse.Signature(keyid=keyid, sig=b64(sig))],
    )
    raw = dsse.encode_envelope(env)
    try:
        fast = msgspec.json.decode(raw, type=audit_chunks._FastEnvelope)
    except msgspec.ValidationError:  # only text that is not padded standard base64
        assert style != "padded"
        return
    got = audit_chunks._signed_once_digest(fast)
    try:
        want = dsse.envelope_digest(env, keyid)
    except VinledgerError:
        assert got is None
    else:
        assert got == want


@given(
    st.one_of(
        st.text(max_size=60), st.binary(max_size=45).map(lambda b: base64.b64encode(b).decode())
    )
)
def test_prev_is_read_as_entry_prev_hash(prev):
    """The audit reads ``prev`` with ``binascii.a2b_base64``: what ``Entry.prev_hash``
    gives (or refuses, with ValueError)."""
    entry = msgspec.structs.replace(_an_entry(), prev=prev)
    try:
        want = entry.prev_hash
    except ValueError:
        with pytest.raises(ValueError):
            binascii.a2b_base64(prev)
    else:
        assert binascii.a2b_base64(prev) == want


@functools.cache
def _an_entry() -> Entry:
    data = (
        b'{"v":1,"index":5,"kind":"inspection","vin":"X","vin_seq":0,"prev":null,'
        b'"sequenced_at":"2026-01-01T00:00:00Z","signer":{"keyid":"k","actor_id":"a"},'
        b'"envelope":{"payload":"e30=","payloadType":"t","signatures":[{"keyid":"k","sig":"AA=="}]}}'
    )
    return decode_entry(data)


# ---- the VIN chains without signatures ----------------------------------------------


class _Trust:
    """Stands in for the trust replay: records the trust entries it is given, and
    refuses the one at ``refuse``."""

    def __init__(self, refuse: int | None = None):
        self.seen: list[int] = []
        self.refuse = refuse
        self.verified = 0

    def trust(self, index: int, data: bytes) -> None:
        self.seen.append(index)
        if index == self.refuse:
            raise AuditError(f"entry {index}: trust", index=index)


def _replay(refuse: int | None = None) -> _Replay:
    replay = _Replay.__new__(_Replay)
    replay.signatures = False
    replay.heads = {}
    replay.trust = _Trust(refuse)
    return replay


def _fact(index: int, vin: str, seq: int, prev: bytes | None) -> tuple:
    """A vehicle fact as a chunk checked without signatures holds it."""
    return (index, vin, seq, prev, bytes([index]) * 32)


def _chunk(vehicle: list[tuple], trust: list[int]) -> SimpleNamespace:
    return SimpleNamespace(
        start=0, stop=16, error=None, vehicle=vehicle, trust=[(i, b"") for i in trust], signatures=0
    )


def _add(replay: _Replay, found) -> None:
    """``_Replay.add`` up to its checkpoint checks (no storage here)."""
    with pytest.raises(_Stop):
        _Replay.add(replay, _NoStorage(), found, "vkey")


class _Stop(Exception):
    pass


class _NoStorage:
    """Any read of storage (the checkpoints, after the chains) stops the replay."""

    def __getattr__(self, name):
        raise _Stop


def test_chain_links_without_signatures():
    replay = _replay()
    good = [
        _fact(2, "A", 0, None),
        _fact(3, "B", 0, None),
        _fact(5, "A", 1, bytes([2]) * 32),
        _fact(6, "A", 2, bytes([5]) * 32),
    ]
    _add(replay, _chunk(good, [0, 1, 4]))
    assert replay.trust.seen == [0, 1, 4]
    assert replay.heads == {"A": (2, bytes([6]) * 32), "B": (0, bytes([3]) * 32)}
    for fact, why in [
        (_fact(7, "A", 2, bytes([6]) * 32), r"position 2, expected 3"),
        (_fact(7, "A", 3, bytes([5]) * 32), "prev is not the leaf hash"),
        (_fact(7, "C", 0, bytes([5]) * 32), "prev is not the leaf hash"),
        (_fact(7, "C", 1, None), r"position 1, expected 0"),
    ]:
        with pytest.raises(
            AuditError, match=rf"entry 7: VIN {fact[1]} chain link is broken \({why}"
        ):
            _add(_replay_after(replay), _chunk([fact], []))


def _replay_after(replay: _Replay) -> _Replay:
    again = _replay()
    again.heads = dict(replay.heads)
    return again


@pytest.mark.parametrize(
    ("refuse", "broken", "first"), [(4, 6, 4), (8, 6, 6), (8, 9, 8), (4, 3, 3), (1, 2, 1)]
)
def test_trust_and_chains_fail_in_log_order(refuse, broken, first):
    """Without signatures the chains are checked a run at a time between trust
    entries: the first thing wrong in log order is still the one named."""
    facts = [_fact(i, f"V{i}", 1 if i == broken else 0, None) for i in (2, 3, 5, 6, 7, 9)]
    with pytest.raises(AuditError) as err:
        _add(_replay(refuse), _chunk(facts, [0, 1, 4, 8]))
    assert err.value.index == first


# ---- a seeded log: the whole audit, fast paths and all ----------------------------------


def test_audit_puts_the_memory_map_back(sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=3)

    def mapped() -> int:
        with sqlite_ledger.store.reader() as s:
            return s.connection().exec_driver_sql("PRAGMA mmap_size").scalar()

    before = mapped()
    for jobs in (1, 2):
        audit(sqlite_ledger.store, sqlite_ledger.vkey, chunk=4, jobs=jobs)
        assert mapped() == before


def test_no_signature_audit_agrees_with_the_full_one(ledger):
    seed_two_vehicles(ledger, days=4)
    for jobs in (1, 2):
        full = audit(ledger.store, ledger.vkey, chunk=4, jobs=jobs)
        fast = audit(ledger.store, ledger.vkey, chunk=4, jobs=jobs, signatures=False)
        assert (fast.size, fast.checkpoints, fast.vins) == (full.size, full.checkpoints, full.vins)


def test_a_changed_leaf_node_is_named(ledger):
    """Level 0 of the stored tree is read as bare hashes; a wrong one is still named."""
    seed_two_vehicles(ledger, days=3)
    with ledger.store.writer.begin() as s:
        s.execute(text("UPDATE nodes SET hash = :h WHERE level = 0 AND n = 6"), {"h": bytes(32)})
    with pytest.raises(AuditError, match=r"tree node level 0 index 6: stored hash is wrong"):
        audit(ledger.store, ledger.vkey, chunk=4, signatures=False)
