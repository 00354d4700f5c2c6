"""The trust entries of a bundle, replayed from genesis as the sequencer appends them.

Entry 0 makes an operator and entry 1 grants it the key that signed both (and that
both name as their signer); every later actor, key grant or revocation is signed by
an operator key valid at its index, and is one the sequencer could have appended: a
signed record of the entry's kind, with no VIN, nothing derived and no key repeated
in one object of its payload; no actor twice, no grant to an actor not yet made or of
a key granted before, no revocation of a key not granted or already revoked.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from core import dsse
from core.errors import VinledgerError
from core.keys import public_key_from_raw
from core.records import TRUST_KINDS, parse_record
from core.strict_json import duplicate_key
from ledger.entry import Entry

if TYPE_CHECKING:
    from ledger.verify import Report


@dataclass
class Key:
    actor_id: str
    public_raw: bytes
    granted: int
    revoked: int | None = None


def replay_trust(trust, report: Report):
    keys: dict[str, Key] = {}
    roles: dict[str, str] = {}
    by_index = {index: entry for index, _, entry in trust}
    if 0 not in by_index or 1 not in by_index:
        report.failed("trust", "the bundle lacks the genesis entries 0 and 1")
        return keys, roles
    for index, _, entry in trust:
        try:
            record = trust_record(entry)
            if index in (0, 1):
                _genesis(entry, by_index)
            else:
                key = valid_key(keys, entry, index)
                if roles.get(key.actor_id) != "operator":
                    raise VinledgerError(f"signed by {key.actor_id!r}, who is not an operator")
                dsse.verify_envelope(entry.envelope, public_key_from_raw(key.public_raw))
            _apply(record, index, keys, roles)
        except VinledgerError as err:
            report.failed("trust", f"entry {index} ({entry.kind}): {err}", index)
    if not report.failures:
        report.passed("trust", f"{len(keys)} keys and {len(roles)} actors replayed from genesis")
    return keys, roles


def trust_record(entry: Entry):
    """The record the operator signed in a trust entry, if the entry is one the sequencer writes."""
    if entry.kind not in TRUST_KINDS:
        raise VinledgerError(f"{entry.kind!r} is not a trust kind (actor, key_grant, key_revoke)")
    if entry.vin is not None or entry.vin_seq is not None or entry.prev is not None:
        raise VinledgerError("a trust entry carries no VIN and no chain position")
    if entry.derived is not msgspec.UNSET:
        raise VinledgerError("a trust entry carries nothing derived from its record")
    dsse.check_signed_once(entry.envelope)
    check_keys_once(entry.envelope)
    record = parse_record(dsse.payload_bytes(entry.envelope))
    if record.kind != entry.kind:
        raise VinledgerError("the signed record's kind differs from the entry's")
    return record


def check_keys_once(env: dsse.Envelope) -> None:
    """Raises VinledgerError if the envelope's JSON payload repeats a key in one object.

    The sequencer refuses such a payload (``dsse.check_payload_keys``): JSON readers
    disagree on which copy counts, so one signature would stand for two records. A log
    that holds one was written by a sequencer that skipped the check.
    """
    if not dsse.is_json_type(env.payload_type):
        return
    found = duplicate_key(dsse.payload_bytes(env))
    if found is not None:
        path, key = found
        raise VinledgerError(
            f"the signed payload repeats the key {key!r} in one object ({path}): JSON "
            "readers disagree on which copy counts, so a verifier could read another "
            "record than the ledger did"
        )


def _genesis(entry: Entry, by_index: dict[int, Entry]) -> None:
    """Entry 0 makes the operator, entry 1 grants it a key; both name that key as signer."""
    operator, grant = (_genesis_record(by_index[i]) for i in (0, 1))
    if operator is None or operator.kind != "actor" or operator.role != "operator":
        raise VinledgerError("entry 0 does not create the operator")
    if grant is None or grant.kind != "key_grant":
        raise VinledgerError("entry 1 is not the operator's key grant")
    if grant.actor_id != operator.actor_id:
        raise VinledgerError("entry 1 grants a key to another actor than entry 0 created")
    signer = entry.signer
    if (signer.keyid, signer.actor_id) != (grant.key_id, operator.actor_id):
        raise VinledgerError(
            f"the entry names signer {signer.actor_id!r} with key {signer.keyid[:16]}…, "
            "not entry 0's operator with the key entry 1 grants"
        )
    dsse.verify_envelope(entry.envelope, public_key_from_raw(base64.b64decode(grant.public_key)))


def _genesis_record(entry: Entry):
    """The record of a genesis entry, or None if it is no trust entry at all."""
    try:
        return trust_record(entry)
    except VinledgerError:
        return None


def _apply(record, index: int, keys: dict[str, Key], roles: dict[str, str]) -> None:
    """Actors and keys as the entry leaves them; refuses what the sequencer refuses."""
    if record.kind == "actor":
        if record.actor_id in roles:
            raise VinledgerError(f"actor {record.actor_id!r} already exists")
        roles[record.actor_id] = record.role
    elif record.kind == "key_grant":
        if record.actor_id not in roles:
            raise VinledgerError(f"actor {record.actor_id!r} does not exist before this grant")
        if record.key_id in keys:
            granted = keys[record.key_id].granted
            raise VinledgerError(
                f"key {record.key_id[:16]}… was already granted at entry {granted}"
            )
        keys[record.key_id] = Key(record.actor_id, base64.b64decode(record.public_key), index)
    else:
        key = keys.get(record.key_id)
        if key is None:
            raise VinledgerError(
                f"key {record.key_id[:16]}… was not granted before this revocation"
            )
        if key.revoked is not None:
            raise VinledgerError(
                f"key {record.key_id[:16]}… was already revoked at entry {key.revoked}"
            )
        key.revoked = index


def valid_key(keys: dict[str, Key], entry: Entry, index: int) -> Key:
    key = keys.get(entry.signer.keyid)
    if key is None or key.granted >= index:
        raise VinledgerError(f"key {entry.signer.keyid[:16]}… was not granted before entry {index}")
    if key.revoked is not None and key.revoked < index:
        raise VinledgerError(f"key {entry.signer.keyid[:16]}… was revoked at entry {key.revoked}")
    if key.actor_id != entry.signer.actor_id:
        raise VinledgerError(
            f"key belongs to {key.actor_id!r}, entry claims {entry.signer.actor_id!r}"
        )
    return key
