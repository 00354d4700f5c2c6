"""What a submission is checked for before it is queued for the sequencer: envelope,
key, signature, schema, role, dates, referral (the sequencer checks key validity and
role once more inside its lock). A mixin of ``api.service.Ledger``: it uses the
ledger's ``store``, ``plugins``, ``clock`` and ``_keys``.

On the event loop (``may_block=False``) a check that would wait on the database or
run a plugin's code raises ``_WouldBlock`` and is done again in a thread.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.exc import SQLAlchemyError

from core import dsse
from core.errors import (
    InvalidRecord,
    KeyRevoked,
    StorageUnavailable,
    TooLarge,
    UnknownKey,
    VinledgerError,
)
from core.fields import key_id_problem, parse_time
from core.keys import public_key_from_raw
from core.personal_data import personal_data
from core.records import Sale, check_amounts, encode_record, parse_record
from core.roles import check_role_may_submit
from core.strict_json import json_strings
from ledger.entry import MAX_ENTRY_BYTES
from ledger.sequencer import Submission
from ledger.storage import indexes_by_digest, signing_key
from plugins.referrals import check_sale_referral
from plugins.submissions import provider_for, read_record

# An envelope's payload is base64 (4/3 of the record) inside an entry of at most
# 65,535 bytes, so anything much bigger than that can be refused before parsing.
MAX_ENVELOPE_BYTES = 96 * 1024
KEY_CACHE_SECONDS = 2.0
log = logging.getLogger("vinledger.api")
CLOCK_SKEW = timedelta(minutes=10)  # how far ahead of the ledger's clock a partner's may be
# 17-character VINs began with model year 1981: nothing about one happened much before.
EARLIEST = datetime(1980, 1, 1, tzinfo=UTC)


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


# A control character in a record's text (an escape sequence, a backspace, a C1 code):
# as JSON escapes (\u0000-\u001f except tab, newline and carriage return, \b, \f,
# \u007f-\u009f) after an even run of backslashes, or raw C1 bytes in the UTF-8.
_CONTROL = re.compile(
    rb"(?<!\\)(?:\\\\)*\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|[bf])"
    rb"|\xc2[\x80-\x9f]|\x7f"
)
# The same rule in scans Python's re runs fast: a pattern that begins with a lookbehind
# gives it no literal to skip ahead to, so _CONTROL was tried at every byte (for a 1 KB
# record a third as long as verifying its signature, 10% of a batched record's server
# CPU); these take ~3 µs.
# ``_ESCAPE`` finds a control escape after a run of backslashes, whose length then says
# whether its last one starts an escape (odd) or ends an escaped backslash (even). The
# lookbehind after the first backslash lets a match begin only where its run does: the
# search tries each run once (a search from inside runs would make a long run of
# backslashes quadratic), and still skips ahead to the next backslash.
_ESCAPE = re.compile(
    rb"\\(?<!\\\\)(\\*)(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F]|7[fF]|[89][0-9a-fA-F])|[bf])"
)
_C1 = re.compile(rb"\xc2[\x80-\x9f]")


def has_control(payload: bytes) -> bool:
    """Whether ``_CONTROL`` matches anywhere in ``payload``."""
    if b"\x7f" in payload or (b"\xc2" in payload and _C1.search(payload)):
        return True
    return any((m.end(1) - m.start()) % 2 for m in _ESCAPE.finditer(payload))


def check_text(payload: bytes) -> None:
    """Refuses a record whose free text holds a person's detail the ledger recognises
    (``core.personal_data``), or whose text holds a control character other than a tab
    or a line break: in a terminal they rewrite what a buyer's `vinledger verify`
    prints, and no inspection, repair or sale needs one. Only for new records: a log may
    hold some from before, which the checkers still read (and every report shows
    escaped)."""
    if found := personal_data(payload):
        path, what = found
        raise InvalidRecord(
            f"`{path}` holds what looks like {what}; everything in an entry is public and "
            "can never be erased, so the ledger takes no person's details: leave it out, or "
            "refer to the person by a reference only you can resolve (docs/formats.md, "
            "'What is public')",
            field=path,
        )
    if has_control(payload):
        path, char = _control_at(payload)
        where = f"`{path}` holds" if path != "$" else "the record's text holds"
        which = f" U+{ord(char):04X}" if char else ""
        raise InvalidRecord(
            f"{where} a control character{which} (an escape code, a backspace or the like); "
            "send plain text: tabs and line breaks are fine",
            field=path,
        )


_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _control_at(payload: bytes) -> tuple[str, str | None]:
    """The JSON path of the first string (or key) holding a control character, and the
    character; ("$", None) if the payload does not parse (its parser says why)."""
    try:
        doc = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return "$", None
    for path, text, _ in json_strings(doc, keys=True):
        if found := _CONTROL_CHARS.search(text):
            return path, found[0]
    return "$", None


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


class SubmissionChecks:
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
        except StorageUnavailable:
            raise  # no use looking the envelope up in a database that cannot serve
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
        native = env.payload_type == dsse.PAYLOAD_TYPE
        if not native:
            # Before the role check: an insurer's typo in payloadType is about the
            # payloadType, not about the inspections only inspectors may submit.
            provider_for(self.plugins, env.payload_type)
        if not may_block:  # before the signature: the thread would verify it again
            if not native:
                raise _WouldBlock  # a provider plugin's code reads it
            # A record of our own format; only a sale has anything derived (by plugins).
            record, derived = parse_record(dsse.payload_bytes(env)), None
            if isinstance(record, Sale):
                raise _WouldBlock  # policy plugins state its terms; its referral is read
        dsse.verify_envelope(env, public_key_from_raw(key.public_key))
        if not native:  # a provider's report is an inspection:
            check_role_may_submit(key.role, "inspection")  # its plugin reads inspectors' only
        if may_block:
            record, derived = read_record(self.plugins, env)
        _check_dates(record, self.clock())
        check_amounts(record)  # whole yen, thousandths of a dinar (a new record only)
        # The text as stored: a native record's payload, a provider's normalised record.
        check_text(dsse.payload_bytes(env) if native else encode_record(record))
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
