"""A reading in miles typed as km is still a rollback as recorded; its message asks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.odometer import (
    KM_PER_MILE,
    MAX_KM_PER_DAY,
    MILES_WORTH_ASKING,
    ROLLBACK_TOLERANCE_KM,
    rollback_alerts,
)


def readings(higher: int, lower: int, days: int = 30) -> list[dict]:
    from datetime import date, timedelta

    later = date(2025, 1, 1) + timedelta(days=days)
    return [
        {"index": 1, "occurred_at": "2025-01-01T09:00:00Z", "km": higher, "signer": "cn-shop"},
        {"index": 2, "occurred_at": f"{later}T09:00:00Z", "km": lower, "signer": "tuv"},
    ]


def test_the_crossborder_case():
    [found] = rollback_alerts(readings(60_000, 37_400, days=120))
    assert found["severity"] == "high" and found["type"] == "odometer_rollback"
    assert found["message"].endswith("; a reading in miles? 37,400 mi is 60,189 km")
    assert found["facts"] == {"from_km": 60_000, "to_km": 37_400, "as_miles_km": 60_189}


@given(
    higher=st.integers(1_000, 900_000),
    driven=st.integers(0, 50_000),
    days=st.integers(1, 3_650),
)
def test_miles_that_fit_are_asked_about(higher, driven, days):
    driven = min(driven, MAX_KM_PER_DAY * days - 1)  # a mile is more than the rounding
    miles = round((higher + driven) / KM_PER_MILE)
    as_km = round(miles * KM_PER_MILE)
    found = rollback_alerts(readings(higher, miles, days))
    if miles >= higher - ROLLBACK_TOLERANCE_KM:
        assert found == []  # no rollback at all
        return
    if miles < MILES_WORTH_ASKING:
        assert "as_miles_km" not in found[0]["facts"]
        return
    [alert] = found
    assert alert["severity"] == "high"
    assert alert["facts"]["as_miles_km"] == as_km
    assert f"a reading in miles? {miles:,} mi is {as_km:,} km" in alert["message"]


def test_small_readings_are_not_asked_about():
    [alert] = rollback_alerts(readings(1_500, 900))
    assert "miles" not in alert["message"]


@given(higher=st.integers(10_000, 900_000), share=st.floats(0.0, 0.6), days=st.integers(1, 400))
def test_a_rollback_that_no_unit_explains_is_not_excused(higher, share, days):
    lower = int(higher * share)  # miles would still be below the higher reading
    [alert] = rollback_alerts(readings(higher, lower, days))
    assert "miles" not in alert["message"] and "as_miles_km" not in alert["facts"]


def test_miles_that_would_mean_impossible_driving_are_not_suggested():
    # 45,000 a day after 60,000 km, as miles, is 72,420 km: 12,420 km in a day is no
    # unit mix-up (a year later it could be).
    [alert] = rollback_alerts(readings(60_000, 45_000, days=1))
    assert "miles" not in alert["message"]
    [alert] = rollback_alerts(readings(60_000, 45_000, days=365))
    assert "a reading in miles? 45,000 mi is 72,420 km" in alert["message"]
