"""AutoScope's report format, ``application/vnd.autoscope.report+json``, version 1.

An AutoScope station signs one compact JSON object per inspection::

    {"ref": "AS-2026-004187", "vin": "1HGCM82633A004352", "date": "2026-05-04T09:30:00Z",
     "km": 48210, "inspector": "AS-117", "score": 82,
     "checks": {"frame": "ok", "water": false, "fire": false, "airbags": "ok",
                "paint": [{"panel": "hood", "microns": 118}]}}

AutoScope's own rules, checked before anything reaches the ledger:

- the score (0-100) is graded A from 85, B from 70, C from 50, D below;
- a car with frame damage, water or fire damage, or deployed airbags scores at most 49;
- paint is measured once per panel, in microns: up to 160 is factory paint, up to 300
  a respray, more means body filler under the paint (an earlier accident repair).

The report is kept on the ledger verbatim; what vinledger reads is the inspection record
``normalise`` makes of it, so the ``ref`` stays in the signed report only.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from core.errors import InvalidRecord, InvalidVIN
from core.vin import validate_vin
from plugins.interfaces import InspectionProvider

FIELDS = ("ref", "vin", "date", "km", "inspector", "score", "checks")
CHECKS = ("frame", "water", "fire", "airbags", "paint")
PANELS = frozenset(
    {
        "hood",
        "roof",
        "trunk",
        "front-bumper",
        "rear-bumper",
        "front-left-fender",
        "front-right-fender",
        "front-left-door",
        "front-right-door",
        "rear-left-door",
        "rear-right-door",
        "rear-left-quarter",
        "rear-right-quarter",
    }
)
GRADES = ((85, "A"), (70, "B"), (50, "C"), (0, "D"))
DAMAGED_MAX_SCORE = 49
FACTORY_PAINT_MAX = 160  # microns
RESPRAY_MAX = 300

_REF = re.compile(r"AS-[0-9]{4}-[0-9]{6}")
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")


def grade(score: int) -> str:
    return next(letter for floor, letter in GRADES if score >= floor)


class AutoScopeReport(InspectionProvider):
    id = "autoscope"
    version = "1"
    payload_type = "application/vnd.autoscope.report+json"
    description = "AutoScope inspection report: score, frame, water, fire, airbags, paint"

    def normalise(self, payload: bytes) -> dict[str, Any]:
        report = _object(_decode(payload), "$", FIELDS)
        _text(report, "ref", "$.ref", _REF, "AutoScope's reference, e.g. AS-2026-004187")
        vin = _vin(report)
        at = _text(report, "date", "$.date", _UTC, "RFC 3339 in UTC, e.g. 2026-05-04T09:30:00Z")
        _date(at)
        km = _whole(report, "km", "$.km", 0, 2_000_000)
        inspector = report["inspector"]
        if not isinstance(inspector, str) or not 1 <= len(inspector) <= 200:
            raise InvalidRecord(
                "inspector must be the technician's id, 1 to 200 characters", field="$.inspector"
            )
        score = _whole(report, "score", "$.score", 0, 100)
        checks = _object(report["checks"], "$.checks", CHECKS)

        frame = _choice(checks, "frame", ("ok", "damage"))
        water = _flag(checks, "water")
        fire = _flag(checks, "fire")
        airbags = _choice(checks, "airbags", ("ok", "deployed"))
        paint = _paint(checks["paint"])

        damage = [
            what
            for what, found in (
                ("frame damage", frame == "damage"),
                ("water damage", water),
                ("fire damage", fire),
                ("deployed airbags", airbags == "deployed"),
            )
            if found
        ]
        if damage and score > DAMAGED_MAX_SCORE:
            raise InvalidRecord(
                f"score {score} is above {DAMAGED_MAX_SCORE}, AutoScope's highest score for a car "
                f"with {' and '.join(damage)}; re-check the score or the checks",
                field="$.score",
            )

        items = [
            _item("frame", frame == "damage", "frame damage"),
            _item("flood", water, "water damage"),
            _item("fire", fire, "fire damage"),
            _item("airbags", airbags == "deployed", "airbags deployed"),
            *paint,
        ]
        filler = any(item["result"] == "major" for item in paint)
        return {
            "kind": "inspection",
            "vin": vin,
            "occurred_at": at,
            "odometer_km": km,
            "provider": "AutoScope",
            "inspector": inspector,
            "grade": grade(score),
            "items": items,
            "flags": {
                "accident": frame == "damage" or airbags == "deployed" or filler,
                "flood": water,
                "fire": fire,
                "structural": frame == "damage",
                "airbag": airbags == "deployed",
            },
        }


# ---- reading the report, each refusal naming the field ---------------------------------


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A signed report must mean one thing: with a key twice, readers could disagree.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InvalidRecord(f"key {key!r} appears twice in the report", field=f"$.{key}")
        out[key] = value
    return out


def _decode(payload: bytes) -> Any:
    try:
        return json.loads(payload, object_pairs_hook=_refuse_duplicates)
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError alike
        raise InvalidRecord(f"the report is not UTF-8 JSON: {err}", field="$") from None


def _object(value: Any, where: str, fields: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidRecord(f"{where} must be a JSON object", field=where)
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise InvalidRecord(
            f"unknown field {unknown[0]!r}; an AutoScope v1 report has: {', '.join(fields)}",
            field=f"{where}.{unknown[0]}",
        )
    for name in fields:
        if name not in value:
            raise InvalidRecord(f"{name} is missing", field=f"{where}.{name}")
    return value


def _text(report: dict, name: str, where: str, pattern: re.Pattern, what: str) -> str:
    value = report[name]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidRecord(f"{name} must be {what}, not {value!r}", field=where)
    return value


def _vin(report: dict) -> str:
    vin = report["vin"]
    if not isinstance(vin, str):
        raise InvalidVIN(f"vin must be a string, not {vin!r}", field="$.vin")
    try:
        validate_vin(vin)
    except InvalidVIN as err:
        raise InvalidVIN(err.detail, field="$.vin") from None
    return vin


def _date(text: str) -> None:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecord(f"date {text!r} is not a real date and time", field="$.date") from None


def _whole(report: dict, name: str, where: str, low: int, high: int) -> int:
    value = report[name]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRecord(
            f"{name} must be a whole number from {low} to {high:,}, not {value!r}", field=where
        )
    return value


def _choice(checks: dict, name: str, allowed: tuple[str, ...]) -> str:
    value = checks[name]
    if value not in allowed:
        raise InvalidRecord(
            f"checks.{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}",
            field=f"$.checks.{name}",
        )
    return value


def _flag(checks: dict, name: str) -> bool:
    value = checks[name]
    if not isinstance(value, bool):
        raise InvalidRecord(
            f"checks.{name} must be true or false, not {value!r}", field=f"$.checks.{name}"
        )
    return value


def _paint(readings: Any) -> list[dict[str, Any]]:
    if not isinstance(readings, list) or len(readings) > len(PANELS):
        raise InvalidRecord(
            f"checks.paint must be a list of at most {len(PANELS)} panel readings",
            field="$.checks.paint",
        )
    items, seen = [], set()
    for i, reading in enumerate(readings):
        where = f"$.checks.paint[{i}]"
        reading = _object(reading, where, ("panel", "microns"))
        panel = reading["panel"]
        # A panel is a name: ["hood"] or {"name": "hood"} cannot even be looked up.
        if not isinstance(panel, str) or panel not in PANELS:
            raise InvalidRecord(
                f"unknown panel {panel!r}; the panels are: {', '.join(sorted(PANELS))}",
                field=f"{where}.panel",
            )
        if panel in seen:
            raise InvalidRecord(f"panel {panel!r} is measured twice", field=f"{where}.panel")
        seen.add(panel)
        microns = _whole(reading, "microns", f"{where}.microns", 20, 2_000)
        if microns <= FACTORY_PAINT_MAX:
            items.append({"code": f"paint-{panel}", "result": "ok", "note": f"{microns} µm"})
        elif microns <= RESPRAY_MAX:
            items.append(
                {"code": f"paint-{panel}", "result": "minor", "note": f"{microns} µm: resprayed"}
            )
        else:
            items.append(
                {
                    "code": f"paint-{panel}",
                    "result": "major",
                    "note": f"{microns} µm: body filler under the paint",
                }
            )
    return items


def _item(code: str, failed: bool, note: str) -> dict[str, Any]:
    return (
        {"code": code, "result": "fail", "note": note} if failed else {"code": code, "result": "ok"}
    )
