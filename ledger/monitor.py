"""A monitor: follows a log through its public read API and remembers every VIN chain.

A bundle proves that its entries are in the log, but not that the log holds no
newer entry for the same vehicle: a server could leave out the latest ones. Logs
like Certificate Transparency answer that with monitors, which read every entry and
so know what each subject's complete record is. This one does the same with the
C2SP tlog-tiles endpoints any vinledger server (or a mirror) serves:

- each poll fetches the checkpoint and checks the log key's signature;
- a checkpoint of the same size as one seen but another root is a fork: the
  monitor stops and says so;
- the new entries are read from the entry tiles and hashed; together with the tree
  kept from the last poll (its compact range), they must give the new checkpoint's
  root, which proves that the log only grew and that the entries are the log's;
- each entry must name its own index and be of the kind and VIN its signed record
  says (a trust entry carries no VIN); with ``signatures`` (the default) the trust
  entries are replayed (``ledger.trust_replay``, as the audit does) and every entry's
  signature, key and role are checked at its index, and what it references
  (``ledger.audit_refs``: sales, corrections, claims and their decisions, ...);
  each vehicle entry must continue its VIN's chain (position and ``prev``); the
  monitor records every chain, every revocation, the trust replay and the facts
  references need in its own SQLite file;
- each poll says what its trust entries changed (new actors, keys granted and revoked,
  ``Poll.trust``), in either mode: who may sign is what a partner watches for;
- a checkpoint older than the last one seen is only stale if the log proves it
  consistent (same root at a size seen, or a consistency proof); otherwise a fork.

Nothing from a poll counts unless all of it checks out. A long catch-up keeps its
progress every ``save_every`` tiles as *pending* (rows past the monitor's size and
the compact range reached), so an interrupted poll goes on from there; pending rows
are invisible to readers, become the monitor's only once the checkpoint's root
checks out, and are dropped on any alert. ``vin_chain`` answers which entries the
log held for a VIN at any size the monitor has reached, and ``Monitor.compare`` uses
it to catch a bundle that leaves some out.
"""

from __future__ import annotations

import base64
import contextlib
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from core.errors import InvalidInput, VinledgerError
from core.note import parse_verifier_key
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor_entries import EntryChecks, MonitorAlert, TrustChange, trust_changes
from ledger.monitor_schema import SCHEMA, VERSION
from ledger.signing import open_checkpoint
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, format_tile_path
from ledger.trust_replay import TrustReplay, genesis_of

try:
    import fcntl
except ImportError:  # not on Windows: run one monitor per state directory by hand
    fcntl = None

__all__ = [
    "ChainEntry",
    "Monitor",
    "MonitorAlert",
    "MonitorBusy",
    "Poll",
    "TrustChange",
    "prove_consistent",
]

Fetch = Callable[[str], bytes]
"""GET of a path under the log's base URL (e.g. ``/log/checkpoint``), answering the body."""

SAVE_EVERY = 64  # tiles (16,384 entries) between saves of a catch-up's progress


class MonitorBusy(VinledgerError):
    """Another monitor process is polling into the same state directory."""

    title = "Monitor busy"
    slug = "monitor-busy"


@dataclass
class Poll:
    size_before: int
    size: int
    vehicles: int  # distinct VINs among the new entries
    stale: int | None = None  # the size of an older, consistent checkpoint served instead
    trust: list[TrustChange] = field(default_factory=list)  # among the new entries

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

    def __init__(
        self,
        state_dir: Path,
        vkey: str,
        *,
        signatures: bool | None = None,
        save_every: int = SAVE_EVERY,
    ):
        """``signatures``: replay the trust entries and check every signature, key and
        role. A state keeps the mode it was first read in (None: that mode; with
        signatures for a new state); asking for the other mode is refused.
        ``save_every``: tiles read between saves of a catch-up's progress."""
        self.save_every = save_every
        self._progress: Callable[[int, int], None] | None = None
        self._checks: EntryChecks  # set by each poll
        self._lacks_facts = False
        try:
            parse_verifier_key(vkey)
        except VinledgerError as err:
            raise InvalidInput(f"the verifier key is malformed: {err}") from None
        self.vkey = vkey
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(state_dir / "monitor.db", isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")  # readers (verify) never wait on a poll
        self.db.executescript(SCHEMA)
        try:
            self.signatures = self._mode(signatures)
        except InvalidInput:
            self.db.close()
            raise

    def _mode(self, wanted: bool | None) -> bool:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version < 4:  # an unfinished catch-up kept no trust changes: read it again
            self._drop_pending()
        if self.size == 0:
            self.db.execute(f"PRAGMA user_version = {VERSION}")
            return True if wanted is None else wanted
        if version < 4:  # the trust changes of what it read before are not known
            self.db.execute(
                "INSERT OR IGNORE INTO trust_known (id, since) VALUES (1, ?)", (self.size,)
            )
        if version < 1:  # read before revocations were kept: they are missing
            raise InvalidInput(
                f"{self.state_dir} was made by an earlier vinledger monitor, which kept no "
                "key revocations; move it aside and poll again to read the log from the start"
            )
        kept = self.db.execute("SELECT 1 FROM trust").fetchone() is not None
        # Read with signatures before facts were kept: it can back a verify, not a poll.
        self._lacks_facts = kept and version < 3
        if not self._lacks_facts:
            self.db.execute(f"PRAGMA user_version = {VERSION}")  # v1: read without signatures
        if wanted is not None and wanted != kept:
            how = "with" if kept else "without"
            raise InvalidInput(
                f"{self.state_dir} was read {how} signatures and keeps that mode; poll it "
                f"{how} them, or start a new state directory"
            )
        return kept

    def close(self) -> None:
        self.db.close()

    @property
    def size(self) -> int:
        row = self.db.execute("SELECT size FROM state").fetchone()
        return 0 if row is None else row[0]

    @property
    def checkpoint(self) -> Checkpoint | None:
        row = self.db.execute("SELECT note FROM state").fetchone()
        if row is None:
            return None
        try:
            return open_checkpoint(row[0], self.vkey)
        except VinledgerError as err:
            raise InvalidInput(
                f"{self.state_dir} holds a monitor of another log (its checkpoint does not "
                f"verify with this key: {err})"
            ) from None

    def vin_chain(self, vin: str, below: int | None = None) -> list[ChainEntry]:
        """The entries of ``vin`` the monitor has seen, in chain order, with index < below."""
        rows = self.db.execute(
            "SELECT seq, idx, leaf FROM chains WHERE vin = ? AND idx < ? ORDER BY seq",
            (vin, self.size if below is None else below),
        )
        return [ChainEntry(seq, idx, bytes(leaf)) for seq, idx, leaf in rows]

    @property
    def trust_known_since(self) -> int:
        """The first index whose trust changes this state reports: 0 for a state made by
        this release; for one an earlier monitor read, the size it had then (the trust
        entries below it were read without being kept, and are never reported)."""
        row = self.db.execute("SELECT since FROM trust_known").fetchone()
        return 0 if row is None else row[0]

    @property
    def pending(self) -> int | None:
        """How far an unfinished catch-up has read (not yet proven), if one has."""
        row = self.db.execute("SELECT size FROM pending").fetchone()
        return None if row is None else row[0]

    def poll(self, fetch: Fetch, progress: Callable[[int, int], None] | None = None) -> Poll:
        """Read the log's newest checkpoint and every entry since the last poll.

        ``progress(read, size)`` is called each time a long catch-up saves its progress."""
        if self._lacks_facts:
            raise InvalidInput(
                f"{self.state_dir} was read with signatures by an earlier vinledger monitor, "
                "which kept no facts for reference checks; move it aside and poll again"
            )
        with self._polling():
            body = fetch("/log/checkpoint")
            try:
                note = body.decode("utf-8")
                cp = open_checkpoint(note, self.vkey)
            except (VinledgerError, UnicodeDecodeError) as err:
                raise MonitorAlert(f"the log's checkpoint does not verify: {err}") from None
            self._progress = progress
            self.db.execute("BEGIN IMMEDIATE")
            try:
                poll = self._advance(fetch, note, cp)
            except MonitorAlert:
                self.db.execute("ROLLBACK")
                self._drop_pending()  # read from a log that misbehaved: read it again
                raise
            except BaseException:
                self.db.execute("ROLLBACK")  # what was saved as pending goes on next time
                raise
            self.db.execute("COMMIT")
            return poll

    @contextlib.contextmanager
    def _polling(self):
        """One poll at a time per state directory, across processes."""
        if fcntl is None:
            yield
            return
        with open(self.state_dir / "monitor.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise MonitorBusy(f"another monitor is polling into {self.state_dir}") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _advance(self, fetch: Fetch, note: str, cp: Checkpoint) -> Poll:
        before = self.checkpoint
        old = before.size if before else 0
        if before is not None and cp.size <= old:
            self._check_older(fetch, cp, before)
            return Poll(old, old, 0, stale=cp.size if cp.size < old else None)
        start, edge, replay = self._resume(old, cp)
        self._checks = EntryChecks(self.db, replay if self.signatures else None)
        try:
            vins = self._read_entries(fetch, edge, start, cp)
            self._checks.finish()
            if edge.root() != cp.root:
                raise MonitorAlert(
                    f"entries {old}–{cp.size - 1} as served do not give the root of the "
                    f"checkpoint of size {cp.size}: the entries were changed, or the log is "
                    f"not an extension of the one of size {old} the monitor saw"
                )
        except MonitorAlert as err:  # a broken chain is often the first sign of a fork
            where = self._fork_point(fetch, cp, old)
            if not where:
                raise
            raise MonitorAlert(f"{err}{where}") from None
        self.db.execute(
            "INSERT OR REPLACE INTO state VALUES (1, ?, ?, ?)",
            (cp.size, note, b"".join(edge.hashes)),
        )
        self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?)", (cp.size, note))
        if self._checks.replay is not None:
            self.db.execute("INSERT OR REPLACE INTO trust VALUES (1, ?)", (self._replay_blob(),))
        self.db.execute("DELETE FROM pending")
        return Poll(old, cp.size, len(vins), trust=trust_changes(self.db, old, cp.size))

    def _replay_blob(self) -> bytes:
        r = self._checks.replay
        return msgspec.msgpack.encode([r.genesis, r.keys, r.actors])

    @staticmethod
    def _load_replay(blob: bytes | None) -> TrustReplay | None:
        if blob is None:
            return None  # set from entry 1 when the first tile is read
        genesis, keys, actors = msgspec.msgpack.decode(blob)
        return TrustReplay(genesis if isinstance(genesis, str) else tuple(genesis), keys, actors)

    def _resume(self, old: int, cp: Checkpoint) -> tuple[int, merkle.CompactRange, object]:
        """Where this poll starts reading: the pending progress of an interrupted
        catch-up, if it lies within ``cp``; else the monitor's own size."""
        row = self.db.execute("SELECT size, edge, replay FROM pending").fetchone()
        if row is not None and old < row[0] <= cp.size:
            return row[0], _compact_range(row[0], row[1]), self._load_replay(row[2])
        if row is not None:  # made for another tree than this checkpoint's
            self._delete_past(old)
        state = self.db.execute("SELECT edge FROM state").fetchone()
        trust = self.db.execute("SELECT replay FROM trust").fetchone()
        return (
            old,
            _compact_range(old, b"" if state is None else state[0]),
            self._load_replay(None if trust is None else trust[0]),
        )

    def _save_progress(self, edge: merkle.CompactRange, size: int) -> None:
        """Keep what a catch-up has read so far, as pending, and go on in a new
        transaction (the poll lock keeps other monitors out meanwhile)."""
        replay = None if self._checks.replay is None else self._replay_blob()
        self.db.execute(
            "INSERT OR REPLACE INTO pending VALUES (1, ?, ?, ?)",
            (edge.size, b"".join(edge.hashes), replay),
        )
        self.db.execute("COMMIT")
        self.db.execute("BEGIN IMMEDIATE")
        if self._progress is not None:
            self._progress(edge.size, size)

    def _drop_pending(self) -> None:
        if self.pending is not None:
            self.db.execute("BEGIN IMMEDIATE")
            self._delete_past(self.size)
            self.db.execute("COMMIT")

    def _delete_past(self, size: int) -> None:
        """Forget every row of entries from ``size`` on: a catch-up's unproven progress."""
        for table in ("chains", "revocations", "facts", "trust_changes"):
            self.db.execute(f"DELETE FROM {table} WHERE idx >= ?", (size,))
        self.db.execute("DELETE FROM pending")

    def _check_older(self, fetch: Fetch, cp: Checkpoint, latest: Checkpoint) -> None:
        """A checkpoint no newer than the latest seen: stale if consistent, else a fork."""
        row = self.db.execute("SELECT note FROM checkpoints WHERE size = ?", (cp.size,)).fetchone()
        if row is not None:
            if open_checkpoint(row[0], self.vkey).root != cp.root:
                raise MonitorAlert(
                    f"two checkpoints of size {cp.size} with different roots: a fork"
                )
            return
        try:
            prove_consistent(fetch, cp, latest)
        except MonitorAlert as err:
            raise MonitorAlert(
                f"the log served a checkpoint of size {cp.size}, older than the one of size "
                f"{latest.size} the monitor read, and {err}: a fork"
            ) from None

    def _fork_point(self, fetch: Fetch, cp: Checkpoint, old: int) -> str:
        """Where the log left the trees this monitor saw, said for the alert: the
        largest checkpoint seen that the log still proves within ``cp`` (a binary
        search: the trees seen nest, so those it still holds are the smaller ones).
        A log restored from an old backup holds the trees up to the backup."""
        sizes = [
            size
            for (size,) in self.db.execute(
                "SELECT size FROM checkpoints WHERE size > 0 AND size <= ? ORDER BY size",
                (min(old, cp.size),),
            )
        ]
        lo, hi, held = 0, len(sizes), 0
        while lo < hi:
            mid = (lo + hi) // 2
            note = self.db.execute(
                "SELECT note FROM checkpoints WHERE size = ?", (sizes[mid],)
            ).fetchone()[0]
            try:
                prove_consistent(fetch, open_checkpoint(note, self.vkey), cp)
            except MonitorAlert:
                hi = mid
            except Exception:  # no proof to be had (a tiles-only mirror): the alert stands
                return ""
            else:
                held, lo = sizes[mid], mid + 1
        if held >= old:
            return ""
        first = sizes[lo] if lo < len(sizes) else old
        return (
            f". The log still proves the tree of size {held} this monitor saw, but not "
            f"that of size {first}: it changed what it had published among entries "
            f"{held}–{first - 1} (a fork, as when a log is served from an older backup). "
            "Keep this monitor's state: its checkpoints, signed by the log key, are the "
            "evidence"
        )

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
            width = min(TILE_WIDTH, cp.size - tile * TILE_WIDTH)
            path = "/log/tile/" + format_tile_path(None, tile, width)
            body = fetch(path)  # could not read: no alert, the next poll goes on from here
            try:
                entries = decode_entry_bundle(body)
            except VinledgerError as err:
                raise MonitorAlert(f"{path}: {err}") from None
            if len(entries) != width:
                raise MonitorAlert(f"{path} holds {len(entries)} entries, not {width}")
            first = tile * TILE_WIDTH
            if self.signatures and self._checks.replay is None:  # tile 0: entry 1 is in it
                genesis = genesis_of(entries[1] if len(entries) > 1 else None)
                self._checks.replay = TrustReplay(genesis)
            heads: dict[str, tuple[int, bytes]] = {}  # this tile's, until its rows are in
            rows = []
            for index, data in enumerate(entries[max(0, start - first) :], max(start, first)):
                leaf = merkle.hash_leaf(data)
                edge.append(leaf)
                entry = self._checks.entry(index, data)
                if entry.vin is not None:
                    self._checks.link(index, entry, leaf, heads)
                    rows.append((entry.vin, entry.vin_seq, index, leaf))
            self.db.executemany("INSERT INTO chains VALUES (?, ?, ?, ?)", rows)
            vins.update(heads)
        return vins

    def compare(self, report, fetch: Fetch | None = None) -> None:
        """Record in ``report`` whether the bundle holds all this monitor saw of its VIN
        (``ledger.monitor_check.check_bundle``)."""
        from ledger.monitor_check import check_bundle

        check_bundle(self, report, fetch)


def _compact_range(size: int, raw: bytes) -> merkle.CompactRange:
    hashes = [raw[i : i + merkle.HASH_SIZE] for i in range(0, len(raw), merkle.HASH_SIZE)]
    return merkle.CompactRange(size, hashes)


def prove_consistent(fetch: Fetch, a: Checkpoint, b: Checkpoint) -> None:
    """Raise MonitorAlert unless the log proves the smaller of two trees within the other."""
    first, second = sorted((a, b), key=lambda c: c.size)
    if first.size == 0 or first.size == second.size:
        if first.size == second.size and first.root != second.root:
            raise MonitorAlert(f"two trees of size {first.size} with different roots")
        return  # the empty tree is in every tree
    path = f"/log/proof/consistency?first={first.size}&second={second.size}"
    try:
        body = fetch(path)
    except VinledgerError as err:  # not the log's fault as far as anyone can tell
        raise InvalidInput(f"the consistency proof could not be fetched: {err}") from None
    try:
        hashes = [base64.b64decode(h, validate=True) for h in json.loads(body)["hashes"]]
        merkle.verify_consistency(first.size, second.size, hashes, first.root, second.root)
    except (VinledgerError, ValueError, KeyError, TypeError) as err:
        raise MonitorAlert(f"the log does not prove them consistent: {err}") from None
