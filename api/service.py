"""The use cases: what the HTTP API and the CLI do, tied together once.

``Ledger`` checks a submission (``api.service_checks``) before it queues it for the
sequencer, which checks key validity and role once more inside its lock; it reads
histories and bundles, and does the operator's work. Bad input raises a
``core.errors`` error and changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from api.config import Settings
from api.metrics import count_outcomes, observe_batch
from api.service_checks import SubmissionChecks, _Remembered, _WouldBlock, check_text
from api.service_dealers import DealersAndReferrals
from core import dsse
from core.corrections import apply_corrections
from core.errors import (
    Conflict,
    InvalidInput,
    InvalidRecord,
    NotFound,
    VinledgerError,
)
from core.fields import parse_time
from core.history import analyse
from core.keys import key_id, load_public_key, public_key_raw
from core.records import encode_record, parse_record
from core.roles import article
from core.vin import decode_vin, validate_vin
from ledger.batcher import GroupCommit
from ledger.bundle import Bundle, build_bundle
from ledger.continuity import mark_path
from ledger.entry import decode_entry, record_bytes
from ledger.reader import LogReader
from ledger.sequencer import Appended, Outcome, Sequencer, Submission
from ledger.signing import LogSigner
from ledger.storage import (
    Store,
    entries_for_vin,
    entry_by_index,
    get_actor,
    get_key,
    keys_of_actor,
    utcnow,
)
from plugins.claims import ClaimDecider
from plugins.commission_settling import CommissionRecorder
from plugins.manager import create_plugin_manager
from plugins.registry import DaemonPool, Registry

# How long the server trusts its own check of a vehicle's bundle for the badge (as
# long as browsers keep the badge): an anonymous request must not cost a full
# verification each time (a VIN with thousands of entries takes over a second).
VERDICT_SECONDS = 300.0
# Submission checks that leave the event loop may run plugin code (a sale's policies and
# referral, a provider's report) and wait on it up to plugin_timeout_seconds: they run in
# threads of their own, never in asyncio's default executor, which the reads and /readyz
# use, so that a plugin that hangs holds neither them nor the server's shutdown.
PLUGIN_CHECK_THREADS = 32


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _revocation(s, key_id: str) -> dict[str, Any] | None:
    """A key's revocation, if the operator revoked it: its log index, when it was logged
    and the reason given (the page marks the entries signed with it: api.pages)."""
    key = get_key(s, key_id)
    if key is None or key.revoked_idx is None:
        return None
    row = entry_by_index(s, key.revoked_idx)
    if row is None:
        return None
    revoke = decode_entry(row.data)
    reason = msgspec.json.decode(record_bytes(revoke)).get("reason", "")
    return {"index": key.revoked_idx, "at": revoke.sequenced_at, "reason": reason}


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _logged_by(sequenced_at: Any, by: datetime) -> bool:
    """Whether an entry logged at ``sequenced_at`` (as entries spell it) was by ``by``.
    A time an older log holds that does not parse counts as logged then."""
    try:
        return not isinstance(sequenced_at, str) or parse_time(sequenced_at) <= by
    except InvalidRecord:
        return True


class Ledger(SubmissionChecks, DealersAndReferrals):
    def __init__(
        self,
        settings: Settings,
        store: Store | None = None,
        registry: Registry | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        """``clock``: the ledger's time (aware UTC), by which it judges a record's
        date (not in the future; a claim filed when it happened)."""
        self.settings = settings
        self.clock = clock
        self.store = store or Store(settings.database_url)
        self.store.upgrade_schema()  # a database an earlier release made gains what it lacks
        self.signer = LogSigner(settings.origin, settings.log_key())
        self.plugins = registry or Registry(
            create_plugin_manager(settings.disabled_plugins),
            call_timeout=settings.plugin_timeout_seconds,
            time_zone=settings.time_zone,
        )
        self.sequencer = Sequencer(
            self.store,
            self.signer,
            follow=(
                ClaimDecider(self.plugins, settings.operator_key),  # read when it signs
                CommissionRecorder(self.plugins),
            ),
            clock=lambda: self.clock(),
        )
        self.sequencer.watch_mark(mark_path(settings.data_dir), self.signer.vkey)
        self.reader = LogReader(self.store)
        self._batcher: GroupCommit | None = None
        self._batcher_lock = threading.Lock()  # one group commit, whoever asks first
        self._keys = _Remembered()  # key IDs -> the granted key among them
        self._verdicts = _Remembered()  # (VIN, its latest index) -> does its bundle verify
        self._figures_lock = threading.Lock()  # dealers' figures: one computes at a time
        self._plugin_checks = DaemonPool("vinledger-plugin-checks", PLUGIN_CHECK_THREADS)

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    def close(self) -> None:
        """Commit what is queued and release the database; a later submission starts a
        new group commit (an app's shutdown closes the ledger it was given)."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        if batcher is not None:
            batcher.close()
        self.store.dispose()

    # ---- submissions -----------------------------------------------------------

    def _batcher_for_loop(self) -> GroupCommit:
        with self._batcher_lock:  # two threads asking at once must not start two
            if self._batcher is None:
                self._batcher = GroupCommit(self.sequencer, observe=observe_batch)
            return self._batcher

    async def submit(self, raws: list[bytes]) -> list[Outcome]:
        """Check and append many envelopes; one outcome (or error) per envelope."""
        # One envelope is checked right here (~0.3 ms, mostly the signature) when that
        # needs no database and no plugin: handing it to a thread cost more than that and
        # kept group commit from gathering work. Anything that would wait goes to a thread.
        try:
            if len(raws) != 1:
                raise _WouldBlock
            checked = self._check_all(raws, may_block=False)
        except _WouldBlock:
            # Any of them may wait on a plugin (a sale, however its JSON spells "sale"; a
            # provider's report): in the checks' own threads, never the shared pool.
            pool = self._plugin_checks
            checked = await asyncio.wrap_future(pool.submit(self._check_all, raws))
        subs = [c for c in checked if isinstance(c, Submission)]
        try:
            outcomes = iter(await asyncio.wrap_future(self._batcher_for_loop().submit(subs)))
        except VinledgerError as err:  # none appended (503 busy, read-only, fork risk...)
            count_outcomes([err if isinstance(c, Submission) else c for c in checked])
            raise
        answers = [next(outcomes) if isinstance(c, Submission) else c for c in checked]
        count_outcomes(answers)
        return answers

    def submit_now(self, raws: list[bytes]) -> list[Outcome]:
        """As ``submit``, in the caller's thread (CLI, demo seeding)."""
        checked = self._check_all(raws)
        subs = [c for c in checked if isinstance(c, Submission)]
        outcomes = iter(self.sequencer.sequence(subs) if subs else [])
        return [next(outcomes) if isinstance(c, Submission) else c for c in checked]

    # ---- trust roots (signed by the operator key) --------------------------------

    def _operator_append(self, records: list, *, genesis: bool = False) -> list[Appended]:
        subs = []
        op_key = self.settings.operator_key()
        op_id = key_id(op_key.public_key())
        for record in records:
            payload = encode_record(record)
            check_text(payload)  # an actor's name, a revocation's reason
            env = dsse.sign_envelope(payload, op_key)
            subs.append(Submission(env, record, dsse.envelope_digest(env), op_id))
        outcomes = self.sequencer.sequence(subs, genesis=genesis, atomic=True)
        # Signatures are deterministic and times are to the second: the same operation
        # repeated within a second signs the same bytes, which would answer as the
        # earlier entry while the operation itself (a grant after a revocation) is not
        # done. Say so instead of reporting success.
        for o in outcomes:
            if not o.created:
                raise Conflict(
                    f"the same record is already in the log at index {o.index} (the same "
                    "operation a moment ago); nothing was appended. Check the ledger's "
                    "state and try again if it is still needed",
                    index=o.index,
                )
        return outcomes

    def operator_submit(self, payload: bytes) -> Appended:
        """A record the operator files (a dispute, a complaint, a correction, a recall),
        signed with the operator key and checked like anyone's submission."""
        env = dsse.sign_envelope(payload, self.settings.operator_key())
        (outcome,) = self.submit_now([dsse.encode_envelope(env)])
        if isinstance(outcome, VinledgerError):
            raise outcome
        return outcome

    def genesis(self, name: str = "Ledger operator") -> list[Appended]:
        """Entries 0 and 1: the operator actor and the grant of its own key."""
        from core.records import Actor, KeyGrant

        pub = self.settings.operator_key().public_key()
        at = now_rfc3339()
        return self._operator_append(
            [
                Actor(actor_id="operator", name=name, role="operator", occurred_at=_dt(at)),
                KeyGrant(
                    actor_id="operator",
                    public_key=base64.b64encode(public_key_raw(pub)).decode(),
                    key_id=key_id(pub),
                    occurred_at=_dt(at),
                ),
            ],
            genesis=True,
        )

    def add_actor(
        self, actor_id: str, name: str, role: str, public_key_pem: bytes, upline: str | None = None
    ) -> list[Appended]:
        from core.records import Actor, KeyGrant
        from ledger.trust import upline_not_a_referrer

        pub = load_public_key(public_key_pem)
        at = _dt(now_rfc3339())
        if upline == actor_id:
            raise InvalidInput(f"actor {actor_id!r} cannot be its own upline")
        with self.store.reader() as s:
            actor = get_actor(s, actor_id)
            above = None if upline is None else get_actor(s, upline)
            if upline is not None and above is None:
                raise NotFound(f"upline {upline!r} is no actor on this ledger; add it first")
        if actor is None and above is not None and above.role != "referrer":
            raise InvalidInput(upline_not_a_referrer(upline, above.role), field="upline")
        if actor is not None and (
            actor.role != role or (upline is not None and upline != actor.upline)
        ):
            # Another key for an existing actor is fine; another role is a mistake.
            was = f"{article(actor.role)} {actor.role}"
            was += f" under {actor.upline!r}" if actor.upline else ""
            raise Conflict(
                f"actor {actor_id!r} already exists as {was}; to grant it another key, "
                f"give the same role{' and upline' if actor.upline else ''}, or choose "
                "another actor id (--id)"
            )
        if actor is not None and actor.name != name:
            # An actor entry is never rewritten: another name would be dropped unsaid.
            raise Conflict(
                f"actor {actor_id!r} already exists under the name {actor.name!r} (entry "
                f"{actor.idx}); an actor's name is never changed. To grant it another key, "
                f"give that name; for another actor, choose another actor id (--id)",
                index=actor.idx,
            )
        records = (
            []
            if actor is not None
            else [Actor(actor_id=actor_id, name=name, role=role, upline=upline, occurred_at=at)]
        )
        records.append(
            KeyGrant(
                actor_id=actor_id,
                public_key=base64.b64encode(public_key_raw(pub)).decode(),
                key_id=key_id(pub),
                occurred_at=at,
            )
        )
        # Round-trip through the schema so the operator gets the same checks as anyone.
        records = [parse_record(encode_record(r)) for r in records]
        return self._operator_append(records)

    def revoke_key(self, keyid: str, reason: str) -> Appended:
        from core.records import KeyRevoke

        record = parse_record(
            encode_record(KeyRevoke(key_id=keyid, reason=reason, occurred_at=_dt(now_rfc3339())))
        )
        return self._operator_append([record])[0]

    # ---- reading -----------------------------------------------------------------

    def bundle_verifies(self, vin: str, last_index: int) -> bool:
        """Whether the VIN's bundle verifies against the log key, as checked at most
        ``VERDICT_SECONDS`` ago while ``last_index`` is the VIN's latest entry (entries
        signed before a later revocation stay valid, so nothing else changes it)."""
        ok = self._verdicts.get((vin, last_index))
        if ok is None:
            from ledger.verify import verify_bundle

            ok = verify_bundle(self.bundle(vin), self.vkey).ok
            self._verdicts.put((vin, last_index), ok, VERDICT_SECONDS)
        return ok

    def bundle(self, vin: str) -> Bundle:
        validate_vin(vin)
        return build_bundle(self.store, vin)

    def history(
        self, vin: str, as_of: datetime | None = None, logged_by: datetime | None = None
    ) -> dict[str, Any]:
        """The VIN's entries and the derived view; ``as_of`` (UTC): only the entries that
        happened by then (by the date each was signed with, as the log reads today: an
        entry or correction logged later counts if it is dated by then), and the view as
        of then. ``logged_by`` (UTC): only the entries the ledger had logged by then (by
        ``sequenced_at``, corrections included), and no key revocation logged later:
        what the ledger held then. A corrected entry carries ``in_force`` beside
        ``record`` (as signed): the record with every correction applied, as the view
        reads it."""
        validate_vin(vin)
        with self.store.reader() as s:
            rows = entries_for_vin(s, vin)
            if not rows:
                raise NotFound(f"no entries for VIN {vin} in this ledger")
            actors = {}
            revoked: dict[str, dict[str, Any] | None] = {}
            items = []
            for row in rows:
                entry = decode_entry(row.data)
                keyid = entry.signer.keyid
                if keyid not in revoked:
                    revoked[keyid] = _revocation(s, keyid)
                if row.actor_id not in actors:
                    a = get_actor(s, row.actor_id)
                    actors[row.actor_id] = {"id": a.actor_id, "name": a.name, "role": a.role}
                record = msgspec.json.decode(record_bytes(entry))
                item = {
                    "index": row.idx,
                    "leaf_hash": base64.b64encode(row.leaf_hash).decode(),
                    "kind": entry.kind,
                    "vin_seq": entry.vin_seq,
                    "prev": entry.prev,
                    "sequenced_at": entry.sequenced_at,
                    "signer": actors[row.actor_id],
                    "record": record,
                }
                if isinstance(entry.derived, dict):
                    item["derived"] = {k: v for k, v in entry.derived.items() if k != "record"}
                if revoked[keyid] is not None:  # signed before; maybe not by its partner
                    item["key_revoked"] = revoked[keyid]
                items.append(item)
        if logged_by is not None:
            items = [i for i in items if _logged_by(i["sequenced_at"], logged_by)]
            for item in items:
                if "key_revoked" in item and not _logged_by(item["key_revoked"]["at"], logged_by):
                    del item["key_revoked"]
        until = None
        if as_of is not None:
            until = _utc(as_of)
            items = [i for i in items if parse_time(i["record"]["occurred_at"]) <= as_of]
        for item, applied in zip(items, apply_corrections(items), strict=True):
            if applied.get("corrections"):
                item["in_force"] = applied["record"]
        info = decode_vin(vin)
        view = analyse(items, until)
        view["logged_by"] = None if logged_by is None else _utc(logged_by)
        return {
            "vin": vin,
            "vehicle": msgspec.to_builtins(info),
            "entries": items,
            "view": view,
        }

    def attachment_path(self, sha256: str) -> Path:
        """Where a held attachment lives; the name must be a SHA-256, so no path escapes."""
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise InvalidInput(
                "an attachment is named by the lowercase hex SHA-256 of its bytes (64 characters)",
                field="sha256",
            )
        return self.settings.data_dir / "attachments" / sha256

    def attachment(self, sha256: str) -> bytes:
        path = self.attachment_path(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFound(
                f"this ledger holds no copy of attachment {sha256}; ask the partner who signed "
                "the entry for it and check its SHA-256 against the entry"
            ) from None
        if hashlib.sha256(data).hexdigest() != sha256:  # never serve a file that changed
            raise NotFound(f"the stored copy of attachment {sha256} does not match its hash")
        return data

    def actor_keys(self, actor_id: str) -> dict[str, Any]:
        """The actor as the log made it, and every key ever granted to it, in grant order."""
        with self.store.reader() as s:
            actor = get_actor(s, actor_id)
            if actor is None:
                raise NotFound(f"{actor_id!r} is no actor on this ledger")
            keys = keys_of_actor(s, actor_id)
            return {
                "actor_id": actor.actor_id,
                "name": actor.name,
                "role": actor.role,
                "upline": actor.upline,
                "index": actor.idx,
                "keys": [
                    {
                        "key_id": k.key_id,
                        "granted_at_index": k.granted_idx,
                        "revoked_at_index": k.revoked_idx,
                    }
                    for k in keys
                ],
            }

    def key_status(self, keyid: str) -> dict[str, Any]:
        with self.store.reader() as s:
            key = get_key(s, keyid)
            if key is None:
                raise NotFound(f"key {keyid} is not granted on this ledger")
            return {
                "key_id": key.key_id,
                "actor_id": key.actor_id,
                "granted_at_index": key.granted_idx,
                "revoked_at_index": key.revoked_idx,
            }


def _dt(text: str) -> datetime:
    return parse_time(text)
