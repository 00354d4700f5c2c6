"""How much a correction's alert weighs (core.correction_alerts): a withdrawal is as
bad as the worst damage alert it took back, a checklist code only respelled withdraws
nothing, a reading moved in time is a problem only when it moves past another; and
every alert writes km one way ("30,000 km")."""

from __future__ import annotations

import pytest

from api.i18n import Words
from api.verdict import alert_text
from core.history import analyse
from tests.core.test_correction_alerts import (
    CLEAN,
    claim,
    fix,
    inspection,
    item,
    of_type,
    readings_and_a_redated_low_one,
)

# ---- a withdrawal is as bad as what it took back -------------------------------------------


@pytest.mark.parametrize("cause", ["collision", "hail", "vandalism", "other"])
def test_a_severe_claim_made_minor_is_a_high_withdrawal(cause):
    severe = claim(cause=cause, severity="severe", total_loss=False)
    assert any(a["severity"] == "high" for a in analyse([severe])["alerts"])
    view = analyse([severe, fix(2, 1, {"severity": "minor"}, signer="harbor")])
    (withdrawn,) = of_type(view, "finding_withdrawn")
    assert withdrawn["severity"] == "high"
    assert withdrawn["facts"]["withdrawn"] == [
        {"field": "severity", "from": "severe", "to": "minor"}
    ]


@pytest.mark.parametrize(
    ("was", "fields"),
    [
        ({"cause": "hail", "severity": "moderate"}, {"severity": "minor"}),  # medium taken back
        ({"cause": "collision", "severity": "moderate"}, {"severity": "minor"}),
        ({"cause": "vandalism", "severity": "minor"}, {"cause": "other"}),  # a low one
    ],
)
def test_a_claim_softened_from_below_high_is_a_medium_withdrawal(was, fields):
    view = analyse([claim(**was, total_loss=False), fix(2, 1, fields, signer="harbor")])
    (withdrawn,) = of_type(view, "finding_withdrawn")
    assert withdrawn["severity"] == "medium"


def test_a_severity_raised_then_lowered_again_is_as_bad_as_the_severe_state():
    history = [
        claim(cause="hail", severity="minor", total_loss=False),
        fix(2, 1, {"severity": "severe"}, signer="harbor"),
        fix(3, 1, {"severity": "minor"}, signer="harbor"),
    ]
    (withdrawn,) = of_type(analyse(history), "finding_withdrawn")
    # Named: the correction that lowered it, not the one that raised it.
    assert withdrawn["severity"] == "high" and withdrawn["entries"] == [1, 3]


# ---- a checklist code respelled -----------------------------------------------------------


def checked(*items: tuple[str, str]) -> dict:
    record = inspection(flags=CLEAN, grade="C")
    record["record"]["items"] = [{"code": c, "result": r} for c, r in items]
    return record


@pytest.mark.parametrize(
    ("was", "now"),
    [
        (("brakse", "minor"), ("brakes", "minor")),
        (("Brake-Pads", "fail"), ("brake_pads", "fail")),
        (("frme", "major"), ("frame", "fail")),  # respelled and worse: nothing withdrawn
    ],
)
def test_a_code_only_respelled_withdraws_nothing(was, now):
    fixed = {"items": [{"code": now[0], "result": now[1]}]}
    alerts = analyse([checked(was), fix(35, 34, fixed)])["alerts"]
    assert [a["type"] for a in alerts if a["type"] != "inspection_failed"] == []


@pytest.mark.parametrize(
    ("now", "said"),
    [
        (("wiper", "fail"), "frame: fail (now not listed)"),  # another item: not a spelling
        (("frames", "minor"), "frame: fail (now not listed)"),  # respelled, but milder
    ],
)
def test_a_failed_item_renamed_to_another_or_made_milder_is_withdrawn(now, said):
    fixed = {"items": [{"code": now[0], "result": now[1]}]}
    (withdrawn,) = of_type(
        analyse([checked(("frame", "fail")), fix(35, 34, fixed)]), "finding_withdrawn"
    )
    assert withdrawn["facts"]["withdrawn"] == [{"field": "items.frame", "from": "fail", "to": None}]
    # A failed frame is a high inspection_failed: taking it back is as bad.
    assert said in withdrawn["message"] and withdrawn["severity"] == "high"


def test_a_code_that_was_on_record_before_is_no_new_spelling():
    """ "brakes" was a separate item: dropping "brakse" is not respelling it."""
    history = [checked(("brakse", "fail"), ("brakes", "minor"))]
    history.append(fix(35, 34, {"items": [{"code": "brakes", "result": "fail"}]}))
    (withdrawn,) = of_type(analyse(history), "finding_withdrawn")
    assert [w["field"] for w in withdrawn["facts"]["withdrawn"]] == ["items.brakse"]


def test_a_respelling_stays_unwithdrawn_after_an_unrelated_later_correction():
    history = [checked(("brakse", "minor"))]
    history.append(fix(35, 34, {"items": [{"code": "brakes", "result": "minor"}]}))
    assert of_type(analyse(history), "finding_withdrawn") == []
    history.append(fix(36, 34, {"odometer_km": 41_000}))  # nothing to do with the checklist
    assert of_type(analyse(history), "finding_withdrawn") == []


def test_a_code_respelled_twice_withdraws_nothing_but_two_items_made_one_do():
    # (each spelling a safety item: one that is none would lower the alert, a withdrawal)
    history = [checked(("brake-pads", "fail"))]
    history.append(fix(35, 34, {"items": [{"code": "brake-padz", "result": "fail"}]}))
    history.append(fix(36, 34, {"items": [{"code": "brake-padq", "result": "fail"}]}))
    assert of_type(analyse(history), "finding_withdrawn") == []
    two = [checked(("brake-fl", "fail"), ("brake-fr", "fail"))]
    two.append(fix(35, 34, {"items": [{"code": "brake-f", "result": "fail"}]}))
    (withdrawn,) = of_type(analyse(two), "finding_withdrawn")
    assert len(withdrawn["facts"]["withdrawn"]) == 1  # one of them was no respelling


# ---- a reading moved in time ---------------------------------------------------------------


def test_a_lone_reading_moved_in_time_raises_nothing():
    reading = inspection(flags=CLEAN, grade="C", result="ok", odometer_km=41_000)
    view = analyse([reading, fix(35, 34, {"occurred_at": "2026-06-01T01:00:00Z"})])
    assert view["alerts"] == []


def test_a_reading_moved_with_no_other_between_raises_nothing():
    history = readings_and_a_redated_low_one()  # 60,000 (2024), 90,000 (Feb 2025), 30,000
    later = fix(42, 41, {"occurred_at": "2025-12-10T09:00:00Z"}, signer="q")
    assert of_type(analyse([*history, later]), "odometer_redated") == []
    earlier = fix(42, 39, {"occurred_at": "2023-01-10T09:00:00Z"}, signer="q")
    assert of_type(analyse([*history, earlier]), "odometer_redated") == []


def test_a_reading_moved_past_another_on_the_same_day_is_redated():
    history = readings_and_a_redated_low_one()
    same_time = item(43, "odometer", "bay", "2025-08-10T09:00:00Z", odometer_km=30_010)
    same_time["record"]["source"] = "dealer"
    # Entry 41 sat before entry 43 (same time, log order); moved a second on, it is after.
    moved = fix(44, 41, {"occurred_at": "2025-08-10T09:00:01Z"}, signer="q")
    (alert,) = of_type(analyse([*history, same_time, moved]), "odometer_redated")
    assert alert["entries"] == [41, 44, 40]  # and the 90,000 km its rollback was from


def test_two_readings_swapped_by_two_corrections_are_each_redated():
    """Neither lands between the other's old and new time, but their order flipped: the
    rollback from 90,000 km to 30,000 km is gone from the view."""
    history = readings_and_a_redated_low_one()
    history += [
        fix(42, 40, {"occurred_at": "2025-09-10T09:00:00Z"}, signer="bay"),
        fix(43, 41, {"occurred_at": "2025-01-10T09:00:00Z"}, signer="q"),
    ]
    view = analyse(history)
    assert [a["entries"] for a in of_type(view, "odometer_rollback")] == [[39, 41]]  # not 40
    assert [a["entries"] for a in of_type(view, "odometer_redated")] == [[40, 42], [41, 43]]


def test_a_reading_moved_away_from_an_implausible_rate_is_redated():
    """No reading is passed, but 90,000 km in 4 days became 90,000 km in two years."""
    slow = item(1, "odometer", "quicklane", "2026-01-01T09:00:00Z", odometer_km=10_000)
    fast = item(2, "odometer", "acme", "2026-01-05T09:00:00Z", odometer_km=100_000)
    slow["record"]["source"] = fast["record"]["source"] = "workshop"
    assert [a["type"] for a in analyse([slow, fast])["alerts"]] == ["implausible_rate"]
    moved = fix(3, 1, {"occurred_at": "2024-01-01T09:00:00Z"}, signer="quicklane")
    view = analyse([slow, fast, moved])
    assert of_type(view, "implausible_rate") == []
    (redated,) = view["alerts"]
    assert (redated["type"], redated["severity"], redated["entries"]) == (
        "odometer_redated",
        "medium",
        [1, 3],
    )


# ---- a rollback a correction hid ---------------------------------------------------------

HIGH = item(
    1, "odometer", "quicklane", "2026-01-01T09:00:00Z", source="workshop", odometer_km=100_000
)
LOW = item(2, "odometer", "acme", "2026-03-01T09:00:00Z", source="workshop", odometer_km=50_000)


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"odometer_km": 40_000}, "odometer_corrected"),  # the high reading lowered
        ({"occurred_at": "2026-04-01T09:00:00Z"}, "odometer_redated"),  # moved past the low
    ],
)
def test_a_rollback_laundered_by_a_correction_stays_high(fields, kind):
    assert [a["severity"] for a in analyse([HIGH, LOW])["alerts"]] == ["high"]
    alerts = analyse([HIGH, LOW, fix(3, 1, fields, signer="quicklane")])["alerts"]
    assert of_type({"alerts": alerts}, "odometer_rollback") == []
    (hid,) = alerts
    assert (hid["type"], hid["severity"]) == (kind, "high")
    assert hid["facts"]["hid_rollbacks"] == [
        {"from_km": 100_000, "to_km": 50_000, "entries": [1, 2]}
    ]
    assert hid["message"].endswith(
        "it hid a rollback from 100,000 km (entry 1) to 50,000 km (entry 2)"
    )
    for lang, said in [
        ("en", "it hid a rollback from 100,000 km to 50,000 km"),
        ("zh", "掩盖了从 100,000 公里 到 50,000 公里 的里程回退"),
    ]:
        assert said in alert_text(hid, Words(lang))


def test_odometer_redated_names_the_reading_it_moved_past():
    moved = fix(3, 1, {"occurred_at": "2026-04-01T09:00:00Z"}, signer="quicklane")
    (redated,) = of_type(analyse([HIGH, LOW, moved]), "odometer_redated")
    assert redated["entries"] == [1, 3, 2]


def test_a_rollback_still_shown_after_a_correction_is_not_said_hidden():
    """The high reading lowered, but still above the low one: the rollback stays, so the
    correction stays medium."""
    view = analyse([HIGH, LOW, fix(3, 1, {"odometer_km": 90_000}, signer="quicklane")])
    assert [(a["type"], a["severity"]) for a in view["alerts"]] == [
        ("odometer_rollback", "high"),
        ("odometer_corrected", "medium"),
    ]


# ---- km said one way -----------------------------------------------------------------------


def test_every_alert_message_writes_km_with_separators():
    history = [
        *readings_and_a_redated_low_one(),
        item(45, "odometer", "bay", "2025-08-11T09:00:00Z", odometer_km=40_000, source="dealer"),
    ]
    history.append(fix(46, 39, {"odometer_km": 61_871}, signer="q"))
    alerts = analyse(history)["alerts"]
    said = {a["type"]: a["message"] for a in alerts}
    assert (
        "went back from 90,000 km (entry 40, bay) to 30,000 km (entry 41, q)"
        in said["odometer_rollback"]
    )
    assert said["implausible_rate"].startswith("10,000 km in 1 days")
    assert said["implausible_rate"].endswith("more than 2,000 km a day")
    assert "corrected from 60,000 km to 61,871 km" in said["odometer_corrected"]


def test_a_partners_grade_is_isolated_in_the_verdict():
    trick = "A\u202e"  # a right-to-left override in the grade the partner signed
    history = [inspection(grade="E\u202e"), fix(35, 34, {"grade": trick})]
    (withdrawn,) = of_type(analyse(history), "finding_withdrawn")
    said = alert_text(withdrawn, Words("en"))
    assert "Grade: \u2068E\u202e\u2069 (now \u2068A\u202e\u2069)" in said
