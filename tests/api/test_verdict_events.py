"""The verdict says each event once, and separate events apart: two total losses years
apart are two problems, a brand in California and another in Nevada two lines; reports
of one event (the same brand in one jurisdiction, two insurers' total loss of one crash)
are one line with its reports counted. And an inspection that failed checks is a problem
in the verdict and on its timeline entry, in every language."""

from __future__ import annotations

import copy

import msgspec
import pytest

from api.i18n import Words
from api.pages import page_model
from api.verdict import headline
from core.history import analyse
from core.vin import decode_vin

VIN = "1HGCM82633A004352"
CLEAN = {"accident": False, "flood": False, "fire": False, "structural": False, "airbag": False}


def entry(index: int, kind: str, when: str, role="insurer", **record) -> dict:
    record = {"kind": kind, "vin": VIN, "occurred_at": when, **record}
    signer = {"id": f"s{index}", "name": f"S{index}", "role": role}
    return {
        "index": index,
        "kind": kind,
        "sequenced_at": "2026-12-01T00:00:00Z",
        "signer": signer,
        "record": record,
    }


def total_loss(index: int, when: str) -> dict:
    return entry(
        index, "insurance_claim", when, claim_ref=f"HM-{index}", severity="severe", total_loss=True
    )


def brand(index: int, when: str, where: str, kind="rebuilt") -> dict:
    return entry(index, "title_brand", when, role="registry", brand=kind, jurisdiction=where)


def lines(items: list[dict], lang="en") -> list[dict]:
    return headline(analyse(copy.deepcopy(items))["alerts"], Words(lang))


def test_two_total_losses_years_apart_are_two_problems():
    said = lines([total_loss(19, "2023-02-01T00:00:00Z"), total_loss(28, "2026-03-01T00:00:00Z")])
    losses = [line for line in said if line["fact"].startswith("Declared a total loss")]
    assert [(line["text"], line["entries"]) for line in losses] == [
        ("Declared a total loss by an insurer on 1 Feb 2023", [19]),
        ("Declared a total loss by an insurer on 1 Mar 2026", [28]),
    ]
    assert not any("2 reports" in line["text"] for line in said)


def test_two_insurers_total_loss_of_one_crash_days_apart_is_one_problem():
    said = lines([total_loss(19, "2026-03-01T00:00:00Z"), total_loss(28, "2026-03-04T00:00:00Z")])
    (loss,) = [line for line in said if line["fact"].startswith("Declared a total loss")]
    assert loss["reports"] == 2 and loss["entries"] == [19, 28]
    assert loss["text"] == (
        "Declared a total loss by an insurer between 1 Mar 2026 and 4 Mar 2026 — 2 reports"
    )


def test_brands_of_two_jurisdictions_are_two_lines_and_of_one_jurisdiction_one():
    said = lines(
        [
            brand(5, "2024-01-10T00:00:00Z", "US-CA"),
            brand(9, "2026-05-10T00:00:00Z", "US-NV"),
            brand(12, "2026-07-10T00:00:00Z", "US-NV"),
        ]
    )
    assert [(line["text"], line["entries"]) for line in said] == [
        ("Title branded: rebuilt in US-CA", [5]),
        ("Title branded: rebuilt in US-NV — 2 reports", [9, 12]),
    ]


def test_one_jurisdiction_written_in_another_case_or_with_spaces_is_one_line():
    said = lines(
        [
            brand(1, "2026-01-01T00:00:00Z", "US-CA"),
            brand(2, "2026-01-05T00:00:00Z", "us-ca"),
            brand(3, "2026-01-06T00:00:00Z", " US-CA "),
        ]
    )
    assert [(line["text"], line["entries"]) for line in said] == [
        ("Title branded: rebuilt in US-CA — 3 reports", [1, 2, 3])
    ]


@pytest.mark.parametrize(
    ("lang", "said"),
    [
        (
            "en",
            [
                "Title branded: rebuilt in US-CA",
                "Title branded: rebuilt in US-NV",
                "Declared a total loss by an insurer on 1 Feb 2023",
                "Declared a total loss by an insurer on 1 Mar 2026",
            ],
        ),
        (
            "zh",
            [
                "产权标记：修复车（US-CA）",
                "产权标记：修复车（US-NV）",
                "保险公司认定全损（2023年2月1日）",
                "保险公司认定全损（2026年3月1日）",
            ],
        ),
    ],
)
def test_lines_of_separate_events_read_apart_in_every_language(lang, said):
    shown = lines(
        [
            brand(1, "2024-01-01T00:00:00Z", "US-CA"),
            brand(2, "2026-05-01T00:00:00Z", "US-NV"),
            total_loss(3, "2023-02-01T00:00:00Z"),
            total_loss(4, "2026-03-01T00:00:00Z"),
        ],
        lang,
    )
    accident = Words(lang)("alert_accident", severity=Words(lang).term("severity", "severe"))
    assert [line["text"] for line in shown if line["text"] != accident] == said


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 2, 1], [2, 1, 0], [1, 0, 2]])
def test_reports_a_week_apart_each_merge_from_the_first_day_whatever_the_log_order(order):
    """Days 1, 8 and 15: the first two are one event (8 is within 7 days of 1), 15 is
    another; a chain (1-8, 8-15) is not one event, and the log's order changes nothing."""
    days = ["2026-03-01T00:00:00Z", "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z"]
    said = lines([total_loss(i + 1, days[d]) for i, d in enumerate(order)])
    losses = [line for line in said if line["fact"].startswith("Declared a total loss")]
    by_day = {d: i + 1 for i, d in enumerate(order)}
    assert sorted((line["fact"], line["entries"]) for line in losses) == sorted(
        [
            (
                "Declared a total loss by an insurer between 1 Mar 2026 and 8 Mar 2026",
                sorted([by_day[0], by_day[1]]),
            ),
            ("Declared a total loss by an insurer on 15 Mar 2026", [by_day[2]]),
        ]
    )


def test_a_flood_state_reported_by_an_insurer_and_an_inspector_is_still_one_line():
    flagged = {**CLEAN, "flood": True}
    said = lines(
        [
            entry(
                3,
                "insurance_claim",
                "2024-01-10T00:00:00Z",
                claim_ref="HM-1",
                cause="flood",
                severity="severe",
            ),
            entry(
                4,
                "inspection",
                "2026-01-10T00:00:00Z",
                role="inspector",
                provider="acme",
                inspector="I-1",
                grade="D",
                items=[],
                flags=flagged,
            ),
        ]
    )
    assert [line["text"] for line in said] == ["Flood damage reported — 2 reports"]


@pytest.mark.parametrize(("lang", "more"), [("en", " and 495 more"), ("zh", "等另外 495 项")])
def test_a_failed_inspection_of_many_items_names_its_safety_items_and_a_few_others(lang, more):
    items = [{"code": f"item-{n:03d}-{'x' * 50}", "result": "major"} for n in range(500)]
    items[250] = {"code": "brakes", "result": "fail"}
    items[499] = {"code": "frame-front", "result": "major"}
    inspection = entry(
        1,
        "inspection",
        "2026-01-01T00:00:00Z",
        role="inspector",
        grade="E",
        flags=CLEAN,
        items=items,
    )
    (line,) = lines([inspection], lang)
    assert len(line["text"]) < 1500
    assert "brakes" in line["text"] and "frame-front" in line["text"]
    assert "item-000" in line["text"] and "item-003" not in line["text"]
    assert line["text"].endswith(more)


# ---- a failed inspection in the verdict and the timeline -----------------------------------

FAILED = [
    {"code": "frame-front", "result": "major", "note": "front rail kinked"},
    {"code": "brakes", "result": "fail", "note": "no rear braking"},
    {"code": "airbag-module", "result": "fail", "note": "SRS light on"},
]


def failed_inspection(index=3) -> dict:
    return entry(
        index,
        "inspection",
        "2026-10-01T09:00:00Z",
        role="inspector",
        provider="Acme Inspections",
        inspector="INS-0042",
        grade="B",
        items=FAILED,
        flags=CLEAN,
        odometer_km=60000,
    )


def model(items: list[dict], lang: str) -> dict:
    history = {
        "vin": VIN,
        "vehicle": msgspec.to_builtins(decode_vin(VIN)),
        "entries": items,
        "view": analyse(copy.deepcopy(items)),
    }
    return page_model(history, Words(lang))


@pytest.mark.parametrize(
    ("lang", "said", "flags"),
    [
        (
            "en",
            "Inspection failed: frame-front (major defect), brakes (failed), airbag-module "
            "(failed); a later inspection passed brakes (entry 4)",
            "no damage flag set, but checks failed: frame-front, brakes, airbag-module",
        ),
        (
            "zh",
            "检查未通过：frame-front（严重问题）、brakes（不合格）、airbag-module（不合格）"
            "；之后的检查通过了 brakes（记录 4）",
            "未标记损伤，但检查未通过：frame-front、brakes、airbag-module",
        ),
    ],
)
def test_a_failed_inspection_is_a_problem_and_its_entry_does_not_say_none(lang, said, flags):
    later = entry(
        4,
        "inspection",
        "2026-11-01T09:00:00Z",
        role="inspector",
        provider="Acme",
        inspector="INS-1",
        grade="A",
        items=[{"code": "brakes", "result": "ok"}],
        flags=CLEAN,
    )
    shown = model([failed_inspection(), later], lang)
    (line,) = shown["alerts"]
    assert line["severity"] == "high" and line["entries"] == [3]
    assert line["text"] == said
    t = Words(lang)
    (first,) = [e for e in shown["timeline"] if e["index"] == 3]
    found = {label: value for label, value, *_ in first["details"]}
    assert found[t("field_flags")] == flags
    (second,) = [e for e in shown["timeline"] if e["index"] == 4]
    assert {label: value for label, value, *_ in second["details"]}[t("field_flags")] == t(
        "field_none"
    )


@pytest.mark.parametrize(
    ("lang", "said"),
    [("en", "damage to the front; damage to the left side"), ("zh", "前部损伤；左侧损伤")],
)
def test_damage_areas_withdrawn_are_said_in_the_page_s_words(lang, said):
    claim = entry(
        20,
        "insurance_claim",
        "2026-06-01T09:00:00Z",
        claim_ref="HM-1",
        severity="minor",
        areas=["front", "left"],
    )
    fix = entry(
        21, "correction", "2026-06-03T09:00:00Z", corrects=20, reason="areas", fields={"areas": []}
    )
    fix["kind"] = "correction"
    shown = model([claim, fix], lang)
    (line,) = [a for a in shown["alerts"] if "21" in a["text"]]
    assert line["text"].endswith(said), line["text"]


def test_a_total_loss_is_dated_and_grouped_in_the_ledger_s_time_zone_as_the_timeline():
    """20:00 UTC on 1 March is 2 March in Shanghai: the verdict says the day the timeline
    says; and reports 7 days apart there (8 in UTC) are reports of one crash."""
    history = {
        "vin": VIN,
        "vehicle": msgspec.to_builtins(decode_vin(VIN)),
        "entries": [total_loss(19, "2026-03-01T20:00:00Z")],
    }
    history["view"] = analyse(copy.deepcopy(history["entries"]))
    page = page_model(history, Words("en"), zone="Asia/Shanghai")
    (loss,) = [line for line in page["alerts"] if line["fact"].startswith("Declared a total loss")]
    assert loss["text"] == "Declared a total loss by an insurer on 2 Mar 2026"
    assert [e["date"] for e in page["timeline"] if e["index"] == 19] == ["2026-03-02"]
    two = [total_loss(19, "2026-03-01T20:00:00Z"), total_loss(28, "2026-03-09T03:00:00Z")]
    said = headline(analyse(copy.deepcopy(two))["alerts"], Words("zh"), "Asia/Shanghai")
    (loss,) = [line for line in said if line["severity"] == "high" and line["reports"] == 2]
    assert "2026年3月2日" in loss["text"] and "2026年3月9日" in loss["text"]
    utc = [line for line in lines(two) if line["fact"].startswith("Declared a total loss")]
    assert [line["entries"] for line in utc] == [[19], [28]]  # in UTC 8 days apart: two
