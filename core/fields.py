"""The field types of records and the checks they share: bounded strings, ids, hashes,
kilometres, log indexes and times (``parse_time``), each with the sentence a refusal
of it shows (its ``description``, found by ``core.record_text``); and the checks of
ids given outside a record (command line, URL).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from core.errors import InvalidRecord
from core.record_text import no_timezone, show
from core.roles import ROLES

# ---- field types --------------------------------------------------------------
# Patterns end in \Z, not $: Python's $ also matches before a trailing newline.

# A ``description`` is the sentence a refusal of the value shows (``_explain``).

KEY_ID_HINT = (
    "a key id is 64 lowercase hex characters (the SHA-256 of the raw public key), "
    "e.g. as `vinledger keygen` prints it"
)
ACTOR_ID_HINT = (
    'an actor id is 2 to 63 lowercase letters, digits and "-", starting with a letter or '
    'digit, e.g. "acme-inspections"'
)
_HEX64 = r"^[0-9a-f]{64}\Z"
_IS_HEX64 = re.compile(_HEX64).match

Name = Annotated[str, Meta(min_length=1, max_length=200)]
Text = Annotated[str, Meta(min_length=1, max_length=2000)]
Reason = Annotated[str, Meta(min_length=1, max_length=500)]
Slug = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}\Z",
        description='write it in lowercase letters, digits, "-" and "_" (at most 64, '
        'starting with a letter or digit), e.g. "rear-left-door"',
    ),
]
ActorId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}\Z", description=ACTOR_ID_HINT)]
Sha256Hex = Annotated[
    str,
    Meta(
        pattern=_HEX64,
        description="a SHA-256 is 64 lowercase hex characters, e.g. as `sha256sum FILE` prints it",
    ),
]
KeyId = Annotated[str, Meta(pattern=_HEX64, description=KEY_ID_HINT)]
Commitment = Annotated[
    str,
    Meta(
        pattern=_HEX64,
        description="a commitment is 64 lowercase hex characters: the SHA-256 of a salt "
        "and the person's details, never a name",
    ),
]
Km = Annotated[int, Meta(ge=0, le=3_000_000)]
# Stored in signed 64-bit columns (SQLite INTEGER, PostgreSQL bigint).
LogIndex = Annotated[int, Meta(ge=0, le=2**63 - 1)]
# Between two dates of years 1–9999, and between two readings in Km.
Days = Annotated[int, Meta(ge=-3_652_059, le=3_652_059)]
KmDelta = Annotated[int, Meta(ge=-3_000_000, le=3_000_000)]
# Integers every JSON reader keeps exactly (JavaScript's Number.MAX_SAFE_INTEGER).
JsonInt = Annotated[int, Meta(ge=-(2**53 - 1), le=2**53 - 1)]
UtcTime = Annotated[datetime, Meta(tz=True)]
# Loosely bounded: validate_vin then says precisely what is wrong with a bad VIN.
VinText = Annotated[str, Meta(max_length=64)]
Role = Literal[ROLES]  # the same tuple the role table is built from
_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}"  # RFC 6838 restricted-name
MediaType = Annotated[
    str,
    Meta(
        pattern=rf"^{_TOKEN}/{_TOKEN}\Z",
        description='a media type is type/subtype, e.g. "application/pdf"',
    ),
]

CheckResult = Literal["ok", "minor", "major", "fail", "not_checked"]
OdometerSource = Literal[
    "registry", "inspection", "workshop", "dealer", "insurer", "telematics", "owner"
]
ClaimCause = Literal["collision", "flood", "fire", "hail", "theft", "vandalism", "other"]
Severity = Literal["minor", "moderate", "severe"]  # an insurance claim's, mildest first
Brand = Literal[
    "salvage",
    "rebuilt",
    "flood",
    "fire",
    "hail",
    "lemon",
    "odometer_not_actual",
    "total_loss",
    "junk",
]

# ---- money ---------------------------------------------------------------------------

# ISO 4217's minor units where they are not 2 (List One, as published by SIX): the digits
# after the decimal point a currency is paid in. Yen and won have none, the Bahraini and
# Kuwaiti dinar three. The one table: ``plugins.currency`` rounds commissions by it, and
# ``core.records`` bounds an amount's decimals by it.
MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_units(currency: str) -> int:
    """The digits after the decimal point that ``currency`` is paid in (2 unless listed)."""
    return MINOR_UNITS.get(currency, 2)


FieldName = Annotated[str, Meta(min_length=1, max_length=64)]
ParamValue = Annotated[str, Meta(max_length=200)] | JsonInt | float | bool


class FieldError(ValueError):
    """A check raised from ``__post_init__``; msgspec keeps it as the cause of its error."""

    def __init__(self, field: str, message: str):
        super().__init__(f"`{field}` {message}")
        self.field = field


def check_utc(at: datetime) -> None:
    offset = at.utcoffset()
    if offset is None:
        raise FieldError("occurred_at", no_timezone(at.isoformat()))
    if offset:
        try:
            hint = f" {at.astimezone(UTC).isoformat().replace('+00:00', 'Z')}"
        except OverflowError:  # the converted time falls outside years 1–9999
            hint = ""
        raise FieldError(
            "occurred_at",
            f"must be in UTC (offset 0, written with Z), not {at.isoformat()}; "
            f"convert it to UTC{hint}",
        )


_TIME_DECODER = msgspec.json.Decoder(datetime)


def parse_time(text: str) -> datetime:
    """A record's time as its JSON spells it (any RFC 3339 form a record may carry:
    ``T``/``t``/space, ``Z``/``z``), as an aware UTC datetime. Compare and sort these,
    never the text: "2026-05-04 23:00Z" < "2026-05-04T08:00Z" as strings."""
    try:
        at = _TIME_DECODER.decode(msgspec.json.encode(text))
    except msgspec.ValidationError as err:
        raise InvalidRecord(f"{text!r} is not an RFC 3339 time: {err}") from None
    if at.tzinfo is None:
        raise InvalidRecord(f"{text!r} carries no timezone")
    try:
        return at.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before year 1 in UTC
        raise InvalidRecord(f"{text!r} falls outside years 1 to 9999 in UTC") from None


# ---- ids given outside a record (command line, URL) ---------------------------------------------


def actor_id_problem(text: str) -> str | None:
    """What is wrong with ``text`` as an actor id, or None."""
    try:
        msgspec.convert(text, ActorId)
    except msgspec.ValidationError:
        return f"{show(text)} is not an actor id: {ACTOR_ID_HINT}"
    return None


def key_id_problem(text: str) -> str | None:
    """What is wrong with ``text`` as a key id (``core.keys.key_id``), or None."""
    if _IS_HEX64(text):
        return None
    if text.isascii() and re.search(_HEX64, text.strip().lower()):
        return f"key ids are lowercase hex: write {text.strip().lower()}"
    return f"{show(text)} is not a key id: {KEY_ID_HINT}"
