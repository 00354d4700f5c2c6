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
    for at, r in enumerate(readings):
        if highest is not None and r["km"] < highest["km"] - tolerance_km:
            miles = _as_miles(readings, at, highest, tolerance_km)
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
TYPICAL_KM_PER_DAY = 100  # a car's pace when its readings do not tell it
MIN_ROOM_KM = 1_000


def _as_miles(
    readings: list[dict[str, Any]], at: int, highest: dict[str, Any], tolerance_km: int
) -> int | None:
    """Reading ``at`` in km if it was a reading in miles typed as km (a car from a country
    that reads miles, a form that took the dashboard's figure), when that is what fits:
    read as miles it is no rollback, it is as far past the highest reading as the car
    is driven (its own pace before, half again, or 100 km a day when that is unknown;
    at least 1,000 km), and no later reading goes on from the lowered figure. Still a
    rollback as recorded; the message only says what to ask."""
    lower = readings[at]
    if lower["km"] < MILES_WORTH_ASKING:
        return None
    as_km = round(lower["km"] * KM_PER_MILE)
    days = max((_day(lower["occurred_at"]) - _day(highest["occurred_at"])).days, 1)
    first = readings[0]
    driving = (_day(highest["occurred_at"]) - _day(first["occurred_at"])).days
    pace = (highest["km"] - first["km"]) / driving if driving > 0 else TYPICAL_KM_PER_DAY
    room = max(MIN_ROOM_KM, 1.5 * max(pace, 0) * days)
    if not highest["km"] - tolerance_km <= as_km <= highest["km"] + room:
        return None
    after = readings[at + 1 :]
    if after and after[0]["km"] < highest["km"] - tolerance_km:
        return None  # the next reading goes on from the lowered figure: no unit mix-up
    return as_km


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
