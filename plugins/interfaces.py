"""What plugins hand to vinledger, and the facts vinledger hands back to them.

A plugin registers objects through the hooks in ``plugins.hookspecs``: inspection
providers, warranty and return policies, and referral-commission rules. Each is a
small class with an ``id`` and a ``version``; every result a plugin produces is stored
or shown together with that id and version, so anyone can tell which rules decided
what and recompute it.

Plugins refuse bad input by raising ``core.errors.InvalidRecord`` (or another
``VinledgerError``) with a message that names the field; any other exception is a
plugin failure, answered as a problem naming the plugin, and nothing is appended.
``Policy.decide`` refuses nothing by raising: it answers from the ledger's facts, and
any exception from it is a plugin failure.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from core.errors import InvalidRecord
from core.fields import ClaimCause, Severity

# ---- inspection providers ---------------------------------------------------------


class InspectionProvider(ABC):
    """A firm's own signed report format, turned into vinledger's inspection record.

    The partner signs its report as it is (DSSE ``payloadType`` = ``payload_type``);
    the entry keeps that envelope verbatim and carries the normalised inspection
    next to it, marked with this provider's id and version.
    """

    id: ClassVar[str]
    version: ClassVar[str]
    payload_type: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def normalise(self, payload: bytes) -> dict[str, Any]:
        """The report as a vinledger inspection record (a JSON object with
        ``kind: "inspection"``); raises ``InvalidRecord`` naming the item at fault."""


# ---- warranty and return policies ---------------------------------------------------

PolicyKind = Literal["return", "warranty", "reinspection"]
ClaimKind = Literal["return_request", "warranty_claim"]


@dataclass(frozen=True)
class SaleFacts:
    """A sale as the ledger records it."""

    vin: str
    dealer: str
    sold_at: datetime
    odometer_km: int | None
    index: int | None = None  # None while the sale is being submitted
    # Where the ledger counts calendar days (an IANA time zone): a Chinese dealer's
    # "7 days" are Beijing days. Terms state the zone they count in.
    time_zone: str = "UTC"

    @property
    def sale_day(self) -> date:
        """The sale's calendar day where the ledger counts days (``time_zone``): what
        ``Terms.starts`` must be. A car sold at 20:00 UTC is sold the next day in Tokyo,
        so never take ``sold_at.date()``."""
        return self.sold_at.astimezone(zone(self.time_zone)).date()


class Terms(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a dealer promised, normalised: stored in the sale's entry and shown to buyers."""

    policy: str
    version: str
    kind: PolicyKind
    starts: str  # the sale's day, YYYY-MM-DD
    ends: str | None  # the last day it holds, YYYY-MM-DD; None: no end by date
    # The highest odometer reading it covers: inclusive, like ``ends``; None: no km limit.
    km_limit: int | None
    components: list[str] = []  # covered components; empty: not component-based
    exclusions: list[str] = []
    summary: str  # one sentence in plain English
    # The IANA time zone ``starts`` and ``ends`` are days of (``SaleFacts.time_zone``).
    time_zone: str = "UTC"

    def ends_on(self) -> date | None:
        return None if self.ends is None else date.fromisoformat(self.ends)

    def day_of(self, at: datetime) -> date:
        """The calendar day of the moment ``at`` where these terms count days."""
        return at.astimezone(zone(self.time_zone)).date()


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ``InvalidRecord`` if this machine knows none."""
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidRecord(
            f"{name!r} is no IANA time zone known here (e.g. UTC, Asia/Shanghai, Europe/Berlin)",
            field="time_zone",
        ) from None


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True)
class PriorClaim:
    index: int
    kind: ClaimKind
    policy: str
    component: str | None
    approved: bool


DamageFlag = Literal["accident", "flood", "fire", "structural", "airbag"]


@dataclass(frozen=True)
class TitleBrand:
    """A title brand on record (a ``title_brand`` entry)."""

    brand: str  # "salvage", "flood", "odometer_not_actual", … (core.records.Brand)
    index: int  # the entry that records it
    occurred_at: datetime  # when it was branded (UTC)


# How bad an insurer said a claim's damage was, mildest first: compare by position,
# ``SEVERITIES.index(c.severity) >= SEVERITIES.index("moderate")``.
SEVERITIES: tuple[Severity, ...] = get_args(Severity)


@dataclass(frozen=True)
class DamageReport:
    """Damage an inspection flagged or an insurance claim reported."""

    flag: DamageFlag
    index: int  # the inspection or insurance_claim entry
    occurred_at: datetime  # when it was inspected or happened (UTC)
    source: Literal["inspection", "insurance_claim"]  # an insurer's: in ``insurance_claims``


@dataclass(frozen=True)
class InsuranceClaim:
    """An ``insurance_claim`` entry, whatever its cause, as its record (corrected) says
    it: one per entry. A ``DamageReport`` from an insurer names the same ``index``."""

    index: int  # the insurance_claim entry
    occurred_at: datetime  # when it happened (UTC)
    cause: ClaimCause  # "collision", "flood", "fire", "hail", "theft", "vandalism", "other"
    severity: Severity  # "minor", "moderate" or "severe"
    total_loss: bool
    structural: bool
    airbag_deployed: bool


@dataclass(frozen=True)
class OdometerRollback:
    """A reading more than the history view's tolerance below an earlier one."""

    index: int  # the entry with the lowered reading
    occurred_at: datetime  # when the lowered reading was taken (UTC)
    from_index: int  # the entry with the higher reading before it
    from_km: int
    to_km: int


@dataclass(frozen=True)
class ClaimFacts:
    """A claim against a sale's policy, with what the ledger knows when it is filed.

    The ledger refuses filing mistakes itself and never hands them to a policy: a
    claim of the wrong kind for the terms' ``kind`` (``return_request`` for a return
    policy, ``warranty_claim`` otherwise), dated before the sale or not within 72 hours
    before it is logged, on a sale an approved return undid, or with a reading below
    the sale's.

    ``title_brands``, ``damage``, ``odometer_rollbacks`` and ``insurance_claims`` are
    the VIN's history as its derived view (``core.history.analyse``) reads it with
    everything logged before the claim (every correction and dispute applied, whatever
    its own date), of events dated no later than the claim, leaving out what rests on a
    disputed entry. Each names its entry and date, so a policy can tell what happened
    since ``sold_at``. ``plugins.claim_facts.replay`` recomputes them from a history.
    """

    kind: ClaimKind
    index: int  # the claim's own log index
    filed_at: datetime
    component: str | None
    days_since_sale: int  # calendar days where the terms count them: 0 on the sale's day
    # The highest reading from the sale to the claim (the claim's own included):
    # corrected, not disputed; the latest at the claim if none is dated since the sale.
    odometer_km: int | None
    km_since_sale: int | None  # None when either reading is missing
    prior_claims: list[PriorClaim] = field(default_factory=list)
    sale_index: int | None = None  # the sale's log index
    sold_at: datetime | None = None  # the sale's time (UTC)
    title_brands: list[TitleBrand] = field(default_factory=list)
    damage: list[DamageReport] = field(default_factory=list)
    odometer_rollbacks: list[OdometerRollback] = field(default_factory=list)
    odometer_index: int | None = None  # the entry whose reading odometer_km is
    # Every insurance claim on record at the claim (hail, theft and "other" too, which
    # ``damage`` leaves out), as ``damage`` is read: oldest first.
    insurance_claims: list[InsuranceClaim] = field(default_factory=list)


@dataclass(frozen=True)
class Decision:
    approved: bool
    reason: str  # plain words a buyer and a dealer both understand


class Policy(ABC):
    """A warranty or return policy a dealer attaches to a sale by ``id``."""

    id: ClassVar[str]
    version: ClassVar[str]
    kind: ClassVar[PolicyKind]
    description: ClassVar[str] = ""
    # What a buyer's page heads the policy's terms with ("Gearbox warranty, 60 days"),
    # in English; the id when blank. The built-in policies' headings are the page's own.
    title: ClassVar[str] = ""

    @abstractmethod
    def terms(self, params: dict[str, Any], sale: SaleFacts) -> Terms:
        """Validate the dealer's parameters and state the terms; raises ``InvalidRecord``
        with ``field`` naming the parameter (e.g. ``max_km``) when one is wrong."""

    @abstractmethod
    def decide(self, terms: Terms, claim: ClaimFacts) -> Decision:
        """Decide a claim from the ledger's facts alone: same facts, same decision.

        ``terms`` are as stored at the sale (``terms.version`` may be older than this
        policy's): decide by them. Refuse with ``Decision(False, reason)``; any
        exception is a plugin failure. Runs inside the sequencer, waited for the
        ledger's ``plugin_timeout_seconds`` at most."""


# ---- referral commissions -------------------------------------------------------------


@dataclass(frozen=True)
class Referral:
    code: str
    referrer: str
    upline: str | None
    rule: str
    params: dict[str, Any]
    model: str  # what the slots are counted by: WMI and model year of the VIN
    region: str


@dataclass(frozen=True)
class SaleForCommission:
    index: int
    vin: str
    dealer: str
    price: Decimal | None
    currency: str | None


@dataclass(frozen=True)
class Commission:
    beneficiary: str
    amount: Decimal
    currency: str
    level: int  # 1: the referrer; 2: its upline
    rule: str
    version: str


class CommissionRule(ABC):
    """How a referral's commission is computed from a sale."""

    id: ClassVar[str]
    version: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters, checked and normalised; raises ``InvalidInput`` naming one."""

    @abstractmethod
    def compute(self, referral: Referral, sale: SaleForCommission) -> list[Commission]:
        """The commissions a sale earns; an empty list when it earns none."""

    def admit(self, referral: Referral, active: list[Referral]) -> None:
        """Refuse (``Conflict``) a new referral that the rule does not allow next to
        the ``active`` ones for the same model and region. Allows all by default."""
        return None
