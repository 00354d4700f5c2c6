"""How ``ledger.monitor.Monitor`` tells a stale log from a forked one, and where a
fork left the trees it saw.

A checkpoint older than the last one seen is only stale if it is consistent with it:
the same root as a checkpoint seen of that size, the root of the leaves the monitor
kept, or else a consistency proof the log serves (a log that refuses one has no
excuse). Otherwise it is a fork, or a rollback to an older backup; the alert names the
largest tree seen that the log still proves (``Forks._fork_point``).
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable

from core.errors import InvalidInput, VinledgerError
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor_entries import MonitorAlert
from ledger.signing import open_checkpoint
from ledger.tiles import TILE_WIDTH

Fetch = Callable[[str], bytes]
"""GET of a path under the log's base URL (e.g. ``/log/checkpoint``), answering the body."""


class Forks:
    """A mixin of ``ledger.monitor.Monitor``: it reads the monitor's ``db`` (its
    checkpoints and leaf tiles), ``vkey``, ``size`` and ``leaves_since``."""

    db: sqlite3.Connection
    vkey: object
    size: int
    leaves_since: int

    def _check_older(self, fetch: Fetch, cp: Checkpoint, latest: Checkpoint) -> None:
        """A checkpoint no newer than the latest seen: stale if consistent, else a fork."""
        row = self.db.execute("SELECT note FROM checkpoints WHERE size = ?", (cp.size,)).fetchone()
        if row is not None:
            if open_checkpoint(row[0], self.vkey).root != cp.root:
                raise _with_notes(
                    MonitorAlert(
                        f"two checkpoints of size {cp.size} with different roots: a fork "
                        "(both are signed by the log key: the evidence)"
                    ),
                    (cp.size, row[0]),
                )
            return
        mine = self._root_at(cp.size)
        if mine is not None:  # the monitor's own leaves decide, without asking the log
            if mine != cp.root:
                raise MonitorAlert(
                    f"the log served a checkpoint of size {cp.size}, older than the one of "
                    f"size {latest.size} the monitor read, whose root is not that of the "
                    f"first {cp.size} entries the monitor read: a fork (both checkpoints "
                    "are signed by the log key: the evidence)"
                )
            return
        try:
            prove_consistent(fetch, cp, latest)
        except MonitorAlert as err:
            raise MonitorAlert(
                f"the log served a checkpoint of size {cp.size}, older than the one of size "
                f"{latest.size} the monitor read, and {err}: a fork, or a rollback"
            ) from None

    def _root_at(self, size: int) -> bytes | None:
        """The root of the first ``size`` leaves, from the leaf hashes kept (None where
        this state does not keep them all: one an earlier release read)."""
        if self.leaves_since > 0 or size > self.size:
            return None
        tiles = (size + TILE_WIDTH - 1) // TILE_WIDTH
        raw = b"".join(
            bytes(h)
            for (h,) in self.db.execute(
                "SELECT hashes FROM leaf_tiles WHERE n < ? ORDER BY n", (tiles,)
            )
        )
        if len(raw) < size * merkle.HASH_SIZE:
            return None
        step = merkle.HASH_SIZE
        return merkle.root([raw[i : i + step] for i in range(0, size * step, step)])

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


def refused(err: BaseException) -> bool:
    """Whether a failed fetch was the log's own answer refusing it (a 4xx other than a
    timeout or rate limit), not a failure to reach it: ``err.status``, as
    ``api.client.ClientError`` carries it."""
    status = getattr(err, "status", 0) or 0
    return 400 <= status < 500 and status not in (408, 429)


def _with_notes(err: MonitorAlert, *notes: tuple[int, str]) -> MonitorAlert:
    """``err`` with the signed notes (size, note) it stands on, kept as evidence."""
    err.notes = notes
    return err


def prove_consistent(fetch: Fetch, a: Checkpoint, b: Checkpoint) -> None:
    """Raise MonitorAlert unless the log proves the smaller of two trees within the other.
    A log that refuses the request as one for what it does not hold (400 or 422: "size
    larger than the log") proves nothing either: an alert too. A fetch that fails
    otherwise (no answer; 404 or 405 from a mirror that serves no proofs) is
    InvalidInput: not the log's fault as far as anyone can tell."""
    first, second = sorted((a, b), key=lambda c: c.size)
    if first.size == 0 or first.size == second.size:
        if first.size == second.size and first.root != second.root:
            raise MonitorAlert(f"two trees of size {first.size} with different roots")
        return  # the empty tree is in every tree
    path = f"/log/proof/consistency?first={first.size}&second={second.size}"
    try:
        body = fetch(path)
    except Exception as err:
        # Refused as a request for what the log does not hold ("size larger than the
        # log": 400, 422): the log's own answer, proving nothing. Not found or not
        # allowed (404, 405): a mirror that serves tiles but no proofs, no answer.
        if refused(err) and getattr(err, "status", 0) in (400, 422):
            raise MonitorAlert(f"the log refuses to prove them consistent ({err})") from None
        raise InvalidInput(f"the consistency proof could not be fetched: {err}") from None
    try:
        hashes = [base64.b64decode(h, validate=True) for h in json.loads(body)["hashes"]]
        merkle.verify_consistency(first.size, second.size, hashes, first.root, second.root)
    except (VinledgerError, ValueError, KeyError, TypeError) as err:
        raise MonitorAlert(f"the log does not prove them consistent: {err}") from None
