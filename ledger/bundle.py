"""Vehicle bundles: everything an offline verifier needs for one VIN.

A bundle holds the latest signed checkpoint, every entry of the VIN's chain and the
trust entries behind their signers (the genesis entries, each signer's actor and key
grant, a revocation if there is one, and the same for whoever signed those), each
with its inclusion proof in the checkpoint's tree. Entries travel as base64 of the
exact bytes that were hashed.
"""

from __future__ import annotations

import base64

import msgspec
from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from ledger.entry import decode_entry
from ledger.reader import inclusion_proofs
from ledger.storage import EntryRow, Store, entries_for_vin, get_actor, get_key, latest_checkpoint

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


def _trust_indexes(s: Session, keyids: set[str]) -> set[int]:
    """The trust entries behind ``keyids``, following each grant back to genesis."""
    found: set[int] = set(GENESIS)
    todo = list(keyids)
    seen: set[str] = set()
    while todo:
        keyid = todo.pop()
        if keyid in seen:
            continue
        seen.add(keyid)
        key = get_key(s, keyid)
        if key is None:
            continue
        actor = get_actor(s, key.actor_id)
        found.update(i for i in (key.granted_idx, key.revoked_idx, actor.idx) if i is not None)
    # The signers of the trust entries themselves (operators) must be proved as well.
    rows = [s.get(EntryRow, i) for i in sorted(found)]
    more = {r.keyid for r in rows if r is not None} - seen
    if more:
        found |= _trust_indexes(s, more)
    return found


def build_bundle(store: Store, vin: str) -> Bundle:
    with store.reader() as s:
        cp = latest_checkpoint(s)
        if cp is None:
            raise NotFound("the log has no checkpoint yet")
        rows = [r for r in entries_for_vin(s, vin) if r.idx < cp.size]
        if not rows:
            raise NotFound(f"no entries for VIN {vin} in this ledger")
        trust = sorted(i for i in _trust_indexes(s, {r.keyid for r in rows}) if i < cp.size)
        trust_rows = [s.get(EntryRow, i) for i in trust]
        proofs = inclusion_proofs(s, [r.idx for r in rows] + trust, cp.size)

        def proved(row: EntryRow) -> ProvedEntry:
            return ProvedEntry(
                index=row.idx,
                entry=base64.b64encode(row.data).decode(),
                proof=[base64.b64encode(h).decode() for h in proofs[row.idx]],
            )

        return Bundle(
            format=BUNDLE_FORMAT,
            vin=vin,
            checkpoint=cp.note,
            entries=[proved(r) for r in rows],
            trust=[proved(r) for r in trust_rows],
        )


def bundle_entries(bundle: Bundle):
    """Decoded vehicle entries of a bundle, for display (not verification)."""
    return [decode_entry(p.data) for p in bundle.entries]
