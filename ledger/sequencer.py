"""The sequencer: the one place where the log grows.

A batch of already-verified submissions is appended in one database transaction that
first locks ``log_state`` (``SELECT … FOR UPDATE`` on PostgreSQL, ``BEGIN IMMEDIATE``
on SQLite), so any number of API processes may share one database and still extend
one linear log. Within the lock every submission is checked once more against the
state of the log at that point (key granted and not revoked, role may submit the
kind, corrections and sales reference what they may: ``ledger.trust``), gets its
index and its VIN chain link, and the batch ends with one signed checkpoint.

What the ledger adds after a submission, in the same transaction, comes from its
follows (``Follow``): a claim's decision, a sale's private commissions.

A submission refused inside the batch is answered with its error and leaves no
trace; the others go on. If the transaction fails, nothing of the batch was
acknowledged and nothing is kept.
"""

from __future__ import annotations

import base64
import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import msgspec
from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.dsse import Envelope
from core.errors import (
    Conflict,
    ForkRisk,
    PluginFailed,
    StorageUnavailable,
    TooLarge,
    VinledgerError,
)
from core.records import Record
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.continuity import read_mark
from ledger.entry import FORMAT_VERSION, MAX_ENTRY_BYTES, Entry, Signer, encode_entry
from ledger.reader import inclusion_proofs
from ledger.schema import CheckpointRow, EntryRow, NodeRow
from ledger.signing import LogSigner
from ledger.storage import (
    SigningKey,
    Store,
    actor_role,
    driver_time,
    entries_leaf_and_data,
    granted_keys,
    indexes_by_digest,
    insert_rows,
    lock_log_state,
    read_nodes,
    set_log_size,
    utcnow,
    vin_heads,
)
from ledger.trust import apply_trust_effects, authorise

# Plain Core statements on the session's connection: the sequencer writes rows, never
# ORM objects, so each batch pays for its statements and not for a unit of work.
_ENTRIES = EntryRow.__table__
_NODES = NodeRow.__table__
_INSERT_CHECKPOINT = insert(CheckpointRow.__table__)


@dataclass(frozen=True)
class Submission:
    """A record whose envelope signature has been verified with the key ``keyid``.

    ``derived`` is what the ledger worked out from the record before the lock (a
    provider's normalised inspection, a sale's terms); it is stored in the entry.
    """

    envelope: Envelope
    record: Record
    digest: bytes
    keyid: str
    derived: dict | None = None


class Follow(Protocol):
    """What the ledger adds right after a submission of ``kinds``: entries it appends
    (a claim's decision), and private rows it keeps beside the entry (a sale's
    commissions, ``plugins.commission_settling.CommissionRecorder``).

    Called inside the lock, once the submission's entry is built and fits, with the
    session (which sees every entry placed so far), the submission, the index it will
    get, its signer and the time the batch is logged (its entries' ``sequenced_at``).
    Rows it writes through the session are committed with the entry or not at all. If
    it raises, the submission is refused and nothing of it is placed; so one that
    writes must write only after the last thing it may raise. One that reads no
    entries says ``reads_log = False``, and the batch's entries are not written for it
    first (the batch stays one insert).
    """

    kinds: frozenset[str]

    def __call__(
        self, s: Session, sub: Submission, index: int, actor_id: str, logged_at: datetime
    ) -> list[Submission]: ...


class BatchProofs:
    """Inclusion proofs of a batch's answers in the tree it grew to, made when first used.

    Proofs of the batch's new entries need only nodes the sequencer had in memory (the
    compact range it started from and every node the batch completed), so they are
    computed after the commit, outside the lock, and only if someone asks: a receipt
    does, a bulk load need not. Proofs of entries that were already in the log (a
    replayed envelope) need stored nodes and are read inside the transaction.
    """

    def __init__(self, indexes: list[int], size: int, known: dict, ready: dict[int, list[bytes]]):
        self._indexes = indexes
        self._size = size
        self._known = known
        self._proofs = ready
        self._lock = threading.Lock()

    def __getitem__(self, index: int) -> list[bytes]:
        with self._lock:
            if self._indexes:
                known = self._known
                made = merkle.inclusion_proofs(
                    self._indexes, self._size, lambda coords: [known[c] for c in coords]
                )
                self._proofs.update(made)
                self._indexes, self._known = [], {}
        return self._proofs[index]


@dataclass(frozen=True)
class Appended:
    index: int
    leaf_hash: bytes
    entry: bytes
    created: bool  # False: the same envelope was already in the log
    size: int
    checkpoint: str
    proofs: BatchProofs = dataclasses.field(repr=False, compare=False)

    @property
    def proof(self) -> list[bytes]:
        """PATH(index, D[0:size]), RFC 9162 §2.1.3.1."""
        return self.proofs[self.index]


Outcome = Appended | VinledgerError


def format_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class Batch:
    """The state of one batch while it is being sequenced."""

    def __init__(self, s: Session, size: int, rng: merkle.CompactRange, now: datetime):
        self.s = s
        self.c = s.connection()
        self.start = size
        self.rng = rng
        self.now = now
        self.sequenced_at = format_time(now)  # as entries spell it
        self.row_time = driver_time(self.c, _ENTRIES.c.sequenced_at, now)  # as rows store it
        self.heads: dict[str, tuple[int, bytes] | None] = {}
        self.digests: dict[bytes, int] = {}  # placed in this batch
        self.existing: dict[bytes, int] = {}  # already in the log
        self.keys: dict[str, SigningKey | None] = {}
        self.roles: dict[str, str | None] = {}  # actor id -> role (None: no such actor)
        self.entry_rows: list[dict] = []  # every entry of the batch
        self.unwritten = 0  # how many at the end of entry_rows are not inserted yet
        self.node_rows: dict[tuple[int, int], bytes] = {}

    def write_entries(self) -> None:
        """Insert the entries placed so far, so queries in this transaction see them."""
        if self.unwritten:
            insert_rows(self.c, _ENTRIES, self.entry_rows[-self.unwritten :])
            self.unwritten = 0

    @property
    def next_index(self) -> int:
        return self.rng.size

    def prefetch(self, subs: list[Submission]) -> None:
        """What the checks of a batch read, in a few queries instead of a few per item."""
        self.existing = indexes_by_digest(self.c, [sub.digest for sub in subs])
        vins = sorted({v for sub in subs if (v := getattr(sub.record, "vin", None))})
        self.heads.update(vin_heads(self.c, vins))
        keyids = sorted({sub.keyid for sub in subs} - self.keys.keys())
        found = granted_keys(self.c, keyids)
        self.keys.update({k: found.get(k) for k in keyids})

    def head(self, vin: str) -> tuple[int, bytes] | None:
        if vin not in self.heads:
            self.heads.update(vin_heads(self.c, [vin]))
        return self.heads[vin]

    def key(self, keyid: str) -> SigningKey | None:
        if keyid not in self.keys:
            self.keys[keyid] = granted_keys(self.c, [keyid]).get(keyid)
        return self.keys[keyid]

    def role(self, actor_id: str) -> str | None:
        if actor_id not in self.roles:
            self.roles[actor_id] = actor_role(self.c, actor_id)
        return self.roles[actor_id]


class Sequencer:
    def __init__(
        self,
        store: Store,
        signer: LogSigner,
        follow: Follow | Sequence[Follow] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        """``follow``: one ``Follow`` or several, called in order for the kinds each
        takes. ``clock``: the time a batch is logged, read inside the lock (aware UTC)."""
        self.store = store
        self.signer = signer
        if follow is None:
            follow = ()
        self.follows = tuple(follow) if isinstance(follow, Sequence) else (follow,)
        self.clock = clock
        # The latest checkpoint this process knows was published (size, root): the
        # last it signed, or the data directory's mark (``watch_mark``), which every
        # process serving the log keeps current. A database found behind it, or at
        # its size with another root, was restored or replaced under the running
        # server, and signing on would fork the log (ledger/continuity.py guards the
        # start; this, every batch, at the cost of a comparison and a small read).
        self._signed: tuple[int, bytes] | None = None
        self._signed_lock = threading.Lock()
        self._mark: tuple[Path, str] | None = None
        self._mark_seen: bytes | None = None  # the mark as last read

    def watch_mark(self, path: Path, vkey: str) -> None:
        """Compare every batch's database with the published mark at ``path`` too, as
        it stands then: a process that signed nothing yet (another worker, a second
        server on the same database, the CLI) learns there what the others published."""
        self._mark, self._mark_seen = (path, vkey), None

    # ---- the batch ---------------------------------------------------------------

    def sequence(
        self, subs: list[Submission], *, genesis: bool = False, atomic: bool = False
    ) -> list[Outcome]:
        """Append what may be appended of ``subs``; one outcome each, in order.

        ``atomic``: all or nothing; the first refusal is raised and nothing is kept
        (an actor and its key grant, say)."""
        signed = None
        with self.store.sequencer_lock(), self.store.writer.begin() as s:
            c = s.connection()
            size = lock_log_state(c)
            now = self.clock()  # in the lock: batches are logged in time order
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # as entries say
            if genesis and size:
                raise Conflict("the log already has entries; it can be initialised only once")
            edge = merkle.CompactRange.coords(size)
            edge_hashes = read_nodes(c, edge)
            rng = merkle.CompactRange(size, edge_hashes)
            self._check_not_behind(c, size, rng)
            batch = Batch(s, size, rng, now)
            batch.prefetch(subs)
            placed = [self._place(batch, sub, genesis) for sub in subs]
            if atomic and (refused := [p for p in placed if not isinstance(p, tuple)]):
                raise refused[0]  # leaves the transaction, which rolls back
            if rng.size > size:
                batch.write_entries()
                insert_rows(
                    c,
                    _NODES,
                    [{"level": lv, "n": n, "hash": h} for (lv, n), h in batch.node_rows.items()],
                )
                root = rng.root()
                note = self.signer.sign(Checkpoint(self.signer.origin, rng.size, root))
                c.execute(
                    _INSERT_CHECKPOINT,
                    {"size": rng.size, "root": root, "note": note, "created_at": now},
                )
                set_log_size(c, rng.size)
                signed = (rng.size, root)
            else:
                note = self.signer.latest_note(s)
            final = rng.size
            indexes = sorted({p[0] for p in placed if isinstance(p, tuple)})
            known = {**dict(zip(edge, edge_hashes, strict=True)), **batch.node_rows}
            old = [i for i in indexes if i < size]
            proofs = BatchProofs(
                [i for i in indexes if i >= size],
                final,
                known,
                inclusion_proofs(c, old, final, known) if old else {},
            )
            rows = {r["idx"]: r for r in batch.entry_rows}
            stored = entries_leaf_and_data(c, old) if old else {}
            outcomes: list[Outcome] = []
            for p in placed:
                if not isinstance(p, tuple):
                    outcomes.append(p)
                    continue
                index, created = p
                row = rows.get(index)
                leaf, data = stored[index] if row is None else (row["leaf_hash"], row["data"])
                outcomes.append(Appended(index, leaf, data, created, final, note, proofs))
        if signed is not None:  # committed: a batch that failed at commit signed nothing
            self._advance_signed(signed)
        return outcomes

    def _advance_signed(self, signed: tuple[int, bytes]) -> None:
        """Only forwards: batches of other threads may finish in any order."""
        with self._signed_lock:
            if self._signed is None or signed[0] > self._signed[0]:
                self._signed = signed

    def _read_mark(self) -> None:
        """Advance to the mark if its bytes changed since it was last read (a file of
        ~200 bytes read each batch: its stat could match after a change, on a file
        system with coarse times that reuses the inode). ForkRisk if it cannot be
        read or is not this log's."""
        if self._mark is None:
            return
        path, vkey = self._mark
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as err:
            raise ForkRisk(
                f"cannot read {path} ({err.strerror or err}): the ledger checks every batch "
                "against the latest checkpoint it published, kept there; make the data "
                "directory readable by the ledger. Nothing was appended"
            ) from None
        if raw == self._mark_seen:
            return
        published = read_mark(path, vkey)
        if published is not None:
            self._advance_signed((published.size, published.root))
        self._mark_seen = raw

    def _check_not_behind(self, c, size: int, rng: merkle.CompactRange) -> None:
        self._read_mark()
        signed = self._signed
        if signed is None:
            return
        if size > signed[0]:
            # Grown by another writer (a worker, a server, the CLI): its tree must hold
            # the one this server signed; then it is the one to compare with next.
            try:
                coords = merkle.CompactRange.coords(signed[0])
                past = merkle.CompactRange(signed[0], read_nodes(c, coords)).root()
            except KeyError:  # a node of that tree is not even stored
                past = None
            if past == signed[1]:
                self._advance_signed((size, rng.root()))
                return
        if size != signed[0] or rng.root() != signed[1]:
            raise ForkRisk(
                f"the database holds {size} entries, but this log published a checkpoint "
                f"of {signed[0]}{' with another root' if size == signed[0] else ''}"
                f"{', and its tree does not hold it' if size > signed[0] else ''}: it "
                "was restored or replaced while the server ran. Nothing was appended; "
                "the operator must stop the server (docs/reliability.md, 'Backups and "
                "restores')"
            )

    def _followers(self, b: Batch, sub: Submission, actor_id: str) -> list[Submission]:
        """What the follows that take ``sub``'s kind add after it. A bug in one (or in a
        plugin it asks) refuses this submission only, not the batch; a database error
        still fails the batch, as the transaction may be unusable."""
        followers: list[Submission] = []
        for follow in self.follows:
            if sub.record.kind not in follow.kinds:
                continue
            if getattr(follow, "reads_log", True):
                b.write_entries()  # so that its queries see every entry placed so far
            try:
                followers += follow(b.s, sub, b.next_index, actor_id, b.now)
            except (VinledgerError, SQLAlchemyError):
                raise
            except Exception as err:
                name = getattr(follow, "name", type(follow).__name__)
                raise PluginFailed(name, f"{type(err).__name__}: {err}") from err
        return followers

    def _place(
        self, b: Batch, sub: Submission, genesis: bool, followed: bool = False
    ) -> VinledgerError | tuple[int, bool]:
        """Check one submission against the log as it stands and give it an index.

        ``followed``: the ledger's own entry right after the one it follows (a claim's
        decision). Answers the error, or the index and whether this call created it.
        """
        try:
            if sub.digest in b.digests:
                return b.digests[sub.digest], False
            if sub.digest in b.existing:
                return b.existing[sub.digest], False
            actor_id = authorise(b, sub, genesis, followed)
            index = b.next_index
            vin = getattr(sub.record, "vin", None)
            seq, prev = 0, None
            if vin is not None:
                head = b.head(vin)
                if head is not None:
                    seq, prev = head[0] + 1, base64.b64encode(head[1]).decode()
            entry = Entry(
                v=FORMAT_VERSION,
                index=index,
                kind=sub.record.kind,
                vin=vin,
                vin_seq=seq if vin is not None else None,
                prev=prev,
                sequenced_at=b.sequenced_at,
                signer=Signer(keyid=sub.keyid, actor_id=actor_id),
                envelope=sub.envelope,
                derived=msgspec.UNSET if sub.derived is None else sub.derived,
            )
            data = encode_entry(entry)
            if len(data) > MAX_ENTRY_BYTES:
                raise _too_large(entry, len(data))
            # Last but the trust effects, which no follow's kind has: rows a follow
            # writes are never left behind by a refusal after it.
            followers = self._followers(b, sub, actor_id)
            apply_trust_effects(b, sub.record, index)
            leaf = merkle.hash_leaf(data)
            for level, n, h in b.rng.append(leaf):
                b.node_rows[(level, n)] = h
            if vin is not None:
                b.heads[vin] = (seq, leaf)
            b.digests[sub.digest] = index
            b.entry_rows.append(
                {
                    "idx": index,
                    "leaf_hash": leaf,
                    "data": data,
                    "digest": sub.digest,
                    "kind": sub.record.kind,
                    "vin": vin,
                    "vin_seq": seq if vin is not None else None,
                    "keyid": sub.keyid,
                    "actor_id": actor_id,
                    "sequenced_at": b.row_time,
                }
            )
            b.unwritten += 1
            for follower in followers:
                outcome = self._place(b, follower, genesis, followed=True)
                if isinstance(outcome, VinledgerError):  # the ledger's own entry: a bug
                    raise RuntimeError(f"the ledger could not append its own entry: {outcome}")
            return index, True
        except StorageUnavailable:
            raise  # the database, not this submission: the whole batch fails and rolls back
        except VinledgerError as err:
            return err


def _too_large(entry: Entry, size: int) -> VinledgerError:
    """Whose fault an entry over ``MAX_ENTRY_BYTES`` is, and what to do about it.

    The submitter's if the entry is too large without what plugins derived from the
    record; otherwise the plugin whose output made it so (a policy's terms, a
    provider's normalised inspection), which the submitter cannot fix.
    """
    bare = len(encode_entry(msgspec.structs.replace(entry, derived=msgspec.UNSET)))
    derived = entry.derived if isinstance(entry.derived, dict) else {}
    terms = [t for t in derived.get("terms", []) if isinstance(t, dict)]
    if bare > MAX_ENTRY_BYTES or not (terms or "provider" in derived):
        return TooLarge(
            f"the entry would be {size} bytes; an entry is at most {MAX_ENTRY_BYTES} "
            "bytes. Put large documents in attachments (referenced by SHA-256) instead "
            "of the record."
        )
    if terms:
        largest = max(terms, key=lambda t: len(msgspec.json.encode(t)))
        plugin = str(largest.get("policy"))
        what = (
            f"policy {plugin!r} (version {largest.get('version')}) stated terms of "
            f"{len(msgspec.json.encode(largest)):,} bytes"
        )
    else:
        plugin = str(derived["provider"]).split("/")[0]
        record = len(msgspec.json.encode(derived.get("record")))
        what = f"provider {derived['provider']!r} normalised the report into {record:,} bytes"
    return PluginFailed(
        plugin,
        f"{what}, which make the entry {size:,} bytes, over the {MAX_ENTRY_BYTES:,} an "
        f"entry may hold (the submission alone makes {bare:,}). This is a fault in the "
        "plugin, not in the submission: tell its maintainer (`vinledger plugins` lists "
        "the plugin that registers it)",
    )
