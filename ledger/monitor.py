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
- each entry tile read is compared with the log's level-0 hash tile (the leaf
  hashes its proofs are made of), before the entries are checked, so an entry changed
  in the log is named; a partial tile read again must hold the entries read before;
  the monitor keeps every leaf hash (``leaf_tiles``);
- a checkpoint older than the last one seen is only stale if it is consistent (same
  root at a size seen, the root of the leaves the monitor kept, or else a consistency
  proof; a log that refuses one has no excuse); otherwise a fork. A stale log is
  reported as such, since when, and is an alert once stale longer than ``max_stale``;
- an alert is kept, with the signed notes behind it, in ``alerts/`` of the state
  directory, and every later poll fails with it until ``acknowledge``;
- with a ``Watch`` (VINs, actors; kept in the state, so that every poll into it keeps
  what it reads of them, ``verify --monitor``'s too) each entry of a watched VIN or
  signed by a watched actor is kept until a poll given the watch reports it
  (``Poll.watched``), and a watched VIN's odometer readings are kept, so that a
  lower one names the higher one before it. A VIN newly watched on a state that read
  its entries before has its readings read again from the log (the entries of its
  chain, compared by leaf hash).

Nothing from a poll counts unless all of it checks out. A long catch-up keeps its
progress every ``save_every`` tiles as *pending* (rows past the monitor's size and
the compact range reached), so an interrupted poll goes on from there; pending rows
are invisible to readers, become the monitor's only once the checkpoint's root
checks out, and are dropped on any alert. ``vin_chain`` answers which entries the
log held for a VIN at any size the monitor has reached, and ``Monitor.compare`` uses
it to catch a bundle that leaves some out.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from core.errors import InvalidInput, VinledgerError
from core.note import parse_verifier_key
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor_entries import (
    EntryChecks,
    MonitorAlert,
    TrustChange,
    Watch,
    WatchedEntry,
    trust_changes,
)
from ledger.monitor_forks import Fetch, Forks, prove_consistent
from ledger.monitor_schema import SCHEMA, VERSION
from ledger.monitor_tiles import TileReader, compact_range
from ledger.monitor_watching import Watching
from ledger.signing import open_checkpoint
from ledger.tiles import TILE_WIDTH
from ledger.trust_replay import TrustReplay

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
    "StandingAlert",
    "TrustChange",
    "Watch",
    "WatchedEntry",
    "prove_consistent",
]

SAVE_EVERY = 64  # tiles (16,384 entries) between saves of a catch-up's progress


class MonitorBusy(VinledgerError):
    """Another monitor process is polling into the same state directory."""

    title = "Monitor busy"
    slug = "monitor-busy"


class StandingAlert(MonitorAlert):
    """An earlier poll's alert, not yet acknowledged: no poll runs until it is."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Poll:
    size_before: int
    size: int
    vehicles: int  # distinct VINs among the new entries
    stale: int | None = None  # the size of an older, consistent checkpoint served instead
    trust: list[TrustChange] = field(default_factory=list)  # among the new entries
    stale_since: str | None = None  # when the log first served an older one (UTC, ISO)
    resumed_at: int | None = None  # where an interrupted catch-up went on from
    # The watched entries not yet reported (a poll given a watch), in log order.
    watched: list[WatchedEntry] = field(default_factory=list)

    @property
    def new_entries(self) -> int:
        return self.size - self.size_before


@dataclass
class ChainEntry:
    seq: int
    index: int
    leaf: bytes


class Monitor(Forks, TileReader, Watching):
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
        # Opening writes nothing unless the state must be brought up to this release;
        # that waits briefly for a poll of another process, then says it is busy.
        self.db.execute("PRAGMA busy_timeout = 2000")
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # readers (verify) never wait on a poll
            self.db.executescript(SCHEMA)
            self.signatures = self._mode(signatures)
        except sqlite3.OperationalError as err:
            self.db.close()
            if "locked" not in str(err) and "busy" not in str(err):
                raise
            raise MonitorBusy(
                f"another monitor is polling into {state_dir}, and this state must first be "
                "brought up to this release; try again once that poll is done"
            ) from None
        except InvalidInput:
            self.db.close()
            raise
        self.db.execute("PRAGMA busy_timeout = 30000")

    def _mode(self, wanted: bool | None) -> bool:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version < 5:  # an unfinished catch-up kept no trust changes or leaf hashes
            self._drop_pending()
        if self.size == 0:
            self._set_version(version)
            return True if wanted is None else wanted
        if version < 5:  # no leaf hashes kept below its last tile: read again in part
            self.db.execute(
                "INSERT OR IGNORE INTO leaves_known (id, since) VALUES (1, ?)",
                (self.size // TILE_WIDTH * TILE_WIDTH,),
            )
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
            self._set_version(version)  # v1: read without signatures
        if wanted is not None and wanted != kept:
            how = "with" if kept else "without"
            raise InvalidInput(
                f"{self.state_dir} was read {how} signatures and keeps that mode; poll it "
                f"{how} them, or start a new state directory"
            )
        return kept

    def _set_version(self, version: int) -> None:
        if version != VERSION:  # a write: never one when there is nothing to change
            self.db.execute(f"PRAGMA user_version = {VERSION}")

    def close(self) -> None:
        self.db.close()

    @property
    def leaves_since(self) -> int:
        """The first index whose leaf hash this state keeps: 0, or for a state an earlier
        release read, the start of the tile it had reached then."""
        row = self.db.execute("SELECT since FROM leaves_known").fetchone()
        return 0 if row is None else row[0]

    @property
    def standing_alert(self) -> tuple[str, str, str] | None:
        """(when, what, evidence file) of the first alert not yet acknowledged."""
        return self.db.execute(
            "SELECT at, said, evidence FROM alerts WHERE cleared IS NULL ORDER BY id LIMIT 1"
        ).fetchone()

    def acknowledge(self) -> int:
        """Clear the standing alerts (their evidence files stay): how many there were."""
        with self._polling():
            cur = self.db.execute("UPDATE alerts SET cleared = ? WHERE cleared IS NULL", (_now(),))
            return cur.rowcount

    def _record_alert(self, err: MonitorAlert, served: str | None) -> None:
        """Keep the alert and the signed notes behind it in ``alerts/``: the evidence."""
        at = _now()
        folder = self.state_dir / "alerts"
        folder.mkdir(exist_ok=True)
        path = folder / f"alert-{at.replace(':', '')}-{len(list(folder.iterdir())) + 1}.txt"
        parts = [f"ALERT {at}\n{err}\n"]
        if served is not None:
            parts.append(f"\n# The checkpoint the log served (as served):\n{served}")
        for size, note in getattr(err, "notes", ()):
            parts.append(f"\n# The checkpoint of size {size} this monitor read before:\n{note}")
        row = self.db.execute("SELECT size, note FROM state").fetchone()
        if row is not None:
            parts.append(f"\n# This monitor's latest checkpoint (size {row[0]}):\n{row[1]}")
        path.write_text("".join(parts))
        self.db.execute(
            "INSERT INTO alerts (at, said, evidence) VALUES (?, ?, ?)", (at, str(err), str(path))
        )
        err.evidence = path

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

    def poll(
        self,
        fetch: Fetch,
        progress: Callable[[int, int], None] | None = None,
        *,
        resuming: Callable[[int, int], None] | None = None,
        max_stale: float | None = None,
        watch: Watch | None = None,
    ) -> Poll:
        """Read the log's newest checkpoint and every entry since the last poll.

        ``progress(read, size)`` is called each time a long catch-up saves its progress;
        ``resuming(start, size)`` when a poll goes on from an interrupted one's.
        ``max_stale``: seconds the log may keep serving an older (consistent) checkpoint
        before that is an alert (None: never).

        An alert (``MonitorAlert``) is kept with its evidence, and every later poll
        raises it again (``StandingAlert``) until ``acknowledge``.

        ``watch``: what to watch from now on (kept in the state; None: what it keeps),
        and report: ``Poll.watched`` holds the watched entries no such poll reported
        yet, this poll's and those other polls (``verify --monitor``'s) read."""
        if self._lacks_facts:
            raise InvalidInput(
                f"{self.state_dir} was read with signatures by an earlier vinledger monitor, "
                "which kept no facts for reference checks; move it aside and poll again"
            )
        with self._polling():
            if (standing := self.standing_alert) is not None:
                at, said, evidence = standing
                raise StandingAlert(
                    f"{said} (alert of {at}, evidence in {evidence}; once dealt with, "
                    "acknowledge it: `vinledger monitor --acknowledge`)"
                )
            note, keep = None, True
            try:
                body = fetch("/log/checkpoint")
                try:
                    note = body.decode("utf-8")
                    cp = open_checkpoint(note, self.vkey)
                except (VinledgerError, UnicodeDecodeError) as err:
                    # Before anything was read, most likely a wrong key or URL: not kept.
                    keep = self.size > 0 or self.pending is not None
                    raise MonitorAlert(f"the log's checkpoint does not verify: {err}") from None
                self._progress, self._resuming = progress, resuming
                self._resumed = False
                try:
                    return self._poll_once(fetch, note, cp, max_stale, watch)
                except MonitorAlert:
                    if not self._resumed:
                        raise
                # What an interrupted poll read came from another tree than this one (say,
                # from another mirror), unproven: read again from the monitor's own size,
                # so that an alert names what this log serves.
                self._resuming = None
                return self._poll_once(fetch, note, cp, max_stale, watch)
            except MonitorAlert as err:
                if keep:
                    self._record_alert(err, note)
                raise

    def _poll_once(self, fetch: Fetch, note: str, cp: Checkpoint, max_stale, watch) -> Poll:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            if watch is not None:
                self._set_watch(watch)
            self._watch = self.watching
            poll = self._advance(fetch, note, cp, max_stale)
            if watch is not None:
                poll.watched = self._report_watched(watch)
        except MonitorAlert:
            self._rollback()
            self._drop_pending()  # read from a log that misbehaved: read it again
            raise
        except BaseException:
            self._rollback()  # what was saved as pending goes on next time
            raise
        self.db.execute("COMMIT")
        return poll

    def _rollback(self) -> None:
        # Interrupted right after a save's COMMIT, no transaction is open.
        if self.db.in_transaction:
            self.db.execute("ROLLBACK")

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

    def _advance(self, fetch: Fetch, note: str, cp: Checkpoint, max_stale=None) -> Poll:
        before = self.checkpoint
        old = before.size if before else 0
        if before is not None and cp.size <= old:
            self._check_older(fetch, cp, before)
            if cp.size == old:
                self.db.execute("DELETE FROM stale")
                return Poll(old, old, 0)
            return self._stale(cp, old, max_stale)
        self.db.execute("DELETE FROM stale")
        start, edge, replay = self._resume(old, cp)
        resumed = start > old
        self._resumed = resumed
        if resumed and self._resuming is not None:
            self._resuming(start, cp.size)
        self._checks = EntryChecks(self.db, replay if self.signatures else None, self._watch)
        try:
            if self._watch.vins and old:
                self._read_readings(fetch, old, cp)
            vins = self._read_entries(fetch, edge, start, cp)
            self._checks.finish()
            if edge.root() != cp.root:
                tail = (
                    f"the entries were changed, or the log is not an extension of the one "
                    f"of size {old} the monitor saw"
                    if old
                    else "the log serves entries, or a checkpoint, that are not its own"
                )
                raise MonitorAlert(
                    f"entries {old}–{cp.size - 1} as served do not give the root of the "
                    f"checkpoint of size {cp.size}: {tail}"
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
        self.db.execute("UPDATE watching SET upto = ? WHERE what = 'vin'", (cp.size,))
        if resumed:  # the vehicles of what the interrupted poll read count too
            vins.update(
                vin
                for (vin,) in self.db.execute(
                    "SELECT DISTINCT vin FROM chains WHERE idx >= ? AND idx < ?",
                    (old, start),
                )
            )
        return Poll(
            old,
            cp.size,
            len(vins),
            trust=trust_changes(self.db, old, cp.size),
            resumed_at=start if resumed else None,
        )

    def _stale(self, cp: Checkpoint, old: int, max_stale) -> Poll:
        """An older checkpoint, consistent with the monitor's: entries it read are not
        served. A lagging mirror, or a log restored from a backup: an alert once it
        lasts longer than ``max_stale`` seconds."""
        row = self.db.execute("SELECT since FROM stale").fetchone()
        since = row[0] if row is not None else _now()
        if row is None:
            self.db.execute("INSERT INTO stale (id, since) VALUES (1, ?)", (since,))
        if max_stale is not None:
            started = datetime.strptime(since, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            lasted = (datetime.now(UTC) - started).total_seconds()
            if lasted >= max_stale:
                raise MonitorAlert(
                    f"the log serves a checkpoint of size {cp.size}, older than the one of "
                    f"size {old} the monitor read, and has since {since} ({lasted:.0f} s, "
                    f"the most allowed is {max_stale:g} s): entries {cp.size}–{old - 1}, "
                    "which it published, are not served. A log restored from an older "
                    "backup, or a mirror that stopped following it"
                )
        return Poll(old, old, 0, stale=cp.size, stale_since=since)

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
            return row[0], compact_range(row[0], row[1]), self._load_replay(row[2])
        if row is not None:  # made for another tree than this checkpoint's
            self._delete_past(old)
        state = self.db.execute("SELECT edge FROM state").fetchone()
        trust = self.db.execute("SELECT replay FROM trust").fetchone()
        return (
            old,
            compact_range(old, b"" if state is None else state[0]),
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
        for table in ("chains", "revocations", "facts", "trust_changes", "readings", "watched"):
            self.db.execute(f"DELETE FROM {table} WHERE idx >= ?", (size,))
        tile, within = divmod(size, TILE_WIDTH)
        self.db.execute("DELETE FROM leaf_tiles WHERE n >= ?", (tile + (within > 0),))
        if within:
            self.db.execute(
                "UPDATE leaf_tiles SET hashes = substr(hashes, 1, ?) WHERE n = ?",
                (within * merkle.HASH_SIZE, tile),
            )
        self.db.execute("DELETE FROM pending")

    def compare(self, report, fetch: Fetch | None = None) -> None:
        """Record in ``report`` whether the bundle holds all this monitor saw of its VIN
        (``ledger.monitor_check.check_bundle``)."""
        from ledger.monitor_check import check_bundle

        check_bundle(self, report, fetch)
