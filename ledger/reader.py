"""Everything the read API serves from storage: checkpoints, tiles, entry bundles,
inclusion and consistency proofs, and offline receipts.

Stored perfect-subtree hashes never change once written, so every answer for a tree
size the log has reached stays valid as the log grows; a proof costs one batch read
of O(log n) nodes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.orm import Session

from core.errors import InvalidInput, NotFound
from ledger import merkle
from ledger.checkpoint import format_tlog_proof
from ledger.storage import (
    NodeCache,
    Store,
    entry_by_index,
    latest_checkpoint,
    log_size,
    read_entries,
    read_node_range,
    read_nodes,
)
from ledger.tiles import TILE_HEIGHT, TILE_WIDTH, TilePath, encode_entry_bundle

# The largest index a database integer column holds: no log reaches it, and a node
# coordinate beyond it cannot even be looked up.
MAX_SIZE = 2**63 - 1


def inclusion_proofs(
    s,
    indexes: Iterable[int],
    size: int,
    known: dict[tuple[int, int], bytes] | None = None,
    cache: NodeCache | None = None,
    also: Sequence[tuple[int, int]] = (),
) -> dict[int, list[bytes]]:
    """Inclusion proofs of ``indexes`` in the tree of ``size``, reading each node once.

    ``known`` holds nodes the caller already has (the sequencer passes what its batch
    has in memory when it proves entries that were already in the log). Whatever
    else the proofs need is read in one go, through ``cache`` if given, with the
    nodes ``also`` (which must exist too); KeyError names a missing node.
    """
    known = known or {}
    fetch = read_nodes if cache is None else cache.read
    unread = list(also)

    def read(coords):
        missing = [c for c in dict.fromkeys([*unread, *coords]) if c not in known]
        unread.clear()
        found = dict(zip(missing, fetch(s, missing), strict=True)) if missing else {}
        return [known[c] if c in known else found[c] for c in coords]

    proofs = merkle.inclusion_proofs(sorted(set(indexes)), size, read)
    if unread:  # the proofs needed no stored node (a tree of one leaf)
        read([])
    return proofs


class LogReader:
    def __init__(self, store: Store):
        self.store = store

    def _size(self, s: Session) -> int:
        return log_size(s)

    def checkpoint(self) -> str:
        with self.store.reader() as s:
            row = latest_checkpoint(s)
            if row is None:
                raise NotFound("the log has no checkpoint yet; run `vinledger init`")
            return row.note

    def tile(self, path: TilePath) -> bytes:
        """A hash tile or entry bundle; 404 until the log has that many leaves."""
        if (path.index + 1) * TILE_WIDTH > MAX_SIZE:  # no log grows that far
            raise NotFound(f"tile {path.path} lies beyond any log")
        with self.store.reader() as s:
            if path.level is None:
                start = path.index * TILE_WIDTH
                data = read_entries(s, start, start + path.width)
                if len(data) < path.width:
                    raise NotFound(f"entry bundle {path.index} has only {len(data)} entries yet")
                return encode_entry_bundle(data)
            start = path.index * TILE_WIDTH
            hashes = read_node_range(s, path.level * TILE_HEIGHT, start, start + path.width)
            if len(hashes) < path.width:
                raise NotFound(f"tile {path.level}/{path.index} has only {len(hashes)} hashes yet")
            return b"".join(hashes)

    def _check_size(self, s: Session, size: int) -> None:
        current = self._size(s)
        if size > current:
            raise InvalidInput(f"size {size} is larger than the log ({current} entries)")

    def inclusion(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise InvalidInput(
                f"index must satisfy 0 <= index < size; got index={index}, size={size}"
            )
        if size > MAX_SIZE:
            raise InvalidInput(f"size {size} is larger than the log")
        # A plain connection, no ORM session: this is the hot path of the read API. No
        # size query either: the tree's last leaf is read with the proof's nodes (a
        # proof alone may not need it), and a tree larger than the log lacks it.
        with self.store.read_engine.connect() as c:
            try:
                cache = self.store.node_cache
                proofs = inclusion_proofs(c, [index], size, cache=cache, also=[(0, size - 1)])
                return proofs[index]
            except KeyError:
                raise InvalidInput(
                    f"size {size} is larger than the log ({log_size(c)} entries)"
                ) from None

    def consistency(self, first: int, second: int) -> list[bytes]:
        if not 0 < first <= second:
            raise InvalidInput(
                f"need 0 < first <= second; got first={first}, second={second} "
                "(a proof from the empty tree proves nothing)"
            )
        with self.store.reader() as s:
            self._check_size(s, second)
            cache = self.store.node_cache
            return merkle.consistency_proof(first, second, lambda cs: cache.read(s, cs))

    def receipt(self, index: int) -> str:
        """A C2SP tlog-proof for entry ``index`` against the latest checkpoint."""
        with self.store.reader() as s:
            row = latest_checkpoint(s)
            if row is None or index >= row.size or index < 0 or entry_by_index(s, index) is None:
                raise NotFound(f"entry {index} is not in the log")
            proof = inclusion_proofs(s, [index], row.size, cache=self.store.node_cache)[index]
            return format_tlog_proof(index, proof, row.note)
