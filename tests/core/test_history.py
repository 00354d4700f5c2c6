"""core.history: what entries mean together, explained by the entries behind it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.history import analyse
from core.odometer import ROLLBACK_TOLERANCE_KM

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
    facts = alerts[0]["facts"]
    assert {"from_km": facts["from_km"], "to_km": facts["to_km"]} == {
        "from_km": peak,
        "to_km": rolled,
    }
    assert set(facts) <= {
        "from_km",
        "to_km",
        "as_miles_km",
    }  # miles: tests/core/test_odometer_miles.py


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
    # No rollback any more; what stays is that the reading was corrected, by whom, and
    # that the correction took a rollback away (high: a typo fixed and a rollback
    # laundered look the same in the log; the buyer is told which readings to compare).
    (alert,) = fixed["alerts"]
    assert (alert["type"], alert["severity"], alert["entries"]) == (
        "odometer_corrected",
        "high",
        [12, 50, 11],
    )
    assert alert["facts"] == {
        "corrects": 12,
        "from_km": 3_000,
        "to_km": 30_500,
        "hid_rollbacks": [{"from_km": 30_000, "to_km": 3_000, "entries": [11, 12]}],
    }
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
    # A dispute's reason corrected later is the reason the view gives.
    reworded = item(8, "correction", 704, corrects=6, reason="typo", fields={"reason": "misread"})
    corrected = analyse([*history, reworded])
    assert corrected["disputed"] == [{"index": 3, "disputes": [{"index": 6, "reason": "misread"}]}]


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


# ---- times are times, not text ---------------------------------------------------------


def at(index: int, kind: str, when: str, km: int | None = None, **record) -> dict:
    """An item whose time is spelled exactly as ``when``."""
    rec = {"kind": kind, "occurred_at": when, **record}
    if km is not None:
        rec["odometer_km"] = km
    return {"index": index, "kind": kind, "signer": {"id": "acme"}, "record": rec}


@pytest.mark.parametrize(
    "spelling", ["2026-06-02T10:00:00z", "2026-06-02t10:00:00Z", "2026-06-02 10:00:00Z"]
)
def test_every_spelling_of_a_utc_time_gives_the_same_view(spelling):
    def history(second: str) -> list[dict]:
        return [
            at(1, "maintenance", "2025-01-02T10:00:00Z", 10_000),
            at(2, "maintenance", second, 30_000),
            at(3, "maintenance", "2026-07-01T10:00:00Z", 31_000),
        ]

    view, plain = analyse(history(spelling)), analyse(history("2026-06-02T10:00:00Z"))
    for reading in view["odometer"]["readings"] + plain["odometer"]["readings"]:
        reading.pop("occurred_at")  # kept as signed
    assert view == plain
    assert [r["index"] for r in view["odometer"]["readings"]] == [1, 2, 3]
    assert [a["type"] for a in view["alerts"]] == ["service_gap"]
    assert view["service"]["intervals"][0]["days"] == 516


@pytest.mark.parametrize(
    "late, early, rollback",
    [
        (10_000, 10_500, True),  # 10,500 at 08:00 then 10,000 at 23:00: rolled back
        (10_500, 10_000, False),  # 10,000 at 08:00 then 10,500 at 23:00: driven
    ],
)
def test_readings_are_ordered_by_time_not_by_how_the_time_is_spelled(late, early, rollback):
    # As text, "2026-05-04 23:00:00Z" sorts before "2026-05-04T08:00:00Z".
    view = analyse(
        [
            at(1, "odometer", "2026-05-04 23:00:00Z", late, source="owner"),
            at(2, "odometer", "2026-05-04T08:00:00Z", early, source="owner"),
        ]
    )
    assert [r["index"] for r in view["odometer"]["readings"]] == [2, 1]
    found = [a["entries"] for a in view["alerts"] if a["type"] == "odometer_rollback"]
    assert found == ([[2, 1]] if rollback else [])


def test_the_last_trusted_reading_compares_times_not_text():
    view = analyse(
        [
            at(1, "odometer", "2026-05-01T08:00:00Z", 9_000, source="owner"),
            at(2, "title_brand", "2026-05-04T08:00:00Z", brand="odometer_not_actual"),
            at(3, "odometer", "2026-05-04 23:00:00Z", 10_000, source="owner"),  # after the brand
        ]
    )
    assert view["odometer"]["last_trusted"]["index"] == 1


def test_as_of_compares_times_not_text():
    history = [
        at(1, "odometer", "2026-05-04T08:00:00Z", 9_000, source="owner"),
        at(2, "odometer", "2026-05-04 23:00:00Z", 10_000, source="owner"),
    ]
    assert analyse(history, as_of="2026-05-04T12:00:00Z")["entries"] == 1
    assert analyse(history, as_of="2026-05-04t23:00:00z")["entries"] == 2


# ---- event order, not log order -----------------------------------------------------


def test_a_recall_logged_late_with_an_earlier_date_does_not_reopen_it():
    recall = {"campaign": "23V-9", "component": "brakes", "description": "pads"}
    history = [
        at(5, "recall", "2026-03-01T00:00:00Z", status="remedied", **recall),
        at(6, "recall", "2026-01-10T00:00:00Z", status="open", **recall),  # logged later
    ]
    assert analyse(history)["alerts"] == []
    reopened = [*history, at(7, "recall", "2026-04-01T00:00:00Z", status="open", **recall)]
    assert [a["entries"] for a in analyse(reopened)["alerts"]] == [[7]]


def test_the_latest_inspection_is_the_last_one_made_not_the_last_one_logged():
    history = [
        at(5, "inspection", "2026-02-01T00:00:00Z", grade="A", flags={}),
        at(6, "inspection", "2024-02-01T00:00:00Z", grade="D", flags={}),  # logged later
    ]
    assert analyse(history)["latest_inspection"] == {"index": 5, "grade": "A"}
    # Two on the same instant: the one logged later is the latest.
    same = [*history, at(7, "inspection", "2026-02-01 00:00:00Z", grade="B", flags={})]
    assert analyse(same)["latest_inspection"] == {"index": 7, "grade": "B"}


# ---- corrections the kind does not allow --------------------------------------------------

VIN = "1HGCM82633A004352"
STRUCTURAL = {"accident": True, "flood": False, "fire": False, "structural": True, "airbag": False}


def full_inspection(index: int = 3) -> dict:
    """An inspection as the ledger stores it: a whole, valid record."""
    return at(
        index,
        "inspection",
        "2026-05-04T09:30:00Z",
        48_000,
        vin=VIN,
        provider="acme-inspections",
        inspector="INS-1",
        grade="C",
        items=[],
        flags=STRUCTURAL,
    )


def stored_correction(index: int, target: int, fields: dict) -> dict:
    return at(
        index,
        "correction",
        "2026-05-05T09:30:00Z",
        vin=VIN,
        corrects=target,
        reason="typo",
        fields=fields,
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"odometer_km": "48100"},
        {"odometer_km": -5_000_000},
        {"occurred_at": "yesterday"},
        {"flags": {"accident": "maybe"}},
        {"flags": {"structural": False}},  # not whole: would have dropped the other flags
        {"colour": "red"},
        {"grade": "B", "colour": "red"},  # one bad field: none of them applies
    ],
)
def test_a_stored_correction_the_kind_does_not_allow_is_left_out_and_reported(fields):
    inspection = full_inspection()
    history = [
        at(1, "odometer", "2026-05-01T09:30:00Z", 47_000, vin=VIN, source="owner"),
        inspection,
        stored_correction(9, 3, fields),
    ]
    view = analyse(history)  # no exception: what is in a log always renders
    (bad,) = [a for a in view["alerts"] if a["type"] == "correction_not_applied"]
    assert bad["entries"] == [9] and bad["facts"]["corrects"] == 3
    assert bad["message"].startswith("correction 9 could not be applied: ")
    # The entry keeps its signed values.
    assert view["corrected"] == []
    assert [r["km"] for r in view["odometer"]["readings"]] == [47_000, 48_000]
    assert view["latest_inspection"] == {"index": 3, "grade": "C"}
    assert {a["type"] for a in view["alerts"]} == {
        "accident_damage",
        "structural_damage",
        "correction_not_applied",
    }


def test_a_whole_flags_correction_applies_and_a_good_one_next_to_a_bad_one_too():
    history = [
        full_inspection(),
        stored_correction(8, 3, {"flags": {**STRUCTURAL, "structural": False}}),
        stored_correction(9, 3, {"odometer_km": "oops"}),
        stored_correction(10, 3, {"odometer_km": 48_100, "occurred_at": "2026-05-04 10:30:00z"}),
    ]
    view = analyse(history)
    kinds = [
        "accident_damage",
        "correction_not_applied",
        "odometer_corrected",  # its lone reading moved in time: no odometer_redated
        "finding_withdrawn",
    ]
    assert [a["type"] for a in view["alerts"]] == kinds
    (corrected,) = view["corrected"]
    assert [c["index"] for c in corrected["corrections"]] == [8, 10]
    assert view["odometer"]["readings"][0]["km"] == 48_100


def test_a_correction_of_a_correction_is_refused_and_reported():
    history = [
        full_inspection(),
        stored_correction(8, 3, {"grade": "B"}),
        stored_correction(9, 8, {"fields": {"grade": "A"}}),
    ]
    view = analyse(history)
    (bad,) = [a for a in view["alerts"] if a["type"] == "correction_not_applied"]
    assert bad["entries"] == [9] and "cannot be corrected" in bad["message"]
    assert view["latest_inspection"]["grade"] == "B"


# ---- sales and their returns ------------------------------------------------------------


def sale_and_claim(claim_kind: str, approved: bool) -> list[dict]:
    claim = {"sale": 3, "policy": "return-7d"}
    if claim_kind == "warranty_claim":
        claim = {**claim, "component": "engine", "description": "knocks"}
    return [
        at(
            3,
            "sale",
            "2026-06-01T10:00:00Z",
            48_000,
            dealer="bay-auto",
            policies=[{"id": "return-7d", "params": {"max_km": 300}}, {"id": "powertrain-30d"}],
        ),
        at(4, claim_kind, "2026-06-03T10:00:00Z", 48_100, **claim),
        at(
            5,
            "claim_decision",
            "2026-06-03T10:00:00Z",
            claim=4,
            sale=3,
            policy="return-7d",
            policy_version="1",
            approved=approved,
            reason="within 7 days",
            days_since_sale=2,
        ),
    ]


def test_an_approved_return_marks_the_sale_returned():
    view = analyse(sale_and_claim("return_request", approved=True))
    assert view["sales"] == [
        {
            "index": 3,
            "dealer": "bay-auto",
            "policies": ["return-7d", "powertrain-30d"],
            "returned": 5,
        }
    ]


@pytest.mark.parametrize(
    "claim_kind, approved", [("return_request", False), ("warranty_claim", True)]
)
def test_a_denied_return_or_a_warranty_repair_leaves_the_sale_standing(claim_kind, approved):
    (sale,) = analyse(sale_and_claim(claim_kind, approved))["sales"]
    assert sale["returned"] is None


def test_a_reading_removed_by_its_signer_is_an_alert_not_a_clean_history():
    """Removing the low reading hides the rollback; the buyer sees the removal instead."""
    history = readings_history([30_000, 10_000])
    assert [a["type"] for a in analyse(history)["alerts"]] == ["odometer_rollback"]
    view = analyse([*history, correction(50, 11, {"odometer_km": None})])
    (alert,) = view["alerts"]
    assert alert["type"] == "odometer_corrected" and alert["facts"]["to_km"] is None
    assert "removed" in alert["message"]


def test_an_old_logs_reading_that_is_no_number_does_not_fail_the_view():
    """A record an older writer let through (odometer_km "48100") corrected field by field."""
    history = readings_history([10_000, 30_000])
    history[-1]["record"]["odometer_km"] = "30000"
    view = analyse([*history, correction(50, 11, {"odometer_km": 30_500})])
    (alert,) = [a for a in view["alerts"] if a["type"] == "odometer_corrected"]
    assert "from '30000' to 30,500 km" in alert["message"]


def test_a_disputed_reading_sets_no_baseline_but_a_disputed_low_one_still_alerts():
    """A partner's bogus high reading would make every honest later reading a rollback;
    once the operator disputes it, it sets no baseline. A disputed *lower* reading (a
    seller calling the honest low reading a typo) still raises the rollback, marked."""
    bogus = [
        item(10, "maintenance", 0, 10_000),
        item(11, "odometer", 10, 3_000_000, signer="stranger", source="owner"),
        item(12, "inspection", 20, 12_000),
    ]
    rolled = [a for a in analyse(bogus)["alerts"] if a["type"] == "odometer_rollback"]
    assert [a["entries"] for a in rolled] == [[11, 12]]
    disputed = [*bogus, item(13, "dispute", 30, disputes=11, reason="never saw the car")]
    assert not [a for a in analyse(disputed)["alerts"] if a["type"] == "odometer_rollback"]
    low = [*bogus[:1], bogus[2], item(14, "inspection", 40, 5_000)]
    low.append(item(15, "dispute", 50, disputes=14, reason="seller says typo"))
    [still] = [a for a in analyse(low)["alerts"] if a["type"] == "odometer_rollback"]
    assert still["entries"] == [12, 14] and still["disputed"] is True
