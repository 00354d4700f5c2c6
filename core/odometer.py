"""The odometer readings of a vehicle's history and what they say together.

Every reading from every source in time order (never log order; ties keep log order),
rollbacks beyond a stated tolerance naming both entries and their signers, rates no
car is driven at, and the last reading that can be trusted.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

from core.alerts import alert
from core.fields import parse_time

# A reading this much lower than an earlier one is a rollback, not a typo in the
# last digit or a rounding difference between a dashboard and a workshop system.
ROLLBACK_TOLERANCE_KM = 50
# Faster than this between two readings is not driving: one of them is wrong.
MAX_KM_PER_DAY = 2_000
# Kinds whose odometer_km is not a reading of its own (a decision repeats one).
NOT_READINGS = frozenset({"correction", "claim_decision", "dispute", "complaint"})


def km_text(km: object) -> str:
    """A reading as an alert's message says it ("61,871 km"); a value an older log holds
    that is no number (a string, say) is shown as it is rather than failing the view."""
    ok = isinstance(km, int) and not isinstance(km, bool)
    return f"{km:,} km" if ok else repr(km)


def _day(text: str) -> date:
    return parse_time(text).date()


def odometer_readings(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    readings = []
    for item in items:
        km = item["record"].get("odometer_km")
        if km is None or item["kind"] in NOT_READINGS:
            continue
        readings.append(
            {
                "index": item["index"],
                "occurred_at": item["record"]["occurred_at"],
                "km": km,
                "kind": item["kind"],
                "signer": item["signer"]["id"],
                "corrected": bool(item.get("corrections")),
                "disputed": bool(item.get("disputes")),
            }
        )
    # Time order of the events, not of logging; ties keep log order.
    readings.sort(key=lambda r: (parse_time(r["occurred_at"]), r["index"]))
    return readings


def rollback_alerts(readings: list[dict[str, Any]], tolerance_km: int = ROLLBACK_TOLERANCE_KM):
    alerts = []
    highest: dict[str, Any] | None = None
    for r in readings:
        if highest is not None and r["km"] < highest["km"] - tolerance_km:
            days = max((_day(r["occurred_at"]) - _day(highest["occurred_at"])).days, 1)
            miles = _as_miles(r["km"], highest["km"], tolerance_km, days)
            alerts.append(
                alert(
                    "odometer_rollback",
                    "high",
                    f"odometer went back from {km_text(highest['km'])} (entry {highest['index']}, "
                    f"{highest['signer']}) to {km_text(r['km'])} (entry {r['index']}, "
                    f"{r['signer']})"
                    + (
                        f"; a reading in miles? {r['km']:,} mi is {km_text(miles)}"
                        if miles is not None
                        else ""
                    ),
                    [highest["index"], r["index"]],
                    from_km=highest["km"],
                    to_km=r["km"],
                    **({"as_miles_km": miles} if miles is not None else {}),
                )
            )
            # The lowered reading is the new baseline: readings that go on from it are
            # not each a new rollback, but a later drop below it is.
            highest = r
        elif (highest is None or r["km"] > highest["km"]) and not r.get("disputed"):
            # A reading the operator disputes (a partner's claim about a car it may never
            # have seen) sets no baseline: it cannot make later honest readings look rolled
            # back. Disputed as the lower one, it still raises the rollback, marked disputed.
            highest = r
    return alerts


KM_PER_MILE = 1.609344
MILES_WORTH_ASKING = 1_000  # below, any two small readings would fit


def _as_miles(km: int, highest_km: int, tolerance_km: int, days: int) -> int | None:
    """The lower reading in km if it was a reading in miles typed as km, when that would
    be no rollback and no faster than a car is driven since the higher reading (a car
    from a country that reads miles, a form that took the dashboard's figure): still a
    rollback as recorded, but the message can say what to ask."""
    if km < MILES_WORTH_ASKING:
        return None
    as_km = round(km * KM_PER_MILE)
    fits = highest_km - tolerance_km <= as_km <= highest_km + MAX_KM_PER_DAY * days
    return as_km if fits else None


def rate_alerts(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    alerts = []
    for a, b in itertools.pairwise(readings):
        days = (_day(b["occurred_at"]) - _day(a["occurred_at"])).days
        driven = b["km"] - a["km"]
        if driven > MAX_KM_PER_DAY * max(days, 1):
            alerts.append(
                alert(
                    "implausible_rate",
                    "medium",
                    f"{km_text(driven)} in {days} days between entry {a['index']} "
                    f"({a['signer']}) and entry {b['index']} ({b['signer']}): more than "
                    f"{km_text(MAX_KM_PER_DAY)} a day",
                    [a["index"], b["index"]],
                    km=driven,
                    days=days,
                )
            )
    return alerts


def last_trusted(readings, rollbacks, not_actual_since: datetime | None) -> dict[str, Any] | None:
    """The last reading before anything made the odometer untrustworthy."""
    lowered = {a["entries"][1] for a in rollbacks}
    cuts = [parse_time(r["occurred_at"]) for r in readings if r["index"] in lowered]
    if not_actual_since is not None:
        cuts.append(not_actual_since)
    cut = min(cuts, default=None)
    trusted = [
        r
        for r in readings
        if (cut is None or parse_time(r["occurred_at"]) < cut) and not r["disputed"]
    ]
    return trusted[-1] if trusted else None
