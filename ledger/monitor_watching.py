"""What ``ledger.monitor.Monitor`` keeps for a ``Watch``: the VINs and actors a
state watches, the watched entries a poll has not reported yet, and a watched VIN's
odometer readings, read again from the log for the entries read before it was
watched.
"""

from __future__ import annotations

import sqlite3

from core.errors import VinledgerError
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor_entries import MonitorAlert, Watch, WatchedEntry, odometer_of, watched_entries
from ledger.monitor_forks import Fetch
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, format_tile_path


class Watching:
    """A mixin of ``ledger.monitor.Monitor``: it reads and writes the monitor's
    ``db`` (watching, watched, readings, chains), reads its ``size`` and ``pending``
    and drops an unfinished catch-up with its ``_delete_past``."""

    db: sqlite3.Connection
    size: int
    pending: int | None

    @property
    def watching(self) -> Watch:
        """What this state watches: what the last poll given a watch asked for."""
        rows = self.db.execute("SELECT what, id FROM watching").fetchall()
        return Watch(
            frozenset(i for what, i in rows if what == "vin"),
            frozenset(i for what, i in rows if what == "actor"),
        )

    def _set_watch(self, watch: Watch) -> None:
        """Watch ``watch`` from now on. A VIN no longer watched loses its readings; an
        unfinished catch-up read under another watch is read again."""
        kept = self.watching
        if kept == watch:
            return
        for vin in kept.vins - watch.vins:
            self.db.execute("DELETE FROM watching WHERE what = 'vin' AND id = ?", (vin,))
            self.db.execute("DELETE FROM readings WHERE vin = ?", (vin,))
        for actor in kept.actors - watch.actors:
            self.db.execute("DELETE FROM watching WHERE what = 'actor' AND id = ?", (actor,))
        self.db.executemany(
            "INSERT INTO watching VALUES ('vin', ?, NULL)", [(v,) for v in watch.vins - kept.vins]
        )
        self.db.executemany(
            "INSERT INTO watching VALUES ('actor', ?, NULL)",
            [(a,) for a in watch.actors - kept.actors],
        )
        if self.pending is not None:
            self._delete_past(self.size)

    def _report_watched(self, watch: Watch) -> list[WatchedEntry]:
        """The watched entries not reported yet (of what ``watch`` watches), now reported."""
        row = self.db.execute("SELECT upto FROM watch_reported").fetchone()
        size = self.size
        found = [
            w
            for w in watched_entries(self.db, 0 if row is None else row[0], size)
            if watch.matches(w.vin, w.signer)
        ]
        self.db.execute("INSERT OR REPLACE INTO watch_reported VALUES (1, ?)", (size,))
        self.db.execute("DELETE FROM watched WHERE idx < ?", (size,))
        return found

    def _read_readings(self, fetch: Fetch, old: int, cp: Checkpoint) -> None:
        """The readings of each watched VIN from the entries read before it was watched
        (below ``old``): its chain's entries, read again from the log's entry tiles and
        compared with the leaf hashes the chain keeps."""
        need = self.db.execute(
            "SELECT id, coalesce(upto, 0) FROM watching WHERE what = 'vin' AND"
            " coalesce(upto, 0) < ?",
            (old,),
        ).fetchall()
        tiles: dict[int, list[tuple[str, int, bytes]]] = {}
        for vin, upto in need:
            for idx, leaf in self.db.execute(
                "SELECT idx, leaf FROM chains WHERE vin = ? AND idx >= ? AND idx < ?",
                (vin, upto, old),
            ):
                tiles.setdefault(idx // TILE_WIDTH, []).append((vin, idx, bytes(leaf)))
        for tile, wanted in sorted(tiles.items()):
            first = tile * TILE_WIDTH
            path = "/log/tile/" + format_tile_path(None, tile, min(TILE_WIDTH, cp.size - first))
            try:
                entries = decode_entry_bundle(fetch(path))
            except VinledgerError as err:
                raise MonitorAlert(f"{path}: {err}") from None
            for vin, idx, leaf in wanted:
                data = entries[idx - first] if idx - first < len(entries) else b""
                if merkle.hash_leaf(data) != leaf:
                    raise MonitorAlert(
                        f"entry {idx}: {path} serves it otherwise than the monitor read it "
                        "before: the log changed an entry it had published"
                    )
                reading = odometer_of(data)  # a correction's: the corrected entry's
                if reading is not None:
                    self.db.execute(
                        "INSERT OR REPLACE INTO readings VALUES (?, ?, ?)", (vin, *reading)
                    )
        self.db.execute(
            "UPDATE watching SET upto = ? WHERE what = 'vin' AND coalesce(upto, 0) < ?",
            (old, old),
        )
