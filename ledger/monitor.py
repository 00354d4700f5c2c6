"""A monitor: follows a log through its public read API and remembers every VIN chain.

A bundle proves that its entries are in the log, but not that the log holds no
newer entry for the same vehicle: a server could leave out the latest ones. Logs
like Certificate Transparency answer that with monitors, which read every entry and
so know what each subject's complete record is. This one does the same with the
C2SP tlog-tiles endpoints any vinledger server (or a mirror) serves:

- each poll fetches the checkpoint and checks the log key's signature;
- a checkpoint smaller than the last one seen, or of the same size with another
  root, is a fork: the monitor stops and says so;
- the new entries are read from the entry tiles and hashed; together with the tree
  kept from the last poll (its compact range), they must give the new checkpoint's
  root, which proves that the log only grew and that the entries are the log's;
- each vehicle entry must name its own index and continue its VIN's chain
  (position and ``prev``); the monitor records every chain in its own SQLite file.

Nothing from a poll is recorded unless all of it checks out. ``vin_chain`` then
answers which entries the log held for a VIN at any size the monitor has reached,
and ``ledger.verify.compare_monitor`` uses it to catch a bundle that leaves some out.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import VinledgerError
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.entry import decode_entry
from ledger.signing import open_checkpoint
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, format_tile_path

Fetch = Callable[[str], bytes]
"""GET of a path under the log's base URL (e.g. ``/log/checkpoint``), answering the body."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    note TEXT NOT NULL,
    edge BLOB NOT NULL  -- the compact range at ``size``: its hashes, concatenated
);
CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chains (
    vin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    leaf BLOB NOT NULL,
    PRIMARY KEY (vin, seq)
) WITHOUT ROWID;
"""


class MonitorAlert(VinledgerError):
    """The log did something a log must never do; the monitor's state is unchanged."""

    title = "Monitor alert"
    slug = "monitor-alert"


@dataclass
class Poll:
    size_before: int
    size: int
    vehicles: int  # distinct VINs among the new entries

    @property
    def new_entries(self) -> int:
        return self.size - self.size_before


@dataclass
class ChainEntry:
    seq: int
    index: int
    leaf: bytes


class Monitor:
    """The monitor's state in ``DIR/monitor.db`` for the log whose key is ``vkey``."""

    def __init__(self, state_dir: Path, vkey: str):
        self.vkey = vkey
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_dir / "monitor.db", isolation_level=None)
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    @property
    def size(self) -> int:
        row = self.db.execute("SELECT size FROM state").fetchone()
        return 0 if row is None else row[0]

    @property
    def checkpoint(self) -> Checkpoint | None:
        row = self.db.execute("SELECT note FROM state").fetchone()
        return None if row is None else open_checkpoint(row[0], self.vkey)

    def vin_chain(self, vin: str, below: int | None = None) -> list[ChainEntry]:
        """The entries of ``vin`` the monitor has seen, in chain order, with index < below."""
        rows = self.db.execute(
            "SELECT seq, idx, leaf FROM chains WHERE vin = ? AND idx < ? ORDER BY seq",
            (vin, self.size if below is None else below),
        )
        return [ChainEntry(seq, idx, bytes(leaf)) for seq, idx, leaf in rows]

    def poll(self, fetch: Fetch) -> Poll:
        """Read the log's newest checkpoint and every entry since the last poll."""
        note = fetch("/log/checkpoint").decode("utf-8")
        try:
            cp = open_checkpoint(note, self.vkey)
        except VinledgerError as err:
            raise MonitorAlert(f"the log's checkpoint does not verify: {err}") from None
        before = self.checkpoint
        old = before.size if before else 0
        if cp.size < old:
            raise MonitorAlert(
                f"the log shrank: its checkpoint has size {cp.size}, after one of size {old}"
            )
        if before is not None and cp.size == old:
            if cp.root != before.root:
                raise MonitorAlert(f"two checkpoints of size {old} with different roots: a fork")
            return Poll(old, old, 0)
        edge = self._edge(old)
        self.db.execute("BEGIN IMMEDIATE")
        try:
            vins = self._read_entries(fetch, edge, old, cp)
            if edge.root() != cp.root:
                raise MonitorAlert(
                    f"entries {old}–{cp.size - 1} as served do not give the root of the "
                    f"checkpoint of size {cp.size}: the entries were changed, or the log is "
                    f"not an extension of the one of size {old} the monitor saw"
                )
            self.db.execute(
                "INSERT OR REPLACE INTO state VALUES (1, ?, ?, ?)",
                (cp.size, note, b"".join(edge.hashes)),
            )
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (cp.size, note))
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return Poll(old, cp.size, len(vins))

    def _edge(self, size: int) -> merkle.CompactRange:
        row = self.db.execute("SELECT edge FROM state").fetchone()
        raw = b"" if row is None else row[0]
        hashes = [raw[i : i + merkle.HASH_SIZE] for i in range(0, len(raw), merkle.HASH_SIZE)]
        return merkle.CompactRange(size, hashes)

    def _read_entries(self, fetch: Fetch, edge, start: int, cp: Checkpoint) -> set[str]:
        """Hash entries ``[start, cp.size)`` into ``edge`` and record their VIN chains."""
        heads: dict[str, tuple[int, bytes]] = {}
        for tile in range(start // TILE_WIDTH, (cp.size - 1) // TILE_WIDTH + 1):
            width = min(TILE_WIDTH, cp.size - tile * TILE_WIDTH)
            path = "/log/tile/" + format_tile_path(None, tile, width)
            try:
                entries = decode_entry_bundle(fetch(path))
            except VinledgerError as err:
                raise MonitorAlert(f"{path}: {err}") from None
            if len(entries) != width:
                raise MonitorAlert(f"{path} holds {len(entries)} entries, not {width}")
            first = tile * TILE_WIDTH
            for index, data in enumerate(entries[max(0, start - first) :], max(start, first)):
                leaf = merkle.hash_leaf(data)
                edge.append(leaf)
                self._record(index, data, leaf, heads)
        return set(heads)

    def _record(self, index: int, data: bytes, leaf: bytes, heads: dict) -> None:
        try:
            entry = decode_entry(data)
        except VinledgerError as err:
            raise MonitorAlert(f"entry {index}: {err}") from None
        if entry.index != index:
            raise MonitorAlert(f"entry {index} says its index is {entry.index}")
        if entry.vin is None:
            return
        head = heads.get(entry.vin) or self._head(entry.vin)
        want = (0, None) if head is None else (head[0] + 1, base64.b64encode(head[1]).decode())
        if (entry.vin_seq, entry.prev) != want:
            raise MonitorAlert(
                f"entry {index}: VIN {entry.vin} chain link is broken (position "
                f"{entry.vin_seq}, expected {want[0]}; prev does not match)"
            )
        self.db.execute(
            "INSERT INTO chains VALUES (?, ?, ?, ?)", (entry.vin, entry.vin_seq, index, leaf)
        )
        heads[entry.vin] = (entry.vin_seq, leaf)

    def _head(self, vin: str) -> tuple[int, bytes] | None:
        row = self.db.execute(
            "SELECT seq, leaf FROM chains WHERE vin = ? ORDER BY seq DESC LIMIT 1", (vin,)
        ).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    def compare(self, report, fetch: Fetch | None = None) -> None:
        """Record in ``report`` (a verified bundle's) whether it holds every entry of its
        VIN that the log held as far as the monitor has read it.

        The bundle's tree must be the monitor's: the same root at a size the monitor
        polled, or else (given ``fetch`` from the log) a consistency proof between the
        two checkpoints.
        """
        cp, mine = report.checkpoint, None
        try:
            mine = self.checkpoint
        except VinledgerError as err:
            report.failed("monitor", f"the monitor's state is not of this log: {err}")
            return
        if cp is None or mine is None:
            report.failed("monitor", "the monitor has read nothing of this log yet")
            return
        row = self.db.execute("SELECT note FROM checkpoints WHERE size = ?", (cp.size,)).fetchone()
        if row is not None and open_checkpoint(row[0], self.vkey).root != cp.root:
            report.failed(
                "monitor",
                f"the bundle's checkpoint of size {cp.size} is not the one the monitor read "
                "at that size: the log shows different trees to different readers",
            )
            return
        if row is None and not self._consistent(report, cp, mine, fetch):
            return
        upto = min(cp.size, mine.size)
        seen = {e.index for e in self.vin_chain(report.vin, below=upto)}
        shown = {e.index for e in report.entries if e.index < upto}
        if missing := sorted(seen - shown):
            report.failed(
                "monitor",
                f"the bundle leaves out entries {_listed(missing)} of {report.vin}, which the "
                f"log held at size {upto} as the monitor read it",
            )
        if unknown := sorted(shown - seen):
            report.failed(
                "monitor",
                f"entries {_listed(unknown)} are not entries of {report.vin} in the log the "
                "monitor read",
            )
        if newer := [e.index for e in self.vin_chain(report.vin) if e.index >= cp.size]:
            report.failed(
                "monitor",
                f"the log holds {len(newer)} newer entries of {report.vin} ({_listed(newer)}) "
                f"than this bundle's checkpoint of size {cp.size}: its history is out of date",
            )
        if missing or unknown or newer:
            return
        detail = f"all {len(seen)} entries of {report.vin} the monitor saw up to size {upto}"
        if cp.size > mine.size:
            detail += f" (the monitor has not read past size {mine.size} yet)"
        if row is None and fetch is None:
            detail += f"; it saw no checkpoint of size {cp.size} to compare roots with"
        report.passed("monitor", detail)

    def _consistent(self, report, cp: Checkpoint, mine: Checkpoint, fetch: Fetch | None) -> bool:
        """Whether the log proves the bundle's tree and the monitor's are one (if asked)."""
        if fetch is None:
            return True
        first, second = sorted((cp, mine), key=lambda c: c.size)
        path = f"/log/proof/consistency?first={first.size}&second={second.size}"
        try:
            proof = json.loads(fetch(path))["hashes"]
            hashes = [base64.b64decode(h, validate=True) for h in proof]
            merkle.verify_consistency(first.size, second.size, hashes, first.root, second.root)
        except (VinledgerError, ValueError, KeyError, TypeError) as err:
            report.failed(
                "monitor",
                f"the log does not prove the bundle's tree (size {cp.size}) and the one the "
                f"monitor read (size {mine.size}) consistent: {err}",
            )
            return False
        return True


def _listed(indexes: list[int]) -> str:
    return ", ".join(map(str, indexes[:10])) + (", …" if len(indexes) > 10 else "")
