"""A log that only grows: what a ledger checks before it signs anything more.

A database restored from a backup taken before the ledger's latest checkpoints would
take the indexes it already gave away and sign a second tree over them: a fork, which
every monitor that saw the first tree proves with two signed checkpoints, and which
voids the receipts partners hold. Storage cannot notice its own rollback, so the
ledger keeps the latest checkpoint it published beside its keys (as Sunlight keeps
its latest checkpoint apart from its tiles), in ``published-checkpoint`` in the data
directory, and refuses a database that is behind it or holds another tree at its
size. It also refuses a database whose checkpoints another log key signed (the data
directory of another log pointed at this database, or a replaced ``log.key``).

The mark is advanced when a ledger is opened on a database that is ahead of it and
consistent with it, after each command that appends, and every few seconds while a
server runs. A mark a second behind is harmless: only a database behind the mark is
refused, and a restored backup is hours behind.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.errors import ForkRisk, VerificationError, VinledgerError
from core.note import parse_note, parse_verifier_key
from ledger import merkle
from ledger.checkpoint import Checkpoint, parse_checkpoint
from ledger.signing import open_checkpoint
from ledger.storage import Store, latest_checkpoint, log_size, read_nodes, stored_utc

MARK = "published-checkpoint"
log = logging.getLogger(__name__)


def mark_path(data_dir: Path) -> Path:
    return data_dir / MARK


def read_mark(path: Path, vkey: str) -> Checkpoint | None:
    """The checkpoint in the mark, if there is one. ForkRisk if it cannot be read, is
    damaged, or this log key did not sign it (the file belongs to another log)."""
    try:
        note = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise ForkRisk(
            f"cannot read {path} ({getattr(err, 'strerror', None) or err}): the ledger checks "
            "every database against the latest checkpoint it published, kept there; make "
            "the data directory readable and writable by the ledger"
        ) from None
    try:
        parse_checkpoint(parse_note(note).text)
    except VinledgerError as err:
        raise ForkRisk(
            f"{path} is damaged ({err}); it is replaced whole, so something else changed "
            "it. Put back a copy of it; remove it only if you know the database holds "
            "everything this log published"
        ) from None
    try:
        return open_checkpoint(note, vkey)
    except VinledgerError as err:
        raise ForkRisk(
            f"{path} holds a checkpoint this ledger's log key did not sign ({err}): it "
            "belongs to another log. Put back this ledger's own file, or remove it if "
            "this data directory never served this log"
        ) from None


def write_mark(path: Path, note: str) -> None:
    """Replace the mark atomically and durably: a crash leaves the old or the new one,
    whole. ForkRisk, in one line, if the data directory takes no writes."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as f:
            f.write(note)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except OSError as err:
        raise ForkRisk(
            f"cannot write {path} ({err.strerror or err}): the ledger keeps the latest "
            "checkpoint it published there, to refuse a database restored from an older "
            "backup; make the data directory writable by the ledger"
        ) from None
    _sweep(path)


def _sweep(path: Path) -> None:
    """Remove temporary marks of processes that died before replacing the mark."""
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        try:
            pid = int(tmp.name.rsplit(".", 2)[-2])
            if pid != os.getpid():
                os.kill(pid, 0)  # alive (or not ours to signal): leave its file
        except ProcessLookupError:
            tmp.unlink(missing_ok=True)
        except (ValueError, OSError):
            pass


def _signer_of(note: str) -> str:
    """The key names and hashes a stored checkpoint is signed with, for the message."""
    try:
        sigs = parse_note(note).signatures
    except VinledgerError:
        return "a key this ledger cannot read"
    return ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in sigs) or "no key"


def _signed_by(note: str, vkey: str) -> bool:
    """Whether ``note`` carries a signature naming this log key (its name and key hash),
    whether or not it verifies."""
    try:
        verifier = parse_verifier_key(vkey)
        sigs = parse_note(note).signatures
    except VinledgerError:
        return False
    return any((s.name, s.key_hash) == (verifier.name, verifier.key_hash) for s in sigs)


def check_continuity(store: Store, vkey: str, mark: Path) -> tuple[int, str] | None:
    """Raise ForkRisk unless the database's checkpoints are this log key's and its tree
    extends the published mark. Returns the database's latest checkpoint, as (size,
    signed note), None for a log that has none yet: the mark it may advance to."""
    with store.reader() as c:
        row = latest_checkpoint(c)
        published = read_mark(mark, vkey)
        if row is None:
            if published is not None and published.size > 0:
                raise _behind(mark, published, 0)
            return None
        try:
            latest = open_checkpoint(row.note, vkey)
        except VerificationError as err:
            if _signed_by(row.note, vkey):  # this key's signature, over other text
                raise ForkRisk(
                    f"the database's latest checkpoint carries a signature of this log key, "
                    f"but it does not verify ({err}): the checkpoint was changed after it "
                    "was signed (the database is damaged or was tampered with). Restore the "
                    "database from a backup; `vinledger audit` on a copy names what else "
                    "changed"
                ) from None
            raise ForkRisk(
                f"the database's checkpoints are signed by {_signer_of(row.note)}, not by "
                f"this data directory's log key ({vkey}): the data directory belongs to "
                "another log, or its log.key was replaced. Serve the database with the "
                "data directory that created it; signing on with this key would give "
                "the log two keys no client trusts together"
            ) from None
        if published is None or published.size == 0:
            return latest.size, row.note
        size = log_size(c)
        if size < published.size:
            raise _signed_since(mark, published, row) or _behind(mark, published, size)
        if published.size <= latest.size:
            try:
                root = merkle.tree_hash(published.size, lambda coords: read_nodes(c, coords))
            except KeyError as err:  # a node of that tree is not stored at all
                missing = err.args[0] if err.args else "a tree node is missing"
                raise ForkRisk(
                    f"the tree of {published.size} entries this ledger published ({mark}) "
                    f"cannot be read from the database ({missing}): it is damaged or not "
                    "this log's. `vinledger audit` on a copy of the data directory without "
                    "that file names what is wrong"
                ) from None
            if root != published.root:
                raise ForkRisk(
                    f"the database's tree of {published.size} entries is not the one this "
                    f"ledger published ({mark}): its entries differ from those partners "
                    "and monitors were given. Restore the database this ledger served, or "
                    "start a new log (a new origin and log key) and say so to its users"
                )
        return latest.size, row.note


def _behind(mark: Path, published: Checkpoint, size: int) -> ForkRisk:
    lost = published.size - size
    return ForkRisk(
        f"the database holds {size} entries, but this ledger published a checkpoint of "
        f"{published.size} ({mark}): it was restored from an older backup, or is another "
        f"database. Signing on would give {lost} published entr{'y' if lost == 1 else 'ies'} "
        "other contents (a fork that monitors prove, voiding partners' receipts). Restore "
        "a backup that holds them all, or start a new log (a new origin and log key) and "
        f"tell its users; remove {mark} only if it is not this log's"
    )


SKEW = timedelta(minutes=2)  # how far the signing host's and the file system's clocks may differ


def _signed_since(mark: Path, published: Checkpoint, row) -> ForkRisk | None:
    """A database behind the mark whose latest checkpoint was signed after the mark was
    written (by more than ``SKEW``: the checkpoint's time is the signing host's clock,
    the mark's the file system's): the log key has signed a fork already (something
    that skipped these checks appended to a restored database); the usual advice not to
    sign on comes too late."""
    try:
        written = datetime.fromtimestamp(mark.stat().st_mtime, UTC)
    except OSError:
        return None
    at = stored_utc(row.created_at)
    if at <= written + SKEW:  # a standby a batch behind, or clocks that disagree a little
        return None
    return ForkRisk(
        f"the database holds a checkpoint of {row.size} entries signed at "
        f"{at:%Y-%m-%d %H:%M:%S} UTC, after this ledger published one of {published.size} "
        f"({mark}, written {written:%Y-%m-%d %H:%M:%S} UTC): the log key has already signed "
        "a fork, and monitors that saw both checkpoints hold the evidence. Stop every "
        "process that appends to this database; then start a new log (a new origin and "
        "log key) and tell its users, or restore a backup that holds all "
        f"{published.size} entries and tell the partners given receipts after "
        f"{written:%Y-%m-%d %H:%M} UTC that theirs are void (docs/reliability.md, "
        "'Backups and restores')"
    )


def record_mark(store: Store, vkey: str, mark: Path) -> None:
    """Advance the mark to the database's latest checkpoint, once the database is known
    to extend it (``check_continuity``): a database swapped or rolled back under a
    running server never becomes the mark. Several processes may share the data
    directory: the mark may lag by one writer's round, never run ahead of the log."""
    latest = check_continuity(store, vkey, mark)
    if latest is not None and latest[0] > _size_of(mark):
        write_mark(mark, latest[1])


def _size_of(mark: Path) -> int:
    try:
        return parse_checkpoint(parse_note(mark.read_text()).text).size
    except (OSError, VinledgerError):
        return -1


class MarkKeeper:
    """A server's part: check before serving, then keep the mark current every
    ``interval`` seconds in a daemon thread, and once more at shutdown. A database
    found off the mark while serving (swapped, restored, failed over to a standby that
    lags) is logged each round and kept in ``problem``, which ``/readyz`` answers as
    503; the mark is left as it was, the evidence of what was published."""

    def __init__(self, store: Store, vkey: str, mark: Path, interval: float = 2.0):
        self.store = store
        self.vkey = vkey
        self.mark = mark
        self.interval = interval
        self.problem: ForkRisk | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        record_mark(store, vkey, mark)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="published-mark", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def _record(self) -> None:
        try:
            record_mark(self.store, self.vkey, self.mark)
        except ForkRisk as err:
            self.problem = err
            log.error("the log would fork: %s", err)
        except Exception as err:  # an outage: the next round tries again
            log.warning("could not record the published checkpoint in %s: %s", self.mark, err)
        else:
            self.problem = None

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._record()
