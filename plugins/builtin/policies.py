"""The built-in warranty and return policies.

Each states its terms at the sale (from the sale's day and odometer reading) and
decides claims from the ledger's facts alone. Windows count calendar days where the
ledger does (``SaleFacts.time_zone``, config.json's ``time_zone``: UTC unless set),
and the terms say where: the sale's day is day 0, so a 7-day return filed on day 7 is
in time and on day 8 is not, as the buyer's own calendar reads them. Kilometre limits
are odometer readings, inclusive like the last day: the reading at the sale plus the
allowance is still covered, one more is not, and the reading judged is the highest
since the sale (``ClaimFacts.odometer_km``), named in the reason when it is not the
claim's own. A warranty pays a repair once: a claim
that repeats one approved on the same sale for the same component is refused.

Version 2 of the return and both warranties (2026-12-02): judged by the highest reading
since the sale, and a warranty refuses a repeat of an approved claim, where version 1
went by the latest reading and approved repeats; a claim on a sale stated under
version 1 is decided by version 2, and its decision says so.

The ledger refuses filing mistakes before a policy sees them (a claim of the wrong
kind, dated before the sale, or on a returned sale; see ``plugins.claims``); the
checks here that repeat them keep each policy right on its own.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from core.errors import InvalidRecord
from plugins.hookspecs import hookimpl
from plugins.interfaces import ClaimFacts, Decision, Policy, SaleFacts, Terms, zone

MILE_KM = 1.609344
WEAR_ITEMS = "wear items (tyres, brake pads and discs, clutch disc, wiper blades, filters)"
AFTER_SALE_DAMAGE = "damage from an accident, flood, fire or misuse after the sale"


def _params(params: dict[str, Any], allowed: dict[str, tuple[int, int, int]]) -> dict[str, int]:
    """Integer parameters with (default, min, max); refuses unknown ones by name."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise InvalidRecord(
            f"unknown parameter {unknown[0]!r}; this policy takes: "
            f"{', '.join(allowed) or 'no parameters'}",
            field=f"params.{unknown[0]}",
        )
    out = {}
    for name, (default, low, high) in allowed.items():
        value = params.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidRecord(
                f"parameter {name!r} must be a whole number from {low} to {high}, not {value!r}",
                field=f"params.{name}",
            )
        out[name] = value
    return out


def _needs_reading(policy: str, sale: SaleFacts) -> int:
    if sale.odometer_km is None:
        raise InvalidRecord(
            f"policy {policy!r} limits kilometres, so the sale must record the odometer "
            "reading (odometer_km)",
            field="odometer_km",
        )
    return sale.odometer_km


def _last_day(start: date, days: int) -> str:
    """The day ``days`` after ``start``, refused (not crashed on) past the calendar's end."""
    try:
        return (start + timedelta(days=days)).isoformat()
    except OverflowError:
        raise InvalidRecord(
            f"a sale on {start.isoformat()} leaves no room for {days} days of cover before "
            "the year 9999 ends; check the sale's date (occurred_at)",
            field="occurred_at",
        ) from None


def _sale_day(sale: SaleFacts) -> date:
    """The sale's calendar day where the ledger counts days."""
    return sale.sold_at.astimezone(zone(sale.time_zone)).date()


def _window(terms: Terms, claim: ClaimFacts) -> Decision | None:
    """A refusal if the claim is past the end date or the km limit; None if within."""
    if claim.days_since_sale < 0:
        return Decision(False, "the claim is dated before the sale")
    ends = terms.ends_on()
    if ends is not None and terms.day_of(claim.filed_at) > ends:
        return Decision(
            False,
            f"filed on day {claim.days_since_sale} after the sale; {terms.policy} ended on "
            f"{terms.ends}",
        )
    if terms.km_limit is not None:
        if claim.odometer_km is None:
            return Decision(
                False,
                "no odometer reading on the ledger at the claim; record one to have it decided",
            )
        if claim.odometer_km > terms.km_limit:
            return Decision(
                False,
                f"the odometer read {claim.odometer_km:,} km{_went_by(claim)}; "
                f"{terms.policy} covers readings up to {terms.km_limit:,} km",
            )
    return None


def _went_by(claim: ClaimFacts) -> str:
    """Which reading the decision went by, when it is not the claim's own."""
    if claim.odometer_index is None or claim.odometer_index == claim.index:
        return ""
    return f" at entry {claim.odometer_index}, the highest reading since the sale"


class SevenDayReturn(Policy):
    id = "return-7d"
    version = "2"
    kind = "return"
    description = "Return within 7 days, no questions asked, under a kilometre cap"

    def terms(self, params: dict[str, Any], sale: SaleFacts) -> Terms:
        p = _params(params, {"max_km": (500, 1, 5_000)})
        start = _sale_day(sale)
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=start.isoformat(),
            ends=_last_day(start, 7),
            km_limit=_needs_reading(self.id, sale) + p["max_km"],
            time_zone=sale.time_zone,
            summary=f"Return the car within 7 days and {p['max_km']:,} km for a full refund, "
            "no questions asked.",
        )

    def decide(self, terms: Terms, claim: ClaimFacts) -> Decision:
        if claim.kind != "return_request":
            return Decision(False, f"{self.id} is a return policy; file a return_request")
        if any(p.approved and p.kind == "return_request" for p in claim.prior_claims):
            return Decision(False, "this sale was already returned")
        refused = _window(terms, claim)
        if refused:
            return refused
        return Decision(
            True,
            f"returned on day {claim.days_since_sale} after the sale"
            + (
                f", {claim.km_since_sale:,} km driven{_went_by(claim)}"
                if claim.km_since_sale is not None
                else ""
            )
            + "; within the 7-day return window",
        )


class _ComponentWarranty(Policy):
    kind = "warranty"
    days: int
    miles: int | None = None
    components: tuple[str, ...]
    exclusions: tuple[str, ...] = (WEAR_ITEMS, AFTER_SALE_DAMAGE)

    def terms(self, params: dict[str, Any], sale: SaleFacts) -> Terms:
        _params(params, {})
        start = _sale_day(sale)
        km_limit = None
        if self.miles is not None:
            km_limit = _needs_reading(self.id, sale) + round(self.miles * MILE_KM)
        *most, last = self.components
        covered = f"{', '.join(most)} and {last}" if most else last
        limit = f" or {self.miles:,} miles, whichever comes first" if self.miles else ""
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=start.isoformat(),
            ends=_last_day(start, self.days),
            km_limit=km_limit,
            components=list(self.components),
            exclusions=list(self.exclusions),
            time_zone=sale.time_zone,
            summary=f"Repairs of the {covered} for {self.days} days{limit}.",
        )

    def decide(self, terms: Terms, claim: ClaimFacts) -> Decision:
        if claim.kind != "warranty_claim":
            return Decision(False, f"{self.id} is a warranty; file a warranty_claim")
        if claim.component not in terms.components:
            return Decision(
                False,
                f"{claim.component!r} is not covered; {self.id} covers "
                f"{', '.join(terms.components)}",
            )
        repeated = next(
            (
                p
                for p in claim.prior_claims
                if p.approved and p.kind == "warranty_claim" and p.component == claim.component
            ),
            None,
        )
        if repeated is not None:
            return Decision(
                False,
                f"the {claim.component} was already approved on this sale (claim "
                f"{repeated.index}, under {repeated.policy}); a repeat of an approved claim "
                "is not covered again",
            )
        refused = _window(terms, claim)
        if refused:
            return refused
        return Decision(
            True,
            f"{claim.component} is covered by {self.id} and the claim is on day "
            f"{claim.days_since_sale} after the sale",
        )


class PowertrainWarranty(_ComponentWarranty):
    id = "powertrain-30d"
    version = "2"
    description = "30-day powertrain warranty: engine and transmission"
    days = 30
    components = ("engine", "transmission")


class LimitedWarranty(_ComponentWarranty):
    id = "limited-90d"
    version = "2"
    description = "90-day / 4,000-mile limited warranty"
    days = 90
    miles = 4_000
    components = (
        "engine",
        "transmission",
        "drive-axle",
        "brakes",
        "steering",
        "suspension",
        "electrics",
        "air-conditioning",
        "cooling",
    )


class LifetimeReinspection(Policy):
    id = "reinspection-lifetime"
    version = "1"
    kind = "reinspection"
    description = "Free re-inspection for as long as the buyer owns the car"

    def terms(self, params: dict[str, Any], sale: SaleFacts) -> Terms:
        _params(params, {})
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=_sale_day(sale).isoformat(),
            ends=None,
            km_limit=None,
            components=["reinspection"],
            time_zone=sale.time_zone,
            summary="A free re-inspection whenever the buyer asks, for as long as they own "
            "the car.",
        )

    def decide(self, terms: Terms, claim: ClaimFacts) -> Decision:
        if claim.kind != "warranty_claim" or claim.component != "reinspection":
            return Decision(
                False, f"{self.id} covers re-inspections only (component 'reinspection')"
            )
        refused = _window(terms, claim)  # no end date and no km limit: only "before the sale"
        if refused:
            return refused
        return Decision(True, "free re-inspection, promised for the life of the car")


@hookimpl
def register_policies():
    return [SevenDayReturn(), PowertrainWarranty(), LimitedWarranty(), LifetimeReinspection()]
