"""The bytes of a log entry.

An entry is a compact UTF-8 JSON object written once by the sequencer. Verifiers hash
the bytes exactly as served (RFC 9162 leaf hash) and never re-encode them, so the
field order below is fixed by the struct and must not change within format version 1.

For vehicle entries, ``vin_seq`` is the entry's position in that VIN's chain and
``prev`` the base64 leaf hash of the previous entry for the same VIN (null for the
first), which makes each vehicle's history a hash chain inside the global log.
"""

from __future__ import annotations

import base64
from typing import Any

import msgspec

from core.dsse import PAYLOAD_TYPE, Envelope, payload_bytes
from core.errors import InvalidInput

FORMAT_VERSION = 1
MAX_ENTRY_BYTES = 65_535


class Signer(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    keyid: str
    actor_id: str


class Entry(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    v: int
    index: int
    kind: str
    vin: str | None
    vin_seq: int | None
    prev: str | None
    sequenced_at: str
    signer: Signer
    envelope: Envelope
    # What the ledger derived from the record when it sequenced it: a provider's
    # normalised inspection ("provider", "record") or a sale's terms ("terms").
    # Absent from entries that have none, so their bytes are as before.
    derived: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET

    @property
    def prev_hash(self) -> bytes | None:
        return None if self.prev is None else base64.b64decode(self.prev)


_decoder = msgspec.json.Decoder(Entry)


def encode_entry(entry: Entry) -> bytes:
    return msgspec.json.encode(entry)


def decode_entry(data: bytes) -> Entry:
    try:
        entry = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InvalidInput(f"not a vinledger entry: {err}") from None
    if entry.v != FORMAT_VERSION:
        raise InvalidInput(f"entry format version {entry.v} is not supported (expected 1)")
    return entry


def record_bytes(entry: Entry) -> bytes:
    """The JSON of the record an entry stands for.

    The signed payload itself, or, for a report in a provider's own format only, the
    inspection record the ledger normalised it into (``derived.record``). A native
    record is always read from what its submitter signed, whatever ``derived`` says.
    """
    native = entry.envelope.payload_type == PAYLOAD_TYPE
    if not native and isinstance(entry.derived, dict) and "record" in entry.derived:
        return msgspec.json.encode(entry.derived["record"])
    return payload_bytes(entry.envelope)
