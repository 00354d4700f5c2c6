"""What a correction did stays in the view: a finding it withdrew or softened, a reading
it moved in time or removed (core.corrections.correction_alerts), and a correction is
dated no earlier than what it corrects (core.corrections.check_correction_time)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from core.corrections import check_correction_time
from core.errors import InvalidRecord
from core.history import analyse

VIN = "1G1ZD5STXLF000002"
CLEAN = {"accident": False, "flood": False, "fire": False, "structural": False, "airbag": False}
FLOODED = {**CLEAN, "accident": True, "flood": True, "structural": True}


def item(index: int, kind: str, signer: str, when: str, **record) -> dict:
    record = {"kind": kind, "vin": VIN, "occurred_at": when, **record}
    return {"index": index, "kind": kind, "signer": {"id": signer}, "record": record}


def inspection(index=34, flags=FLOODED, grade="E", result="fail", **more) -> dict:
    return item(
        index,
        "inspection",
        "acme",
        "2026-06-01T09:00:00Z",
        provider="acme",
        inspector="INS-1",
        grade=grade,
        items=[{"code": "frame", "result": result}],
        flags=flags,
        **more,
    )


def fix(index: int, corrects: int, fields: dict, signer="acme", when="2026-06-03T09:00:00Z"):
    return item(index, "correction", signer, when, corrects=corrects, reason="x", fields=fields)


def claim(index=1, **more) -> dict:
    fields = {"claim_ref": "c1", "cause": "flood", "severity": "severe", "total_loss": True}
    return item(index, "insurance_claim", "harbor", "2026-06-01T09:00:00Z", **{**fields, **more})


def of_type(view: dict, kind: str) -> list[dict]:
    return [a for a in view["alerts"] if a["type"] == kind]


# ---- finding_withdrawn --------------------------------------------------------------------


def test_an_inspection_corrected_clean_says_what_was_withdrawn_and_by_whom():
    clean = {"flags": CLEAN, "grade": "A", "items": [{"code": "frame", "result": "ok"}]}
    view = analyse([inspection(), fix(35, 34, clean)])
    assert of_type(view, "flood_damage") == []  # the view reads the corrected record
    (withdrawn,) = view["alerts"]
    assert withdrawn["type"] == "finding_withdrawn" and withdrawn["severity"] == "high"
    assert withdrawn["entries"] == [34, 35]
    facts = withdrawn["facts"]
    assert (facts["corrects"], facts["corrections"], facts["by"]) == (34, [35], ["acme"])
    assert facts["withdrawn"] == [
        {"field": "flags.accident", "from": True, "to": False},
        {"field": "flags.flood", "from": True, "to": False},
        {"field": "flags.structural", "from": True, "to": False},
        {"field": "grade", "from": "E", "to": "A"},
        {"field": "items.frame", "from": "fail", "to": "ok"},
    ]
    assert "flood damage" in withdrawn["message"] and "by acme (entry 35)" in withdrawn["message"]


@pytest.mark.parametrize(
    ("fields", "withdrawn", "severity"),
    [
        ({"flags": {**FLOODED, "accident": False}}, ["flags.accident"], "medium"),
        ({"grade": "C"}, ["grade"], "medium"),
        ({"grade": "7"}, ["grade"], "medium"),  # a scale it does not know: any change
        # A failed frame is a high inspection_failed: taking it back is as bad.
        ({"items": [{"code": "frame", "result": "minor"}]}, ["items.frame"], "high"),
        ({"items": []}, ["items.frame"], "high"),  # the failed item dropped
    ],
)
def test_each_softened_inspection_finding_is_named(fields, withdrawn, severity):
    (alert,) = of_type(analyse([inspection(), fix(35, 34, fields)]), "finding_withdrawn")
    assert [w["field"] for w in alert["facts"]["withdrawn"]] == withdrawn
    assert alert["severity"] == severity


@pytest.mark.parametrize(
    "fields",
    [
        {"grade": "F"},  # lowered
        {"flags": {**FLOODED, "fire": True}},  # a finding added
        {"items": [{"code": "frame", "result": "fail", "note": "rail kinked"}]},
        {"odometer_km": 41_000},
    ],
)
def test_a_correction_that_withdraws_nothing_raises_no_finding_withdrawn(fields):
    assert of_type(analyse([inspection(), fix(35, 34, fields)]), "finding_withdrawn") == []


def test_a_finding_a_correction_added_and_a_later_one_took_back_is_named():
    history = [
        inspection(flags=CLEAN, grade="B", result="ok"),
        fix(35, 34, {"flags": {**CLEAN, "flood": True}}),
        fix(36, 34, {"flags": CLEAN}, signer="operator"),
    ]
    (alert,) = of_type(analyse(history), "finding_withdrawn")
    assert alert["facts"]["withdrawn"] == [{"field": "flags.flood", "from": True, "to": False}]
    # Only the correction that took it back withdrew it: the one that added it did not.
    assert alert["entries"] == [34, 36] and alert["facts"]["by"] == ["operator"]


def test_an_insurers_claim_softened_names_cause_severity_and_total_loss():
    fields = {"cause": "other", "severity": "minor", "total_loss": False}
    view = analyse([claim(), fix(3, 1, fields, signer="harbor")])
    (alert,) = of_type(view, "finding_withdrawn")
    assert alert["severity"] == "high" and alert["entries"] == [1, 3]
    assert alert["facts"]["withdrawn"] == [
        {"field": "cause", "from": "flood", "to": "other"},
        {"field": "severity", "from": "severe", "to": "minor"},
        {"field": "total_loss", "from": True, "to": False},
    ]


def test_a_claims_structural_and_airbag_taken_back_are_named():
    history = [
        claim(cause="collision", total_loss=False, structural=True, airbag_deployed=True),
        fix(3, 1, {"structural": False, "airbag_deployed": False}, signer="harbor"),
    ]
    (alert,) = of_type(analyse(history), "finding_withdrawn")
    assert [w["field"] for w in alert["facts"]["withdrawn"]] == ["airbag_deployed", "structural"]


def test_a_claim_made_worse_or_from_other_raises_nothing_of_its_own():
    worse = [
        claim(cause="other", severity="minor", total_loss=False),
        fix(3, 1, {"cause": "flood"}),
    ]
    assert of_type(analyse(worse), "finding_withdrawn") == []


def test_a_title_brand_changed_names_the_brand_on_record():
    brand = item(2, "title_brand", "harbor", "2026-06-02T09:00:00Z", brand="salvage")
    brand["record"]["jurisdiction"] = "CA"
    view = analyse([brand, fix(4, 2, {"brand": "rebuilt"}, signer="harbor")])
    (alert,) = of_type(view, "finding_withdrawn")
    assert alert["facts"]["withdrawn"] == [{"field": "brand", "from": "salvage", "to": "rebuilt"}]
    assert alert["severity"] == "high"


# ---- readings moved or removed -------------------------------------------------------------


def readings_and_a_redated_low_one() -> list[dict]:
    shop = {"shop": "q", "items": [{"description": "oil"}]}
    return [
        item(39, "maintenance", "q", "2024-01-10T09:00:00Z", odometer_km=60_000, **shop),
        item(40, "odometer", "bay", "2025-02-10T09:00:00Z", odometer_km=90_000, source="dealer"),
        item(41, "maintenance", "q", "2025-08-10T09:00:00Z", odometer_km=30_000, **shop),
    ]


def test_a_reading_moved_in_time_is_said_from_when_to_when():
    history = readings_and_a_redated_low_one()
    assert of_type(analyse(history), "odometer_rollback")
    moved = {"occurred_at": "2023-01-10T09:00:00Z"}
    view = analyse([*history, fix(42, 41, moved, signer="q", when="2025-08-11T09:00:00Z")])
    assert of_type(view, "odometer_rollback") == []  # the effect ...
    (alert,) = of_type(view, "odometer_redated")  # ... and what caused it
    # As bad as the rollback from 90,000 km (entry 40) it hid, and naming that reading.
    assert alert["severity"] == "high" and alert["entries"] == [41, 42, 40]
    assert alert["facts"] == {
        "corrects": 41,
        "km": 30_000,
        "from_time": "2025-08-10T09:00:00Z",
        "to_time": "2023-01-10T09:00:00Z",
        "hid_rollbacks": [{"from_km": 90_000, "to_km": 30_000, "entries": [40, 41]}],
    }
    assert "from 2025-08-10T09:00:00Z to 2023-01-10T09:00:00Z" in alert["message"]


def test_a_time_spelled_otherwise_or_on_an_entry_without_a_reading_is_not_moved():
    history = readings_and_a_redated_low_one()
    respelled = fix(42, 41, {"occurred_at": "2025-08-10 09:00:00z"}, signer="q")
    assert of_type(analyse([*history, respelled]), "odometer_redated") == []
    no_reading = item(5, "recall", "dmv", "2025-01-01T00:00:00Z", campaign="c", component="x")
    no_reading["record"]["status"] = "open"
    moved = fix(6, 5, {"occurred_at": "2024-01-01T00:00:00Z"}, signer="dmv")
    assert of_type(analyse([no_reading, moved]), "odometer_redated") == []


def test_a_removed_reading_says_so_in_words():
    history = readings_and_a_redated_low_one()
    (alert,) = of_type(
        analyse([*history, fix(42, 39, {"odometer_km": None})]), "odometer_corrected"
    )
    assert alert["message"] == "the odometer reading of entry 39 (60,000 km) was removed"


# ---- a correction's date ------------------------------------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CORRECTED = {"occurred_at": "2026-06-01T09:00:00Z"}


@pytest.mark.parametrize(
    ("when", "fields", "earlier", "names"),
    [
        ("2026-05-01T00:00", {}, [], "before the entry it corrects (2026-06-01T09:00:00Z)"),
        ("2026-06-02T00:00", {"occurred_at": "2026-06-05T00:00:00Z"}, [], "the date it gives"),
        (
            "2026-06-02T00:00",
            {},
            [(65, {"occurred_at": "2026-11-01T00:00:00Z"})],
            "entry 65, an earlier correction of it",
        ),
    ],
)
def test_a_correction_dated_before_what_it_corrects_is_refused(when, fields, earlier, names):
    with pytest.raises(InvalidRecord, match=re.escape(names)) as refused:
        check_correction_time(at(when), fields, CORRECTED, earlier)
    assert refused.value.field == "$.occurred_at"
    assert "Date it when it was made" in str(refused.value)


def test_a_correction_dated_after_or_with_an_unreadable_old_time_is_accepted():
    earlier = [(65, {"occurred_at": "2026-06-02T00:00:00Z"}), (66, {"occurred_at": "soon"})]
    check_correction_time(at("2026-06-02T00:00"), {}, CORRECTED, earlier)
    check_correction_time(at("2026-06-01T09:00"), {}, {"occurred_at": 5}, [])


def test_a_grade_given_where_the_record_had_none_withdraws_nothing():
    record = inspection()
    del record["record"]["grade"]  # as an older log may hold it
    assert of_type(analyse([record, fix(35, 34, {"grade": "B"})]), "finding_withdrawn") == []
