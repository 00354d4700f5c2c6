"""Vehicle bundles: everything an offline verifier needs for one VIN.

A bundle holds the latest signed checkpoint, every entry of the VIN's chain and the
trust entries behind their signers (the genesis entries, each signer's actor and key
grant, a revocation if there is one, and the same for whoever signed those), each
with its inclusion proof in the checkpoint's tree. Entries travel as base64 of the
exact bytes that were hashed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable

import msgspec
from sqlalchemy import Connection

from core.errors import InvalidInput, NotFound
from ledger import merkle
from ledger.checkpoint import b64
from ledger.entry import decode_entry
from ledger.storage import Store, select_rows

BUNDLE_FORMAT = "vinledger-bundle/1"
GENESIS = (0, 1)  # the operator's actor and its own key grant


class ProvedEntry(msgspec.Struct, forbid_unknown_fields=True):
    index: int
    entry: str  # base64 of the entry bytes
    proof: list[str]  # base64 hashes, RFC 9162 inclusion path

    @property
    def data(self) -> bytes:
        return base64.b64decode(self.entry, validate=True)


class Bundle(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    vin: str
    checkpoint: str
    entries: list[ProvedEntry]
    trust: list[ProvedEntry]


def encode_bundle(bundle: Bundle) -> bytes:
    return msgspec.json.encode(bundle)


def decode_bundle(data: bytes) -> Bundle:
    try:
        bundle = msgspec.json.decode(data, type=Bundle)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InvalidInput(f"not a vinledger bundle: {err}") from None
    if bundle.format != BUNDLE_FORMAT:
        raise InvalidInput(f"bundle format {bundle.format!r} is not {BUNDLE_FORMAT!r}")
    return bundle


# Plain queries on the driver's cursor, no ORM objects: a bundle is a dozen rows, and
# ORM rows or SQLAlchemy results for them cost more than the queries. Each entry comes
# with the trust entries behind its signer (its key's grant and revocation, its actor),
# so following signers back to genesis costs one query per level of signers. The
# reads need no common snapshot: entries, nodes and checkpoints never change, and
# anything appended after the checkpoint read is left out by its index.
_LATEST_CHECKPOINT = "SELECT size, note FROM checkpoints ORDER BY size DESC LIMIT 1"
_WITH_SIGNER = (
    "SELECT e.idx, e.data, k.granted_idx, k.revoked_idx, a.idx FROM entries e "
    "LEFT JOIN keys k ON k.key_id = e.keyid LEFT JOIN actors a ON a.actor_id = k.actor_id "
)
_VIN_ENTRIES = _WITH_SIGNER + "WHERE e.vin = ? AND e.idx < ? ORDER BY e.vin_seq"

Signed = tuple[int, bytes, set[int]]
"""An entry's index, its bytes and the indexes of the trust entries behind its signer."""


def _signed(rows: Iterable[tuple]) -> list[Signed]:
    return [(idx, bytes(data), {i for i in trust if i is not None}) for idx, data, *trust in rows]


def _trust_entries(c: Connection, signed: list[Signed]) -> dict[int, bytes]:
    """The trust entries behind the signers of ``signed``, following each grant back to
    genesis: the signers of trust entries (operators) must be proved as well."""
    found: dict[int, bytes] = {}
    wanted = set(GENESIS).union(*(trust for _, _, trust in signed))
    asked: set[int] = set()
    while todo := sorted(wanted - asked):
        asked.update(todo)
        for i in range(0, len(todo), 400):  # within every backend's parameter limit
            chunk = todo[i : i + 400]
            marks = ", ".join("?" * len(chunk))
            rows = select_rows(c, f"{_WITH_SIGNER}WHERE e.idx IN ({marks})", chunk)
            for idx, data, trust in _signed(rows):
                found[idx] = data
                wanted |= trust
    return found


def build_bundle(store: Store, vin: str) -> Bundle:
    with store.read_engine.connect() as c:
        cp = select_rows(c, _LATEST_CHECKPOINT, ())
        if not cp:
            raise NotFound("the log has no checkpoint yet")
        size, note = cp[0]
        rows = _signed(select_rows(c, _VIN_ENTRIES, (vin, size)))
        if not rows:
            raise NotFound(f"no entries for VIN {vin} in this ledger")
        found = _trust_entries(c, rows)
        entries = [(i, data) for i, data, _ in rows]
        trust = [(i, found[i]) for i in sorted(found) if i < size]
        # One batch read of every tree node the proofs need; neighbouring leaves share most.
        proofs = merkle.inclusion_proofs(
            [i for i, _ in entries + trust], size, lambda coords: store.node_cache.read(c, coords)
        )
    # Encoded once per distinct hash: the proofs share their upper levels.
    text = {h: b64(h) for h in {h for p in proofs.values() for h in p}}

    def proved(index: int, data: bytes) -> ProvedEntry:
        path = [text[h] for h in proofs[index]]
        return ProvedEntry(index=index, entry=b64(data), proof=path)

    return Bundle(
        format=BUNDLE_FORMAT,
        vin=vin,
        checkpoint=note,
        entries=[proved(i, d) for i, d in entries],
        trust=[proved(i, d) for i, d in trust],
    )


def bundle_entries(bundle: Bundle):
    """Decoded vehicle entries of a bundle, for display (not verification)."""
    return [decode_entry(p.data) for p in bundle.entries]
