"""The built-in checklist provider: a realistic multi-point report, mapped and refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidRecord
from core.records import Inspection, parse_record
from plugins.builtin.checklist_inspection import (
    AIRBAG,
    CATALOGUE,
    FOUND,
    MANDATORY,
    MEMBER,
    PAINT,
    STATE,
    ChecklistInspection,
)

REPORT = json.loads((Path(__file__).parent / "data" / "checklist-report.json").read_text())
PROVIDER = ChecklistInspection()


def normalise(report: dict) -> dict:
    return PROVIDER.normalise(json.dumps(report).encode())


def setting(report: dict, code: str, value) -> dict:
    out = copy.deepcopy(report)
    section = CATALOGUE[code][0]
    for item in out["sections"][section]:
        if item["code"] == code:
            item["value"] = value
    return out


def test_the_example_report_normalises_into_a_valid_inspection():
    assert sum(len(v) for v in REPORT["sections"].values()) == len(CATALOGUE) == 178
    record = normalise(REPORT)
    parsed = parse_record(msgspec.json.encode(record))
    assert isinstance(parsed, Inspection)
    assert (parsed.vin, parsed.grade, parsed.odometer_km) == (REPORT["vin"], "B+", 48_210)
    assert [(i.code, i.result, i.note) for i in parsed.items] == [
        ("body-rear-left-door", "minor", "repainted, 184 µm"),
        ("engine-oil-leak", "minor", "minor"),
        ("chassis-tyres-front", "major", "major"),
    ]
    assert not any(msgspec.to_builtins(parsed.flags).values())


@pytest.mark.parametrize(
    "code, value, flags, result",
    [
        ("body.bonnet", 620, {"accident"}, "major"),
        ("structure.front-left-rail", "repaired", {"structural", "accident"}, "major"),
        ("structure.firewall", "deformed", {"structural", "accident"}, "fail"),
        ("flood.carpet-silt", True, {"flood"}, "fail"),
        ("fire.melted-harness", True, {"fire"}, "fail"),
        ("interior.airbag-driver", "deployed", {"airbag"}, "fail"),
    ],
)
def test_findings_map_onto_damage_flags(code, value, flags, result):
    record = normalise(setting(REPORT, code, value))
    assert {f for f, on in record["flags"].items() if on} == flags
    assert any(
        i["result"] == result and i["code"] == code.replace(".", "-") for i in record["items"]
    )


@pytest.mark.parametrize(
    "change, words, field",
    [
        (lambda r: r["sections"].pop("flood"), "mandatory section 'flood'", "$.sections.flood"),
        (
            lambda r: r["sections"]["body"].append({"code": "body.spoiler", "value": 100}),
            "unknown item code 'body.spoiler'",
            "$.sections.body[26].code",
        ),
        (
            lambda r: r["sections"]["engine"].append({"code": "body.roof", "value": 100}),
            "belongs in section 'body'",
            "$.sections.engine[30].code",
        ),
        (
            lambda r: r["sections"]["body"].append({"code": "body.roof", "value": 100}),
            "body.roof appears twice",
            "$.sections.body[26].code",
        ),
        (lambda r: r.update(grade="A++"), "grade", "$.grade"),
        (lambda r: r.update(colour="red"), "unknown field 'colour'", "$.colour"),
        (lambda r: r.pop("vin"), "vin is required", "$.vin"),
    ],
)
def test_bad_reports_are_refused_naming_the_item(change, words, field):
    report = copy.deepcopy(REPORT)
    change(report)
    with pytest.raises(InvalidRecord) as err:
        normalise(report)
    assert words in str(err.value) and err.value.field == field


@pytest.mark.parametrize(
    "code, value",
    [
        ("body.roof", -5),
        ("body.roof", 2001),
        ("body.roof", "118"),
        ("flood.carpet-damp", "yes"),
        ("structure.floor-pan", "bent"),
        ("interior.airbag-driver", "ok"),
        ("engine.start", 3),
    ],
)
def test_impossible_values_are_refused_naming_the_item(code, value):
    with pytest.raises(InvalidRecord, match=code) as err:
        normalise(setting(REPORT, code, value))
    assert err.value.field.endswith(".value")


VALUES = {
    PAINT: st.integers(0, 2000),
    MEMBER: st.sampled_from(["ok", "repaired", "replaced", "deformed"]),
    FOUND: st.booleans(),
    STATE: st.sampled_from(["ok", "minor", "major", "fail", "not_checked"]),
    AIRBAG: st.sampled_from(["intact", "deployed", "missing"]),
}


@st.composite
def reports(draw):
    report = copy.deepcopy(REPORT)
    report["sections"] = {}
    for code, (section, kind) in CATALOGUE.items():
        if section in MANDATORY or draw(st.booleans()):
            report["sections"].setdefault(section, []).append(
                {"code": code, "value": draw(VALUES[kind])}
            )
    return report


@given(reports())
def test_any_valid_report_normalises_and_its_flags_follow_the_rules(report):
    record = normalise(report)
    parse_record(msgspec.json.encode(record))
    values = {i["code"]: i["value"] for items in report["sections"].values() for i in items}
    structural = any(v != "ok" for c, v in values.items() if c.startswith("structure."))
    expected = {
        "structural": structural,
        "flood": any(v for c, v in values.items() if c.startswith("flood.")),
        "fire": any(v for c, v in values.items() if c.startswith("fire.")),
        "airbag": any(
            v in ("deployed", "missing") for c, v in values.items() if CATALOGUE[c][1] == AIRBAG
        ),
        "accident": structural
        or any(v > 500 for c, v in values.items() if CATALOGUE[c][1] == PAINT),
    }
    assert record["flags"] == expected
