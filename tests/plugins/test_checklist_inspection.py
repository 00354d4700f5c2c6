"""The built-in checklist provider: a realistic multi-point report, mapped and refused."""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plugins.hookspecs
from core.errors import InvalidRecord, InvalidVIN
from core.records import Inspection, parse_record
from plugins.builtin import checklist_inspection
from plugins.builtin.checklist_inspection import (
    AIRBAG,
    CATALOGUE,
    FOUND,
    GRADES,
    MANDATORY,
    MEMBER,
    PAINT,
    SECTIONS,
    STATE,
    ChecklistInspection,
)
from plugins.registry import Registry

REPORT = json.loads((Path(__file__).parent / "data" / "checklist-report.json").read_text())
PROVIDER = ChecklistInspection()


def normalise(report: dict) -> dict:
    return PROVIDER.normalise(json.dumps(report, ensure_ascii=False).encode())


def parse(record: dict) -> Inspection:
    parsed = parse_record(json.dumps(record).encode())
    assert isinstance(parsed, Inspection)
    return parsed


def setting(report: dict, code: str, value) -> dict:
    out = copy.deepcopy(report)
    for item in out["sections"][CATALOGUE[code][0]]:
        if item["code"] == code:
            item["value"] = value
    return out


def test_the_catalogue_is_what_the_module_docstring_promises():
    sizes = {section: len(names.split()) for section, (names, _) in SECTIONS.items()}
    assert sizes == {
        **{"body": 26, "structure": 20, "flood": 12, "fire": 8, "engine": 30},
        **{"transmission": 12, "electrics": 30, "interior": 20, "chassis": 20},
    }
    assert len(CATALOGUE) == 178 <= 500  # each item at most once: never past the record's limit
    airbags = {code for code, (_, kind) in CATALOGUE.items() if kind == AIRBAG}
    assert airbags == {code for code in CATALOGUE if code.startswith("interior.airbag-")}
    assert CATALOGUE["electrics.airbag-module"] == ("electrics", STATE)


def test_the_example_report_normalises_into_a_valid_inspection():
    assert sum(len(v) for v in REPORT["sections"].values()) == len(CATALOGUE)
    parsed = parse(normalise(REPORT))
    assert (parsed.vin, parsed.grade, parsed.odometer_km) == (REPORT["vin"], "B+", 48_210)
    assert (parsed.provider, parsed.inspector) == (REPORT["firm"], "INS-0042")
    assert parsed.occurred_at.isoformat() == "2026-05-04T09:30:00+00:00"
    assert [(i.code, i.result, i.note) for i in parsed.items] == [
        ("body-rear-left-door", "minor", "repainted, 184 µm"),
        ("engine-oil-leak", "minor", None),
        ("chassis-tyres-front", "major", None),
    ]
    assert not any(getattr(parsed.flags, f) for f in parsed.flags.__struct_fields__)
    assert [a.name for a in parsed.attachments] == ["HC-2026-000123.pdf"]


def test_optional_sections_may_be_left_out():
    report = copy.deepcopy(REPORT)
    for section in ("electrics", "interior", "chassis"):
        del report["sections"][section]
    report.pop("attachments")
    assert [i.code for i in parse(normalise(report)).items] == [
        "body-rear-left-door",
        "engine-oil-leak",
    ]


@pytest.mark.parametrize(
    "code, value, flags, result, note",
    [
        ("body.bonnet", 161, set(), "minor", "repainted, 161 µm"),
        ("body.bonnet", 620, {"accident"}, "major", "filler, 620 µm"),
        ("structure.front-left-rail", "repaired", {"structural", "accident"}, "major", "repaired"),
        ("structure.firewall", "deformed", {"structural", "accident"}, "fail", "deformed"),
        ("flood.carpet-silt", True, {"flood"}, "fail", "indicator found"),
        ("fire.melted-harness", True, {"fire"}, "fail", "indicator found"),
        ("interior.airbag-driver", "deployed", {"airbag"}, "fail", "deployed"),
        ("interior.airbag-curtain-left", "missing", {"airbag"}, "fail", "missing"),
        ("electrics.airbag-module", "fail", set(), "fail", None),
        ("transmission.clutch", "not_checked", set(), "not_checked", None),
    ],
)
def test_findings_map_onto_items_and_damage_flags(code, value, flags, result, note):
    record = normalise(setting(REPORT, code, value))
    parse(record)
    assert {f for f, on in record["flags"].items() if on} == flags
    (item,) = [i for i in record["items"] if i["code"] == code.replace(".", "-")]
    assert (item["result"], item.get("note")) == (result, note)


def test_paint_up_to_160_um_is_factory_paint():
    record = normalise(setting(REPORT, "body.bonnet", 160))
    assert "body-bonnet" not in {i["code"] for i in record["items"]}


def added(section: str, code: str, value=100):
    return lambda r: r["sections"][section].append({"code": code, "value": value})


@pytest.mark.parametrize(
    "change, words, field",
    [
        (lambda r: r["sections"].pop("flood"), "mandatory section 'flood'", "$.sections.flood"),
        (
            added("body", "body.spoiler"),
            "unknown item code 'body.spoiler'",
            "$.sections.body[26].code",
        ),
        (
            added("engine", "body.roof"),
            "body.roof belongs in section 'body'",
            "$.sections.engine[30].code",
        ),
        (added("body", "body.roof"), "body.roof appears twice", "$.sections.body[26].code"),
        (added("body", ["body.roof"]), "unknown item code", "$.sections.body[26].code"),
        (
            lambda r: r["sections"]["body"].append({"code": "body.roof"}),
            "body[26]",
            "$.sections.body[26]",
        ),
        (lambda r: r["sections"].update(boot=[]), "unknown section 'boot'", "$.sections.boot"),
        (
            lambda r: r["sections"].update(chassis={}),
            "'chassis' must be a list",
            "$.sections.chassis",
        ),
        (lambda r: r.update(grade="A++"), "grade must be one of", "$.grade"),
        (lambda r: r.update(colour="red"), "unknown field 'colour'", "$.colour"),
        (lambda r: r.pop("report_no"), "report_no is required", "$.report_no"),
        (lambda r: r.update(firm="x" * 201), "firm is required", "$.firm"),
        (lambda r: r.pop("mileage_km"), "mileage_km is required", "$.mileage_km"),
        (lambda r: r.update(mileage_km=3_000_001), "mileage_km", "$.mileage_km"),
        (lambda r: r.update(mileage_km="48210"), "mileage_km", "$.mileage_km"),
        (lambda r: r.update(inspected_at="2026-05-04T17:30:00+08:00"), "UTC", "$.inspected_at"),
        (lambda r: r.update(inspected_at="2026-05-04"), "RFC 3339", "$.inspected_at"),
        (
            lambda r: r["attachments"][0].update(sha256="zz"),
            "attachments",
            "$.attachments[0].sha256",
        ),
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
        ("body.roof", 118.0),
        ("body.roof", True),
        ("flood.carpet-damp", "yes"),
        ("fire.burnt-odour", 1),
        ("structure.floor-pan", "bent"),
        ("interior.airbag-driver", "ok"),
        ("interior.airbag-driver", ["deployed"]),
        ("engine.start", 3),
        ("engine.start", {"state": "ok"}),
    ],
)
def test_impossible_values_are_refused_naming_the_item(code, value):
    with pytest.raises(InvalidRecord, match=f"item {code}:") as err:
        normalise(setting(REPORT, code, value))
    section = CATALOGUE[code][0]
    index = [i["code"] for i in REPORT["sections"][section]].index(code)
    assert err.value.field == f"$.sections.{section}[{index}].value"


def test_a_key_written_twice_is_refused_rather_than_read_one_way():
    text = json.dumps(REPORT, ensure_ascii=False)
    twice = text.replace('"grade": "B+"', '"grade": "B+", "grade": "A+"')
    with pytest.raises(InvalidRecord, match="'grade' appears twice"):
        PROVIDER.normalise(twice.encode())


@pytest.mark.parametrize("payload", [b"\xff{}", b"[]", b"{", "{}".encode("utf-16")])
def test_a_payload_that_is_not_one_json_object_is_refused(payload):
    with pytest.raises(InvalidRecord) as err:
        PROVIDER.normalise(payload)
    assert err.value.field == "$"


def test_a_vin_with_a_wrong_check_digit_is_refused_like_any_record():
    with pytest.raises(InvalidVIN):
        normalise({**REPORT, "vin": "LFVZA6117L3572579"})


def test_the_registry_finds_the_provider_by_its_payload_type():
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(plugins.hookspecs)
    pm.register(checklist_inspection)
    registry = Registry(pm)
    provider = registry.provider("application/vnd.checklist.inspection-report+json")
    assert isinstance(provider, ChecklistInspection)
    assert (provider.id, provider.version) == ("checklist", "1")
    assert registry.plugin_of(provider) == pm.get_name(checklist_inspection)
    assert registry.call(provider, "normalise", json.dumps(REPORT).encode())["grade"] == "B+"


# ---- any valid report -------------------------------------------------------------

VALUES = {
    PAINT: st.one_of(st.integers(0, 2000), st.sampled_from([160, 161, 500, 501])),
    MEMBER: st.sampled_from(["ok", "repaired", "replaced", "deformed"]),
    FOUND: st.booleans(),
    STATE: st.sampled_from(["ok", "minor", "major", "fail", "not_checked"]),
    AIRBAG: st.sampled_from(["intact", "deployed", "missing"]),
}
FINE = {PAINT: range(161), MEMBER: ["ok"], FOUND: [False], STATE: ["ok"], AIRBAG: ["intact"]}
times = st.datetimes(min_value=datetime(1990, 1, 1)).map(
    lambda t: t.strftime("%Y-%m-%dT%H:%M:%S") + "Z"
)


@st.composite
def reports(draw):
    sections = {}
    for section, (names, _) in SECTIONS.items():
        if section in MANDATORY or draw(st.booleans()):
            codes = [f"{section}.{name}" for name in names.split()]
            codes = draw(st.permutations(codes))[: draw(st.integers(0, len(codes)))]
            sections[section] = [{"code": c, "value": draw(VALUES[CATALOGUE[c][1]])} for c in codes]
    order = draw(st.permutations(list(sections)))
    return {
        **REPORT,
        "inspected_at": draw(times),
        "mileage_km": draw(st.integers(0, 3_000_000)),
        "grade": draw(st.sampled_from(GRADES)),
        "sections": {name: sections[name] for name in order},
    }


@given(reports())
def test_any_valid_report_normalises_and_its_flags_follow_the_rules(report):
    record = normalise(report)
    parse(record)
    values = {i["code"]: i["value"] for items in report["sections"].values() for i in items}

    def of(kind):
        return [v for c, v in values.items() if CATALOGUE[c][1] == kind]

    structural = any(v != "ok" for v in of(MEMBER))
    assert record["flags"] == {
        "structural": structural,
        "flood": any(v for c, v in values.items() if c.startswith("flood.")),
        "fire": any(v for c, v in values.items() if c.startswith("fire.")),
        "airbag": any(v in ("deployed", "missing") for v in of(AIRBAG)),
        "accident": structural or any(v > 500 for v in of(PAINT)),
    }
    not_fine = [c for c, v in values.items() if v not in FINE[CATALOGUE[c][1]]]
    assert [i["code"] for i in record["items"]] == [c.replace(".", "-") for c in not_fine]
