"""core.history: what entries mean together, explained by the entries behind it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.history import ROLLBACK_TOLERANCE_KM, analyse

START = datetime(2020, 1, 1, tzinfo=UTC)


def item(index: int, kind: str, day: int, km: int | None = None, signer="acme", **record):
    rec = {"kind": kind, "occurred_at": (START + timedelta(days=day)).isoformat(), **record}
    if km is not None:
        rec["odometer_km"] = km
    return {"index": index, "kind": kind, "signer": {"id": signer}, "record": rec}


def readings_history(kms: list[int]) -> list[dict]:
    return [item(10 + i, "maintenance", 30 * i, km) for i, km in enumerate(kms)]


increasing = st.lists(st.integers(0, 20_000), min_size=1, max_size=30).map(
    lambda steps: [sum(steps[: i + 1]) for i in range(len(steps))]
)


@given(increasing)
def test_readings_that_only_increase_never_alert(kms):
    view = analyse(readings_history(kms))
    assert view["alerts"] == []
    assert view["odometer"]["last_km"] == kms[-1]


@given(st.integers(0, 3_000), st.integers(0, ROLLBACK_TOLERANCE_KM))
def test_a_drop_within_tolerance_is_not_a_rollback(km, drop):
    assert analyse(readings_history([km + drop, km]))["alerts"] == []


@given(increasing, st.data())
def test_an_injected_rollback_always_alerts_naming_both_entries(kms, data):
    at = data.draw(st.integers(1, len(kms)), label="position")
    peak = max(kms[:at])
    rolled = data.draw(st.integers(0, max(0, peak - ROLLBACK_TOLERANCE_KM - 1)), label="km")
    if peak - rolled <= ROLLBACK_TOLERANCE_KM:
        return  # the peak is too low to roll back beyond the tolerance
    history = readings_history([*kms[:at], rolled])
    alerts = [a for a in analyse(history)["alerts"] if a["type"] == "odometer_rollback"]
    assert len(alerts) == 1
    highest = next(h for h in history if h["record"]["odometer_km"] == peak)
    assert alerts[0]["entries"] == [highest["index"], history[-1]["index"]]
    assert alerts[0]["facts"] == {"from_km": peak, "to_km": rolled}


@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=20), st.randoms())
def test_the_view_does_not_depend_on_log_order_of_readings(kms, rnd):
    history = readings_history(kms)
    shuffled = history[:]
    rnd.shuffle(shuffled)
    assert analyse(history)["odometer"] == analyse(shuffled)["odometer"]


def test_readings_are_ordered_by_when_they_happened_not_when_logged():
    late_logged = item(20, "inspection", 10, 5_000, flags={})
    history = [item(10, "maintenance", 40, 9_000), late_logged]
    view = analyse(history)
    assert [r["index"] for r in view["odometer"]["readings"]] == [20, 10]
    assert view["alerts"] == []


def test_brands_damage_claims_and_recalls():
    flags = {"accident": False, "flood": True, "fire": False, "structural": False, "airbag": False}
    history = [
        item(1, "inspection", 1, 100, flags=flags, grade="D"),
        item(
            2,
            "insurance_claim",
            2,
            cause="fire",
            structural=True,
            total_loss=True,
            airbag_deployed=True,
        ),
        item(3, "title_brand", 3, brand="salvage", jurisdiction="US-TX"),
        item(4, "recall", 4, campaign="22V-1", component="airbag", status="open"),
        item(5, "recall", 5, campaign="23V-9", component="brakes", status="open"),
        item(6, "recall", 6, campaign="23V-9", component="brakes", status="remedied"),
    ]
    view = analyse(history)
    found = {(a["type"], tuple(a["entries"])) for a in view["alerts"]}
    assert found == {
        ("flood_damage", (1,)),
        ("fire_damage", (2,)),
        ("structural_damage", (2,)),
        ("total_loss", (2,)),
        ("airbag_deployed", (2,)),
        ("title_brand_salvage", (3,)),
        ("recall_open", (4,)),
    }
    assert view["brands"] == [{"brand": "salvage", "index": 3}]
    assert view["latest_inspection"] == {"index": 1, "grade": "D"}


def test_readings_that_go_on_from_a_rolled_back_value_alert_once():
    history = readings_history([10_000, 30_000, 9_000, 9_500, 12_000])
    alerts = analyse(history)["alerts"]
    assert [a["entries"] for a in alerts] == [[11, 12]]
    # A second drop below the new baseline is a second rollback.
    history = readings_history([10_000, 30_000, 9_000, 12_000, 2_000])
    assert [a["entries"] for a in analyse(history)["alerts"]] == [[11, 12], [13, 14]]


def correction(index: int, target: int, fields: dict, signer="acme", day=200) -> dict:
    return item(
        index, "correction", day, signer=signer, corrects=target, reason="typo", fields=fields
    )


def test_a_correction_supersedes_the_reading_and_keeps_the_original():
    history = readings_history([10_000, 30_000, 3_000])  # the last one lost a digit
    assert analyse(history)["alerts"]  # a rollback, until corrected
    fixed = analyse([*history, correction(50, 12, {"odometer_km": 30_500})])
    assert fixed["alerts"] == []
    assert fixed["odometer"]["last_km"] == 30_500
    (corrected,) = fixed["corrected"]
    assert corrected["index"] == 12 and corrected["original"]["odometer_km"] == 3_000
    assert corrected["corrections"] == [
        {"index": 50, "by": "acme", "reason": "typo", "fields": ["odometer_km"]}
    ]
    # The correction entry's own record is no reading.
    assert [r["index"] for r in fixed["odometer"]["readings"]] == [10, 11, 12]


@given(increasing, st.data())
def test_later_corrections_win_field_by_field(kms, data):
    history = readings_history(kms)
    target = data.draw(st.sampled_from(history))["index"]
    first, second = data.draw(st.integers(0, 10**6)), data.draw(st.integers(0, 10**6))
    view = analyse(
        [
            *history,
            correction(900, target, {"odometer_km": first}),
            correction(901, target, {"odometer_km": second}),
        ]
    )
    reading = next(r for r in view["odometer"]["readings"] if r["index"] == target)
    assert reading["km"] == second and reading["corrected"]


def test_implausible_rates_and_the_last_trusted_reading():
    history = [
        item(1, "maintenance", 0, 10_000),
        item(2, "maintenance", 2, 19_000),
        item(3, "inspection", 40, 20_000, flags={}),
        item(4, "inspection", 50, 5_000, flags={}),
    ]
    view = analyse(history)
    types = [(a["type"], a["entries"]) for a in view["alerts"]]
    assert ("implausible_rate", [1, 2]) in types and ("odometer_rollback", [3, 4]) in types
    assert view["odometer"]["last_trusted"]["index"] == 3  # before the rollback


def test_odometer_not_actual_brand_ends_trust():
    history = [
        *readings_history([10_000, 20_000]),
        item(5, "title_brand", 45, brand="odometer_not_actual", jurisdiction="US-TX"),
        item(6, "maintenance", 60, 25_000),
    ]
    view = analyse(history)
    assert view["odometer"]["not_actual"] is True
    assert view["odometer"]["last_trusted"]["index"] == 11


def test_owners_service_gaps_and_disputes():
    history = [
        item(1, "transfer", 0, owner_commitment="a" * 64),
        item(2, "maintenance", 10, 1_000),
        item(3, "maintenance", 600, 20_000),
        item(4, "transfer", 700, owner_commitment="b" * 64),
        item(5, "transfer", 701, owner_commitment="b" * 64),  # the same owner, registered twice
        item(6, "dispute", 702, disputes=3, reason="owner says the shop misread it"),
    ]
    view = analyse(history)
    assert view["owners"] == {"count": 2, "entries": [1, 4]}
    assert view["service"]["intervals"] == [{"from": 2, "to": 3, "days": 590, "km": 19_000}]
    gap = next(a for a in view["alerts"] if a["type"] == "service_gap")
    assert gap["entries"] == [2, 3] and gap["disputed"] is True
    assert view["disputed"] == [
        {"index": 3, "disputes": [{"index": 6, "reason": "owner says the shop misread it"}]}
    ]
    resolved = analyse(
        [*history, item(7, "dispute", 703, disputes=3, reason="checked", status="resolved")]
    )
    assert resolved["disputed"] == []


@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=20))
def test_the_same_entries_always_give_the_same_view(kms):
    history = readings_history(kms)
    assert analyse(history) == analyse(copy.deepcopy(history))
    assert history == readings_history(kms)  # analyse never changes its input


def test_as_of_leaves_out_what_happened_later():
    history = readings_history([10_000, 30_000, 3_000])
    early = analyse(history, as_of=history[1]["record"]["occurred_at"])
    assert early["alerts"] == [] and early["entries"] == 2


@pytest.mark.parametrize("severity, level", [("minor", "medium"), ("severe", "high")])
def test_a_collision_claim_is_an_accident_with_its_severity(severity, level):
    view = analyse([item(1, "insurance_claim", 3, claim_ref="c", severity=severity)])
    (alert,) = view["alerts"]
    assert (alert["type"], alert["severity"], alert["facts"]) == (
        "accident",
        level,
        {"severity": severity},
    )
