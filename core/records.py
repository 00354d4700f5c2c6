"""The record kinds: the JSON payloads partners sign, as msgspec structs.

A record is one JSON object whose ``kind`` selects its schema (a msgspec tagged
union). Unknown fields are refused, every string and list is bounded, and times
are RFC 3339 in UTC. Vehicle kinds carry ``vin``, ``occurred_at`` and an optional
``odometer_km``; the trust-root kinds (actors, key grants and revocations) carry no
VIN. ``parse_record`` is the one way in: every problem becomes an ``InvalidRecord``
(or ``InvalidVIN``) whose message and ``field`` name the JSON path at fault.

Checks a schema cannot express (UTC offsets, key IDs) live in ``__post_init__``, so
they hold for decoded and constructed records alike. What a correction's ``fields``
may say depends on the entry it corrects, so ``core.corrections.check_correction``
checks that once the corrected record is known.

Each constrained string type carries, as its ``description``, the sentence an error
about it shows ("an amount is a decimal string …, e.g. …"; ``core.record_text``
finds it), so a refusal says what is expected rather than quoting a regex.
``core.strict_json`` refuses JSON that repeats a key in one object: readers
disagree on which copy counts.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date, timedelta
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from core.countries import Country, country_problem
from core.errors import InvalidRecord, InvalidVIN
from core.fields import (
    ActorId,
    Brand,
    CheckResult,
    ClaimCause,
    Commitment,
    Days,
    FieldError,
    FieldName,
    KeyId,
    Km,
    KmDelta,
    LogIndex,
    MediaType,
    Name,
    OdometerSource,
    ParamValue,
    Reason,
    Role,
    Severity,
    Sha256Hex,
    Slug,
    Text,
    UtcTime,
    VinText,
    check_utc,
    minor_units,
)
from core.keys import RAW_KEY_SIZE, key_id, public_key_from_raw
from core.record_text import AT_PATH, explain_payload
from core.strict_json import json_problem
from core.vin import validate_vin


# kw_only is not inherited by msgspec subclasses, so every class repeats it.
class _Record(
    msgspec.Struct,
    tag_field="kind",
    forbid_unknown_fields=True,
    frozen=True,
    kw_only=True,
    omit_defaults=True,
):
    @property
    def kind(self) -> str:
        return self.__struct_config__.tag


class _VehicleRecord(_Record, kw_only=True):
    vin: VinText
    occurred_at: UtcTime
    odometer_km: Km | None = None

    def __post_init__(self) -> None:
        check_utc(self.occurred_at)


class _TrustRecord(_Record, kw_only=True):
    occurred_at: UtcTime

    def __post_init__(self) -> None:
        check_utc(self.occurred_at)


# ---- parts of records -----------------------------------------------------------


class _Nested(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, omit_defaults=True
):
    """Base of the objects inside records: as strict as the records themselves."""


class ChecklistItem(_Nested, kw_only=True):
    code: Slug
    result: CheckResult
    note: Text | None = None


class DamageFlags(_Nested, kw_only=True):
    # All required: an inspection must say "no" to each, not stay silent.
    accident: bool
    flood: bool
    fire: bool
    structural: bool
    airbag: bool


class Attachment(_Nested, kw_only=True):
    """A document kept outside the ledger, pinned by its SHA-256."""

    sha256: Sha256Hex
    size: Annotated[int, Meta(ge=0, le=2**53 - 1)]
    media_type: MediaType
    name: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class WorkItem(_Nested, kw_only=True):
    code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    description: Text


class Part(_Nested, kw_only=True):
    name: Name
    part_number: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    quantity: Annotated[int, Meta(ge=1, le=10_000)] = 1


_AMOUNT_HINT = (
    'an amount is a decimal string with up to 2 decimals, e.g. "18500.00", or as many as '
    'its currency has where that is more (3 for BHD, KWD and the other dinars: "1234.567")'
)


class Money(_Nested, kw_only=True):
    """An amount in a currency. A decimal string, never a float: amounts must survive
    every JSON library exactly.

    A record holds at most 2 decimals, or the currency's minor unit where it has more
    (``core.fields.MINOR_UNITS``: thousandths of a dinar): every amount a log held
    before stays readable. A new submission is held to the currency's own minor unit
    (``check_amounts``): no fractional yen.
    """

    amount: Annotated[
        str,
        Meta(pattern=r"^[0-9]{1,10}(\.[0-9]{1,4})?\Z", description=_AMOUNT_HINT),
    ]
    currency: Annotated[
        str,
        Meta(
            pattern=r"^[A-Z]{3}\Z",
            description='a currency is a 3-letter ISO 4217 code, e.g. "EUR"',
        ),
    ]

    def __post_init__(self) -> None:
        allowed = max(2, minor_units(self.currency))
        if _decimals(self.amount) > allowed:
            raise FieldError("amount", _too_fine(self.amount, self.currency, allowed))


class PolicyRef(_Nested, kw_only=True):
    """A warranty or return policy by plugin id, with the terms the dealer chose."""

    id: Slug
    params: Annotated[dict[FieldName, ParamValue], Meta(max_length=32)] = {}


# ---- vehicle kinds ----------------------------------------------------------------


class Inspection(_VehicleRecord, tag="inspection", kw_only=True):
    provider: Name
    inspector: Name
    grade: Annotated[str, Meta(min_length=1, max_length=8)]
    items: Annotated[list[ChecklistItem], Meta(max_length=500)]
    flags: DamageFlags
    attachments: Annotated[list[Attachment], Meta(max_length=50)] = []


class Maintenance(_VehicleRecord, tag="maintenance", kw_only=True):
    shop: Name
    items: Annotated[list[WorkItem], Meta(min_length=1, max_length=200)]
    parts: Annotated[list[Part], Meta(max_length=200)] = []
    cost: Money | None = None


class Odometer(_VehicleRecord, tag="odometer", kw_only=True):
    odometer_km: Km  # the reading is the point of this kind, so it is required
    source: OdometerSource


class InsuranceClaim(_VehicleRecord, tag="insurance_claim", kw_only=True):
    claim_ref: Name  # the insurer's own reference, opaque to us
    cause: ClaimCause = "collision"
    severity: Severity
    areas: Annotated[list[Slug], Meta(max_length=32)] = []
    total_loss: bool = False
    structural: bool = False
    airbag_deployed: bool = False


class TitleBrand(_VehicleRecord, tag="title_brand", kw_only=True):
    brand: Brand
    jurisdiction: Annotated[str, Meta(min_length=1, max_length=64)]
    note: Text | None = None


class Transfer(_VehicleRecord, tag="transfer", kw_only=True):
    # A salted hash of the new owner: enough to count owners, never to name one.
    owner_commitment: Commitment
    jurisdiction: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


RegistrationEvent = Literal["registered", "deregistered", "exported"]


class Registration(_VehicleRecord, tag="registration", kw_only=True):
    """A registry's register changed for the car: ``registered`` (its first registration
    in ``country``, an import's included), ``deregistered`` (taken off the road or off
    the register) or ``exported`` (deregistered for export). Never a plate or an owner:
    plates are personal data in many countries (docs/formats.md, "What is public")."""

    event: RegistrationEvent
    country: Country
    jurisdiction: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    # The date the papers give for the car's first registration anywhere.
    first_registered: date | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if problem := country_problem(self.country):
            raise FieldError("country", problem)
        # A registry east of UTC dates its papers a day ahead of the record's UTC date
        # (midnight in Beijing is 16:00 UTC the day before): a day later is allowed.
        latest = self.occurred_at.date() + timedelta(days=1)
        if self.first_registered is not None and self.first_registered > latest:
            raise FieldError(
                "first_registered",
                f"is {self.first_registered.isoformat()}, after the record's own date "
                f"({self.occurred_at.date().isoformat()} UTC, a day later allowed for a "
                "registry's local date): a car is first registered no later than any "
                "registry records it",
            )


class Sale(_VehicleRecord, tag="sale", kw_only=True):
    dealer: ActorId
    price: Money | None = None
    buyer_commitment: Commitment | None = None
    policies: Annotated[list[PolicyRef], Meta(max_length=16)] = []
    referral_code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class Recall(_VehicleRecord, tag="recall", kw_only=True):
    campaign: Annotated[str, Meta(min_length=1, max_length=64)]
    component: Name
    description: Text
    status: Literal["open", "remedied"]


class Correction(_VehicleRecord, tag="correction", kw_only=True):
    """Supersedes fields of an earlier entry, which stays in the log unchanged.

    Each value replaces the field whole, nested objects too (``check_correction``
    says what the corrected kind allows).
    """

    corrects: LogIndex
    reason: Reason
    fields: Annotated[dict[FieldName, Any], Meta(min_length=1, max_length=64)]

    def __post_init__(self) -> None:
        super().__post_init__()
        # A correction is filed under one VIN's chain and read as one kind; moving
        # the entry elsewhere would make two histories disagree.
        bad = sorted({"kind", "vin"} & self.fields.keys())
        if bad:
            raise FieldError(
                "fields",
                f"may not change {', '.join(bad)}; to record a fact about another vehicle "
                "or of another kind, submit a new record instead",
            )


class ReturnRequest(_VehicleRecord, tag="return_request", kw_only=True):
    """The buyer brought the car back under a return policy of a sale."""

    sale: LogIndex  # log index of the sale
    policy: Slug
    reason: Text | None = None


class WarrantyClaim(_VehicleRecord, tag="warranty_claim", kw_only=True):
    """A repair claimed under a warranty of a sale."""

    sale: LogIndex
    policy: Slug
    component: Slug
    description: Text


class ClaimDecision(_VehicleRecord, tag="claim_decision", kw_only=True):
    """How a policy decided a claim, appended by the ledger right after the claim."""

    claim: LogIndex
    sale: LogIndex
    policy: Slug
    policy_version: Annotated[str, Meta(min_length=1, max_length=32)]
    approved: bool
    reason: Text
    days_since_sale: Days
    km_since_sale: KmDelta | None = None


class Dispute(_VehicleRecord, tag="dispute", kw_only=True):
    """The operator's note that an entry's facts are disputed (or the dispute resolved)."""

    disputes: LogIndex
    reason: Text
    status: Literal["open", "resolved"] = "open"


class Complaint(_VehicleRecord, tag="complaint", kw_only=True):
    """A complaint about a dealer, filed by the operator after review."""

    dealer: ActorId
    sale: LogIndex | None = None
    summary: Text
    upheld: bool = True


# ---- trust-root kinds ------------------------------------------------------------


class Actor(_TrustRecord, tag="actor", kw_only=True):
    actor_id: ActorId
    name: Name
    role: Role
    upline: ActorId | None = None  # who referred this actor, for two-level commissions


class KeyGrant(_TrustRecord, tag="key_grant", kw_only=True):
    actor_id: ActorId
    public_key: Annotated[str, Meta(min_length=1, max_length=64)]  # base64, raw 32 bytes
    key_id: KeyId

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            raw = base64.b64decode(self.public_key, validate=True)
        except binascii.Error as err:
            raise FieldError("public_key", f"is not standard base64 ({err})") from err
        if len(raw) != RAW_KEY_SIZE:
            raise FieldError(
                "public_key",
                f"holds {len(raw)} bytes; it must be the standard base64 of the raw "
                f"{RAW_KEY_SIZE}-byte Ed25519 public key",
            )
        # One key, one spelling: otherwise equal keys could look different in the log.
        canonical = base64.b64encode(raw).decode()
        if canonical != self.public_key:
            raise FieldError("public_key", f"is not in canonical base64; write {canonical}")
        expected = key_id(public_key_from_raw(raw))
        if self.key_id != expected:
            raise FieldError(
                "key_id",
                f"must be the SHA-256 of the raw public key, {expected}, not {self.key_id}",
            )


class KeyRevoke(_TrustRecord, tag="key_revoke", kw_only=True):
    key_id: KeyId
    reason: Reason


# ---- the union and its entry points --------------------------------------------------

Record = (
    Inspection
    | Maintenance
    | Odometer
    | InsuranceClaim
    | TitleBrand
    | Transfer
    | Registration
    | Sale
    | Recall
    | Correction
    | ReturnRequest
    | WarrantyClaim
    | ClaimDecision
    | Dispute
    | Complaint
    | Actor
    | KeyGrant
    | KeyRevoke
)

VEHICLE_KINDS = frozenset(
    c.__struct_config__.tag for c in get_args(Record) if issubclass(c, _VehicleRecord)
)
TRUST_KINDS = frozenset(
    c.__struct_config__.tag for c in get_args(Record) if issubclass(c, _TrustRecord)
)
KINDS = VEHICLE_KINDS | TRUST_KINDS

_decoder = msgspec.json.Decoder(Record)
_encoder = msgspec.json.Encoder()

_NAMED_FIELD = re.compile(r"^Object (?:missing required|contains unknown) field `([^`]+)`")


_KINDS_BY_TAG = {cls.__struct_config__.tag: cls for cls in get_args(Record)}


def field_error_path(err: msgspec.ValidationError) -> str:
    """The JSON path a msgspec validation error names (``$`` for the top level)."""
    return _invalid(err).field or "$"


def parse_record(payload: bytes) -> Record:
    """The record in a signed payload; InvalidRecord or InvalidVIN names what is wrong."""
    try:
        record = _decoder.decode(payload)
    except msgspec.ValidationError as err:  # a subclass of DecodeError, so first
        raise _invalid(err, payload) from err
    except (msgspec.DecodeError, UnicodeDecodeError) as err:  # msgspec lets bad UTF-8 out
        raise InvalidRecord(
            f"payload is not valid JSON: {json_problem(payload, err)}; a record is one "
            "UTF-8 JSON object"
        ) from err
    except RecursionError as err:  # only `fields` of a correction can nest this deep
        raise InvalidRecord(
            "record nests JSON arrays or objects too deeply; flatten the values", field="$"
        ) from err
    if isinstance(record, _VehicleRecord):
        try:
            validate_vin(record.vin)
        except InvalidVIN as err:  # as every other field of a record is named
            err.field = "$.vin"
            raise
    return record


def _decimals(amount: str) -> int:
    return len(amount.partition(".")[2])


def _too_fine(amount: str, currency: str, allowed: int) -> str:
    """Why ``amount`` has too many decimals for ``currency`` (``allowed`` at most)."""
    if allowed == 0:
        rule = f"{currency} amounts are whole numbers (ISO 4217 gives it no minor unit)"
    else:
        rule = f"{currency} amounts have up to {allowed} decimals (its ISO 4217 minor unit)"
    n = _decimals(amount)
    return f'is "{amount}", with {n} decimal{"" if n == 1 else "s"}; {rule}'


# Where a record of each kind carries money, and a correction's fields may set it.
_MONEY_FIELDS = ("price", "cost")


def check_amounts(record: Record) -> None:
    """Refuse (``InvalidRecord`` naming the field) an amount with more decimals than its
    currency has (``core.fields.minor_units``): "12350.50" JPY, "18500.001" EUR; a
    correction's ``fields`` setting one too. For new submissions only: ``parse_record``
    keeps reading what logs hold (up to 2 decimals in any currency)."""
    found: list[tuple[str, Any]] = [
        (f"$.{name}", getattr(record, name, None)) for name in _MONEY_FIELDS
    ]
    if isinstance(record, Correction):
        found += [(f"$.fields.{name}", record.fields.get(name)) for name in _MONEY_FIELDS]
    for path, money in found:
        if isinstance(money, Money):
            amount, currency = money.amount, money.currency
        elif isinstance(money, dict):  # a correction's value, checked as its kind's
            amount, currency = money.get("amount"), money.get("currency")
            if not isinstance(amount, str) or not isinstance(currency, str):
                continue
        else:
            continue
        allowed = minor_units(currency)
        if _decimals(amount) > allowed:
            raise InvalidRecord(
                f"invalid record: `{path.removeprefix('$.')}.amount` "
                f"{_too_fine(amount, currency, allowed)}",
                field=f"{path}.amount",
            )


def encode_record(record: Record) -> bytes:
    return _encoder.encode(record)


def record_warnings(record: Record) -> list[str]:
    """What is odd but acceptable about a record: so far, VIN check-digit mismatches."""
    return validate_vin(record.vin) if isinstance(record, _VehicleRecord) else []


def _invalid(err: msgspec.ValidationError, payload: bytes | None = None) -> InvalidRecord:
    """Turns msgspec's message into ours, with ``field`` the JSON path at fault."""
    message = str(err)
    at = AT_PATH.search(message)
    path = at.group(1) if at else "$"  # msgspec leaves out the path at top level
    if isinstance(err.__cause__, FieldError):
        path = f"{path}.{err.__cause__.field}"
    elif named := _NAMED_FIELD.search(message):  # a missing or unknown field
        path = f"{path}.{named.group(1)}"

    hint = ""
    if path == "$.kind":
        hint = f"; `kind` must be one of: {', '.join(sorted(KINDS))}"
    elif message.startswith("Object contains unknown field"):
        hint = "; records refuse unknown fields: remove it or check its spelling"
    elif isinstance(err.__cause__, FieldError):
        pass  # our own sentence already
    elif payload is not None and (
        sentence := explain_payload(message, path, payload, _KINDS_BY_TAG)
    ):
        return InvalidRecord(f"invalid record: {sentence}", field=path)
    return InvalidRecord(f"invalid record: {message}{hint}", field=path)
