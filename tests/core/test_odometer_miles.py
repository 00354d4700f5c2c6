"""A reading in miles typed as km is still a rollback as recorded; its message asks."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from core.odometer import (
    KM_PER_MILE,
    MILES_WORTH_ASKING,
    MIN_ROOM_KM,
    ROLLBACK_TOLERANCE_KM,
    TYPICAL_KM_PER_DAY,
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
    # Within the pace of a car whose readings do not tell it (two readings): 100 km a day
    # and half again, at least 1,000 km; a mile is more than the rounding.
    driven = min(driven, max(MIN_ROOM_KM, 1.5 * TYPICAL_KM_PER_DAY * days) - 2)
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


def test_a_common_rollback_is_not_excused_as_miles():
    # A third off in a month: as miles, 193,121 km, 13,121 km in 30 days: no.
    [alert] = rollback_alerts(readings(180_000, 120_000, days=30))
    assert "miles" not in alert["message"]


def test_the_cars_own_pace_bounds_the_miles_it_may_have_meant():
    def three(second_km: int, days: int) -> list[dict]:
        first = {"index": 0, "occurred_at": "2024-01-01T09:00:00Z", "km": 50_000, "signer": "a"}
        return [first, *readings(second_km, 37_400, days)]  # 2024 -> 2025: 10 km a day

    # 37,400 read as miles is 60,189 km: 6,539 km past a 2025 reading of 53,650 km, which
    # at the car's 10 km a day would take almost two years, not 120 days.
    [alert] = rollback_alerts(three(53_650, 120))
    assert "miles" not in alert["message"]
    # A car driven 22 km a day (8,000 km in 2024) may have done 2,189 km in 120 days.
    [alert] = rollback_alerts(three(58_000, 120))
    assert "a reading in miles? 37,400 mi is 60,189 km" in alert["message"]


def test_readings_that_go_on_from_the_lowered_figure_are_no_unit_mix_up():
    later = {"index": 3, "occurred_at": "2025-09-01T09:00:00Z", "km": 39_000, "signer": "x"}
    [alert] = rollback_alerts([*readings(60_000, 37_400, days=120), later])
    assert "miles" not in alert["message"]
    back = {**later, "km": 62_000}  # the next reading is back above: a one-off figure
    [alert] = rollback_alerts([*readings(60_000, 37_400, days=120), back])
    assert "a reading in miles?" in alert["message"]


def test_miles_that_would_mean_impossible_driving_are_not_suggested():
    # 45,000 a day after 60,000 km, as miles, is 72,420 km: 12,420 km in a day is no
    # unit mix-up (a year later it could be).
    [alert] = rollback_alerts(readings(60_000, 45_000, days=1))
    assert "miles" not in alert["message"]
    [alert] = rollback_alerts(readings(60_000, 45_000, days=365))
    assert "a reading in miles? 45,000 mi is 72,420 km" in alert["message"]
