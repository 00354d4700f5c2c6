"""The use cases: what the HTTP API and the CLI do, tied together once.

``Ledger`` checks a submission (envelope, key, signature, schema, role) before it
queues it for the sequencer, which checks key validity and role once more inside
its lock. Bad input raises a ``core.errors`` error and changes nothing.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from api.config import Settings
from api.service_dealers import DealersAndReferrals
from core import dsse
from core.errors import (
    Conflict,
    InvalidInput,
    InvalidRecord,
    KeyRevoked,
    NotFound,
    StorageUnavailable,
    TooLarge,
    UnknownKey,
    VinledgerError,
)
from core.history import analyse
from core.keys import key_id, load_public_key, public_key_from_raw, public_key_raw
from core.records import Sale, encode_record, key_id_problem, parse_record, parse_time
from core.roles import article, check_role_may_submit
from core.vin import decode_vin, validate_vin
from ledger.batcher import GroupCommit
from ledger.bundle import Bundle, build_bundle
from ledger.entry import MAX_ENTRY_BYTES, decode_entry, record_bytes
from ledger.reader import LogReader
from ledger.sequencer import Appended, Outcome, Sequencer, Submission
from ledger.signing import LogSigner
from ledger.storage import (
    Store,
    entries_for_vin,
    get_actor,
    get_key,
    indexes_by_digest,
    signing_key,
    utcnow,
)
from plugins.claims import ClaimDecider
from plugins.commission_settling import CommissionRecorder
from plugins.manager import create_plugin_manager
from plugins.referrals import check_sale_referral
from plugins.registry import Registry
from plugins.submissions import read_record

# An envelope's payload is base64 (4/3 of the record) inside an entry of at most
# 65,535 bytes, so anything much bigger than that can be refused before parsing.
MAX_ENVELOPE_BYTES = 96 * 1024
KEY_CACHE_SECONDS = 2.0
# How long the server trusts its own check of a vehicle's bundle for the badge (as
# long as browsers keep the badge): an anonymous request must not cost a full
# verification each time (a VIN with thousands of entries takes over a second).
VERDICT_SECONDS = 300.0
log = logging.getLogger("vinledger.api")
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of the ledger's clock a partner's may be
# 17-character VINs began with model year 1981: nothing about one happened much before.
EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _check_dates(record, now: datetime) -> None:
    """A record says what has happened: a time past the ledger's clock (and a partner's
    clock skew) would let a sale or a reading claim a date no one can check yet, and one
    before 17-character VINs existed is a typo that would put the vehicle's readings
    out of order. A correction may move a date too."""
    times = [("$.occurred_at", getattr(record, "occurred_at", None))]
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict) and isinstance(fields.get("occurred_at"), str):
        with contextlib.suppress(VinledgerError):  # malformed: check_correction names it
            times.append(("$.fields.occurred_at", parse_time(fields["occurred_at"])))
    for field, at in times:
        if at is None:
            continue
        if at > now + CLOCK_SKEW:
            clock = now.isoformat(timespec="seconds").replace("+00:00", "Z")
            raise InvalidRecord(
                f"{field.removeprefix('$.')} {_z(at)} is in the future (the ledger's clock "
                f"reads {clock}); a record says what has happened: date it when it "
                "happened, in UTC",
                field=field,
            )
        if at < EARLIEST:
            raise InvalidRecord(
                f"{field.removeprefix('$.')} {_z(at)} is before {EARLIEST.year}, before "
                "17-character VINs existed; check the year",
                field=field,
            )


def _z(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


class _CheckFailed(VinledgerError):
    status = 500
    title = "Internal error"
    slug = "internal"

    def __init__(self):
        super().__init__(
            "the server failed while checking this envelope; nothing was appended for it. "
            "Send it again; if it fails again, tell the operator"
        )


class _WouldBlock(Exception):
    """Raised by a check on the event loop where it would wait on the database or run a
    plugin: the check is done again in a thread."""


class _Remembered:
    """Answers kept for a while: each for the seconds given when it was put, at most
    10,000 at once (all are dropped when more come)."""

    def __init__(self) -> None:
        self._kept: dict[Any, tuple[float, Any]] = {}

    def get(self, key: Any) -> Any:
        """The answer kept for ``key``, or None once it has expired or was never put."""
        hit = self._kept.get(key)
        return hit[1] if hit is not None and hit[0] > time.monotonic() else None

    def put(self, key: Any, value: Any, seconds: float) -> None:
        if len(self._kept) > 10_000:
            self._kept.clear()
        self._kept[key] = (time.monotonic() + seconds, value)


class Ledger(DealersAndReferrals):
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
        self.plugins = registry or Registry(create_plugin_manager(settings.disabled_plugins))
        self.sequencer = Sequencer(
            self.store,
            self.signer,
            follow=(
                ClaimDecider(self.plugins, settings.operator_key()),
                CommissionRecorder(self.plugins),
            ),
            clock=lambda: self.clock(),
        )
        self.reader = LogReader(self.store)
        self._batcher: GroupCommit | None = None
        self._keys = _Remembered()  # key IDs -> the granted key among them
        self._verdicts = _Remembered()  # (VIN, its latest index) -> does its bundle verify
        self._figures_lock = threading.Lock()  # dealers' figures: one computes at a time

    @property
    def vkey(self) -> str:
        return self.signer.vkey

    def close(self) -> None:
        if self._batcher is not None:
            self._batcher.close()
            self._batcher = None
        self.store.dispose()

    # ---- submissions -----------------------------------------------------------

    def check(self, raw: bytes, *, may_block: bool = True) -> Submission:
        """Everything that can be checked without the sequencer's lock.

        ``may_block=False`` (on the event loop): raises ``_WouldBlock`` where the check
        would wait on the database or run a plugin's code, to be done in a thread
        instead; a lock on a table must not stop a worker from answering anything."""
        if len(raw) > MAX_ENVELOPE_BYTES:
            raise TooLarge(
                f"the envelope is {len(raw)} bytes; a record's entry is at most "
                f"{MAX_ENTRY_BYTES} bytes. Put large documents in attachments (by SHA-256)."
            )
        env = dsse.decode_envelope(raw, payload_keys=False)
        try:
            dsse.check_payload_keys(env)
            return self._check(env, may_block)
        except VinledgerError:
            if not may_block:
                raise _WouldBlock from None
            # The same envelope again answers with its entry, whatever became of its key,
            # its plugin or the rules since it was logged (a lost receipt asked for again).
            if (again := self._logged(env)) is not None:
                return again
            raise

    def _check(self, env: dsse.Envelope, may_block: bool = True) -> Submission:
        dsse.check_signed_once(env)
        key = self._signing_key([sig.keyid for sig in env.signatures], may_block)
        if key is None:
            [sig] = env.signatures  # check_signed_once: exactly one
            if problem := key_id_problem(sig.keyid):
                raise UnknownKey(
                    f"signatures[0].keyid: {problem}",
                    field="signatures[0].keyid",
                )
            raise UnknownKey(
                f"no key {sig.keyid} is granted on this ledger. A key ID is the lowercase "
                "hex SHA-256 of the raw 32-byte Ed25519 public key (not of its PEM or DER "
                "file): check yours, sign with your granted key, or ask the operator to "
                "run `vinledger actors add`",
                field="signatures[0].keyid",
            )
        if key.revoked_idx is not None:
            raise KeyRevoked(
                f"key {key.key_id} was revoked at log index {key.revoked_idx}; "
                "sign with a key that is still valid"
            )
        if env.payload_type != dsse.PAYLOAD_TYPE and not may_block:
            raise _WouldBlock  # a provider plugin's code reads it
        dsse.verify_envelope(env, public_key_from_raw(key.public_key))
        if env.payload_type != dsse.PAYLOAD_TYPE:  # a provider's report is an inspection:
            check_role_may_submit(key.role, "inspection")  # its plugin reads inspectors' only
        if may_block:
            record, derived = read_record(self.plugins, env)
        else:  # a record of our own format; only a sale has anything derived (by plugins)
            record, derived = parse_record(dsse.payload_bytes(env)), None
            if isinstance(record, Sale):
                raise _WouldBlock  # policy plugins state its terms; its referral is read
        _check_dates(record, self.clock())
        check_role_may_submit(key.role, record.kind)
        if isinstance(record, Sale) and record.referral_code is not None:
            with self.store.reader() as s:
                check_sale_referral(s, self.plugins, record)
        return Submission(env, record, dsse.envelope_digest(env), key.key_id, derived)

    def _logged(self, env: dsse.Envelope) -> Submission | None:
        """The envelope, if the log already holds it: the sequencer answers with its
        entry before it reads anything else of the submission. Looked up only when a
        check fails, so the path of new envelopes pays nothing for it."""
        if len(env.signatures) != 1:
            return None  # never logged: the ledger logs envelopes signed once
        digest = dsse.envelope_digest(env)
        with self.store.reader() as s:
            if not indexes_by_digest(s.connection(), [digest]):
                return None
        try:
            record, derived = read_record(self.plugins, env)
        except VinledgerError:  # e.g. its plugin is disabled now; the entry stands
            record, derived = None, None
        return Submission(env, record, digest, env.signatures[0].keyid, derived)

    def _signing_key(self, key_ids: list[str], may_block: bool = True):
        """The granted key among ``key_ids``, remembered for a second or two.

        Safe to remember: the sequencer checks grant and revocation again inside its
        lock, so a key revoked meanwhile is still refused. Unknown keys are never
        remembered, so a key granted a moment ago works at once.
        """
        key = self._keys.get(tuple(key_ids))
        if key is not None:
            return key
        if not may_block:
            raise _WouldBlock
        with self.store.read_engine.connect() as c:
            key = signing_key(c, key_ids)
        if key is not None:
            self._keys.put(tuple(key_ids), key, KEY_CACHE_SECONDS)
        return key

    def _batcher_for_loop(self) -> GroupCommit:
        if self._batcher is None:
            self._batcher = GroupCommit(self.sequencer)
        return self._batcher

    def _check_all(
        self, raws: list[bytes], may_block: bool = True
    ) -> list[Submission | VinledgerError]:
        checked: list[Submission | VinledgerError] = []
        for raw in raws:
            try:
                checked.append(self.check(raw, may_block=may_block))
            except (_WouldBlock, StorageUnavailable, SQLAlchemyError):
                raise  # the whole request's to answer (a 503 for a database outage)
            except VinledgerError as err:  # answered per envelope
                checked.append(err)
            except Exception:  # a bug met by one envelope fails that one, not its batch
                log.exception("checking an envelope failed")
                checked.append(_CheckFailed())
        return checked

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
            checked = await asyncio.to_thread(self._check_all, raws)
        subs = [c for c in checked if isinstance(c, Submission)]
        outcomes = iter(await asyncio.wrap_future(self._batcher_for_loop().submit(subs)))
        return [next(outcomes) if isinstance(c, Submission) else c for c in checked]

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
            env = dsse.sign_envelope(encode_record(record), op_key)
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

        pub = load_public_key(public_key_pem)
        at = _dt(now_rfc3339())
        if upline == actor_id:
            raise InvalidInput(f"actor {actor_id!r} cannot be its own upline")
        with self.store.reader() as s:
            actor = get_actor(s, actor_id)
            if upline is not None and get_actor(s, upline) is None:
                raise NotFound(f"upline {upline!r} is no actor on this ledger; add it first")
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

    def history(self, vin: str) -> dict[str, Any]:
        validate_vin(vin)
        with self.store.reader() as s:
            rows = entries_for_vin(s, vin)
            if not rows:
                raise NotFound(f"no entries for VIN {vin} in this ledger")
            actors = {}
            items = []
            for row in rows:
                entry = decode_entry(row.data)
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
                items.append(item)
        info = decode_vin(vin)
        return {
            "vin": vin,
            "vehicle": msgspec.to_builtins(info),
            "entries": items,
            "view": analyse(items),
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
