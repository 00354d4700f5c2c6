"""How ``ledger.monitor.Monitor`` reads a poll's new entries: entry tiles, checked
against the log's level-0 hash tiles and against what it read of a partial tile
before, hashed into the monitor's compact range, each entry checked
(``ledger.monitor_entries.EntryChecks``) and its VIN chain and leaf hash kept.
"""

from __future__ import annotations

import sqlite3

from core.errors import VinledgerError
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor_entries import EntryChecks, MonitorAlert
from ledger.monitor_forks import Fetch
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, format_tile_path
from ledger.trust_replay import TrustReplay, genesis_of


class TileReader:
    """A mixin of ``ledger.monitor.Monitor``: it writes the monitor's ``db`` (chains,
    leaf tiles) and uses its entry checks, ``save_every`` and ``_save_progress``."""

    db: sqlite3.Connection
    save_every: int
    signatures: bool
    _checks: EntryChecks

    def _read_entries(self, fetch: Fetch, edge, start: int, cp: Checkpoint) -> set[str]:
        """Hash entries ``[start, cp.size)`` into ``edge`` and record their VIN chains."""
        vins: set[str] = set()
        unsaved = 0  # tiles read since the progress was last saved
        for tile in range(start // TILE_WIDTH, (cp.size - 1) // TILE_WIDTH + 1):
            # Saved between tiles, never between a claim and its decision.
            if unsaved >= self.save_every and not self._checks.awaiting_decision:
                self._save_progress(edge, cp.size)
                unsaved = 0
            unsaved += 1
            first = tile * TILE_WIDTH
            width = min(TILE_WIDTH, cp.size - first)
            path = "/log/tile/" + format_tile_path(None, tile, width)
            body = fetch(path)  # could not read: no alert, the next poll goes on from here
            try:
                entries = decode_entry_bundle(body)
            except VinledgerError as err:
                raise MonitorAlert(f"{path}: {err}") from None
            if len(entries) != width:
                raise MonitorAlert(f"{path} holds {len(entries)} entries, not {width}")
            leaves = [merkle.hash_leaf(data) for data in entries]
            if start > first:  # a partial tile read before, in part
                self._check_known(path, tile, leaves[: start - first], edge)
            self._check_hash_tile(fetch, tile, path, leaves)
            if self.signatures and self._checks.replay is None:  # tile 0: entry 1 is in it
                genesis = genesis_of(entries[1] if len(entries) > 1 else None)
                self._checks.replay = TrustReplay(genesis)
            heads: dict[str, tuple[int, int, bytes]] = {}  # this tile's, until its rows are in
            rows = []
            for index in range(max(start, first), first + width):
                leaf, data = leaves[index - first], entries[index - first]
                edge.append(leaf)
                entry = self._checks.entry(index, data)
                if entry.vin is not None:
                    self._checks.link(index, entry, leaf, heads)
                    rows.append((entry.vin, entry.vin_seq, index, leaf))
            self.db.executemany("INSERT INTO chains VALUES (?, ?, ?, ?)", rows)
            self.db.execute(
                "INSERT OR REPLACE INTO leaf_tiles VALUES (?, ?)", (tile, b"".join(leaves))
            )
            vins.update(heads)
        return vins

    def _check_known(self, path: str, tile: int, known: list[bytes], edge) -> None:
        """The entries of a partial tile the monitor read before must be served as they
        were: with the subtrees of the tile's start (the first of the monitor's compact
        range), they must give its compact range again."""
        first = tile * TILE_WIDTH
        again = merkle.CompactRange(first, edge.hashes[: tile.bit_count()])
        for leaf in known:
            again.append(leaf)
        if again.hashes == edge.hashes:
            return
        which = f"entries {first}–{first + len(known) - 1}"
        row = self.db.execute("SELECT hashes FROM leaf_tiles WHERE n = ?", (tile,)).fetchone()
        kept = b"" if row is None else bytes(row[0])
        step = merkle.HASH_SIZE
        for j, leaf in enumerate(known):
            if kept[j * step : (j + 1) * step] not in (b"", leaf):
                which = f"entry {first + j}"
                break
        raise MonitorAlert(
            f"{which}: {path} serves {which} otherwise than the monitor read them before: "
            "the log changed entries it had published"
        )

    def _check_hash_tile(self, fetch: Fetch, tile: int, path: str, leaves: list[bytes]) -> None:
        """The log's level-0 hash tile must hold the hashes of the entries it serves: its
        proofs (a bundle's, a receipt's) are made of them."""
        hpath = "/log/tile/" + format_tile_path(0, tile, len(leaves))
        served = fetch(hpath)
        if served == b"".join(leaves):
            return
        step = merkle.HASH_SIZE
        if len(served) != len(leaves) * step:
            raise MonitorAlert(f"{hpath} holds {len(served)} bytes, not {len(leaves)} hashes")
        j = next(j for j, leaf in enumerate(leaves) if served[j * step : (j + 1) * step] != leaf)
        index = tile * TILE_WIDTH + j
        raise MonitorAlert(
            f"entry {index}: the log's hash tile {hpath} gives its leaf hash as "
            f"{served[j * step : (j + 1) * step].hex()[:16]}…, but entry {index} as served "
            f"({path}) hashes to {leaves[j].hex()[:16]}…: the log serves an entry, or a "
            "hash its proofs are made of, that is not its own"
        )


def compact_range(size: int, raw: bytes) -> merkle.CompactRange:
    hashes = [raw[i : i + merkle.HASH_SIZE] for i in range(0, len(raw), merkle.HASH_SIZE)]
    return merkle.CompactRange(size, hashes)
