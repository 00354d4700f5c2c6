"""An inspection that fails checks raises an alert even when it sets no damage flag: a
failed brake or a kinked frame rail is never "no problems reported"."""

from __future__ import annotations

import pytest

from core.history import analyse
from core.inspection_alerts import is_safety_item

VIN = "1HGCM82673A004354"
CLEAN = {"accident": False, "flood": False, "fire": False, "structural": False, "airbag": False}


def inspection(index: int, when: str, *items: tuple[str, str], flags=CLEAN) -> dict:
    record = {
        "kind": "inspection",
        "vin": VIN,
        "occurred_at": when,
        "provider": "Acme Inspections",
        "inspector": "INS-0042",
        "grade": "B",
        "items": [{"code": c, "result": r} for c, r in items],
        "flags": flags,
    }
    return {"index": index, "kind": "inspection", "signer": {"id": "acme"}, "record": record}


def fix(index: int, corrects: int, fields: dict) -> dict:
    record = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-10-03T09:00:00Z",
        "corrects": corrects,
        "reason": "typo",
        "fields": fields,
    }
    return {"index": index, "kind": "correction", "signer": {"id": "acme"}, "record": record}


def of_type(view: dict, kind: str) -> list[dict]:
    return [a for a in view["alerts"] if a["type"] == kind]


# The adjuster's car: frame, brakes and airbag failed, every damage flag false.
FAILED = (("frame-front", "major"), ("brakes", "fail"), ("airbag-module", "fail"))


def test_failed_safety_items_with_every_flag_false_raise_one_high_alert_naming_them():
    view = analyse([inspection(3, "2026-10-01T09:00:00Z", *FAILED, ("wipers", "minor"))])
    (found,) = view["alerts"]
    assert found["type"] == "inspection_failed" and found["severity"] == "high"
    assert found["entries"] == [3]
    assert found["facts"]["items"] == [{"code": c, "result": r} for c, r in FAILED]
    assert found["facts"]["safety"] == ["frame-front", "brakes", "airbag-module"]
    for code in ("frame-front (major)", "brakes (fail)", "airbag-module (fail)"):
        assert code in found["message"]
    assert "wipers" not in found["message"]  # a minor defect is no failure


@pytest.mark.parametrize(
    ("items", "severity"),
    [
        ((("paint", "major"),), "medium"),
        ((("electrics", "fail"), ("paint", "major")), "medium"),
        ((("paint", "major"), ("steering-rack", "major")), "high"),
        ((("rear_brakes", "fail"),), "high"),
        ((("seat-belt-rl", "fail"),), "high"),
        ((("tyres", "fail"),), "high"),
    ],
)
def test_a_failure_is_high_on_a_safety_item_and_medium_otherwise(items, severity):
    (found,) = analyse([inspection(3, "2026-10-01T09:00:00Z", *items)])["alerts"]
    assert found["type"] == "inspection_failed" and found["severity"] == severity


@pytest.mark.parametrize("result", ["ok", "minor", "not_checked"])
def test_an_inspection_with_no_major_or_failed_item_raises_nothing(result):
    assert analyse([inspection(3, "2026-10-01T09:00:00Z", ("brakes", result))])["alerts"] == []


def test_a_later_inspection_that_passes_the_items_does_not_erase_the_alert():
    view = analyse(
        [
            inspection(3, "2026-10-01T09:00:00Z", *FAILED),
            inspection(4, "2026-11-01T09:00:00Z", ("brakes", "ok"), ("frame-front", "ok")),
        ]
    )
    (found,) = of_type(view, "inspection_failed")
    assert found["entries"] == [3] and found["severity"] == "high"
    assert found["facts"]["passed_later"] == [
        {"code": "brakes", "entry": 4},
        {"code": "frame-front", "entry": 4},
    ]
    assert "a later inspection passed brakes (entry 4), frame-front (entry 4)" in found["message"]


def test_an_earlier_inspection_that_passed_an_item_says_nothing_of_it():
    """Event time decides what is later, not log order."""
    view = analyse(
        [
            inspection(3, "2026-10-01T09:00:00Z", *FAILED),
            inspection(4, "2026-01-01T09:00:00Z", ("brakes", "ok")),
        ]
    )
    (found,) = of_type(view, "inspection_failed")
    assert found["facts"]["passed_later"] == []


def test_a_correction_that_passes_a_failed_brake_is_a_high_withdrawal():
    view = analyse(
        [
            inspection(3, "2026-10-01T09:00:00Z", *FAILED),
            fix(5, 3, {"items": [{"code": "paint", "result": "major"}]}),
        ]
    )
    (withdrawn,) = of_type(view, "finding_withdrawn")
    assert withdrawn["severity"] == "high" and withdrawn["entries"] == [3, 5]
    (found,) = of_type(view, "inspection_failed")  # the record in force: paint only
    assert found["severity"] == "medium" and found["facts"]["items"] == [
        {"code": "paint", "result": "major"}
    ]


def test_a_malformed_checklist_of_an_older_log_is_read_without_failing():
    record = inspection(3, "2026-10-01T09:00:00Z")
    record["record"]["items"] = ["brakes", {"code": 7, "result": "fail"}, {"code": "x"}]
    assert analyse([record])["alerts"] == []


@pytest.mark.parametrize(
    ("code", "safety"),
    [
        ("frame-front", True),
        ("subframe", True),
        ("b-pillar-left", True),
        ("srs", True),
        ("abs-sensor", True),
        ("rocker-sill", True),
        ("power_steering", True),
        ("paint", False),
        ("wipers", False),
        ("timing-belt", False),  # the engine's, not a seat belt
        ("absorbent-mat", False),
        ("radio", False),
        # whole words: a word on or beside a safety item is no safety item
        *(
            (code, False)
            for code in (
                "license-plate-frame",
                "window-frame",
                "door-frame-seal",
                "entire-body-paint",
                "roof-rails",
                "door-sill-plate",
                "steering-wheel-trim",
                "pillar-trim",
                "airbag-cover-cosmetic",
                "frame-number-plate",
            )
        ),
        # wheels, suspension, stability control, a fuel leak, pinyin
        *(
            (code, True)
            for code in (
                "tie-rod",
                "ball-joint",
                "control-arm",
                "shock-absorber",
                "wheel-bearing",
                "tread-depth",
                "lug-nuts",
                "fuel-tank-leak",
                "esp-warning-light",
                "eps-fault",
                "shache",
                "zhidong-xitong",
                "luntai",
                "zhuanxiang",
                "anquandai",
                "anquanqinang",
                "chejia",
                "brake-fluid-level",
                "tire-pressure",
                "airbag-light",
                "abs-light",
                "roof-pillar",
            )
        ),
        # a brake's, steering's, suspension's or airbag's own seal, cover or plate
        *(
            (code, True)
            for code in (
                "brake-caliper-seal",
                "steering-rack-seal",
                "power-steering-seal",
                "shock-absorber-seal",
                "ball-joint-dust-cover",
                "brake-backing-plate",
                "brake-dust-cover",
                "airbag-cover",
                "srs-airbag-cover",
                "steering-column-cover",
                "chassis-alignment",
                "strut-boot",
            )
        ),
        # a fitting or a finish takes the structure away; a finish any safety item
        *((code, False) for code in ("frame-paint", "windowframe", "sill-cover")),
        # the chassis' number plate (the VIN plate), a cover in the cabin or the boot, a
        # word that only starts like a safety word
        *(
            (code, False)
            for code in (
                "chassis-plate",
                "chassis-number-plate",
                "steering-wheel-cover",
                "spare-tyre-cover",
                "seat-belt-cover",
                "handbrake-cover",
                "gear-lever-gaiter",
                "railway",
            )
        ),
        # a lid's gas strut
        *(
            (code, False)
            for code in (
                "bonnet-strut",
                "tailgate-struts",
                "boot-struts",
                "liftgate-struts",
                "hood-shocks",
                "boot-lid-damper",
                "tailgatestruts",
            )
        ),
        # a safety word joined to another; more steering and suspension parts
        *(
            (code, True)
            for code in (
                "brakepads",
                "frontbrakes",
                "tyrepressure",
                "srsairbag",
                "steeringrack",
                "shachepian",
                "zhidongpan",
                "apillar",
                "belt-pretension",
                "track-rod-end",
                "anti-roll-bar",
                "drag-link",
                "kingpin",
                "disc-rotor",
            )
        ),
        # short words stand alone
        *((code, False) for code in ("espresso-maker", "absorbent-pad", "entire-trim-set")),
    ],
)
def test_safety_items_are_told_by_their_code(code, safety):
    assert is_safety_item(code) is safety


def test_a_correction_that_respells_a_safety_item_into_another_item_is_a_high_withdrawal():
    """ "frame-front: fail" to "frme-front: fail" is nearly a respelling, but it takes the
    inspection's alert from high to medium: it withdrew the frame's failure."""
    view = analyse(
        [
            inspection(3, "2026-10-01T09:00:00Z", ("frame-front", "fail")),
            fix(5, 3, {"items": [{"code": "frme-front", "result": "fail"}]}),
        ]
    )
    (found,) = of_type(view, "inspection_failed")
    assert found["severity"] == "medium"
    (withdrawn,) = of_type(view, "finding_withdrawn")
    assert withdrawn["severity"] == "high" and withdrawn["entries"] == [3, 5]
    assert withdrawn["facts"]["withdrawn"] == [
        {"field": "items.frame-front", "from": "fail", "to": None}
    ]


def test_a_correction_that_respells_a_safety_item_into_another_safety_code_withdraws_nothing():
    view = analyse(
        [
            inspection(3, "2026-10-01T09:00:00Z", ("brakse", "fail")),
            fix(5, 3, {"items": [{"code": "brakes", "result": "fail"}]}),
        ]
    )
    assert of_type(view, "finding_withdrawn") == []
