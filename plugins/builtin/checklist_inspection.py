"""A multi-point checklist report, as Chinese and European inspection firms publish them.

Payload type ``application/vnd.checklist.inspection-report+json``::

    {"report_no": "HC-2026-000123", "firm": "华诚检测", "inspector": "INS-0042",
     "vin": "LFV…", "inspected_at": "2026-05-04T09:30:00Z", "mileage_km": 48210,
     "grade": "B+",
     "sections": {"body": [{"code": "body.front-bumper", "value": 118}, …],
                  "structure": […], "flood": […], "fire": […], "engine": […],
                  "transmission": […], "electrics": […], "interior": […], "chassis": […]},
     "attachments": [… as in vinledger's inspection record …]}

178 items in nine sections (``CATALOGUE``); ``body``, ``structure``, ``flood``,
``fire``, ``engine`` and ``transmission`` are mandatory. Values by section: paint
thickness in µm per body panel (0–2000); structure members ``ok``, ``repaired``,
``replaced`` or ``deformed``; flood and fire indicators ``true`` when found;
mechanical and electrical items ``ok``, ``minor``, ``major`` or ``fail``; airbags
``intact``, ``deployed`` or ``missing``.

How it maps onto vinledger's inspection:

- items: every item that is not fine, its code made a slug (``body-front-bumper``);
  paint above 160 µm is ``minor`` ("repainted, N µm"), above 500 µm ``major``
  ("filler, N µm"); a repaired structure member ``major``, replaced or deformed
  ``fail``; a flood or fire indicator found ``fail``; a deployed or missing airbag
  ``fail``; other values as they are. Items not checked are left out;
- flags: structural if any structure member is not ``ok``; flood and fire if any of
  their indicators is found; airbag if any airbag is deployed or missing; accident
  if structural, or any panel above 500 µm.
"""

from __future__ import annotations

import json
import re
from typing import Any

from core.errors import InvalidRecord
from plugins.hookspecs import hookimpl
from plugins.interfaces import InspectionProvider

_PANELS = (
    "front-bumper rear-bumper bonnet tailgate roof front-left-wing front-right-wing "
    "rear-left-quarter rear-right-quarter front-left-door front-right-door rear-left-door "
    "rear-right-door left-sill right-sill left-a-pillar right-a-pillar left-b-pillar "
    "right-b-pillar left-c-pillar right-c-pillar left-mirror right-mirror fuel-flap "
    "front-valance rear-valance"
)
_STRUCTURE = (
    "front-left-rail front-right-rail rear-left-rail rear-right-rail front-crossmember "
    "rear-crossmember firewall left-strut-tower right-strut-tower radiator-support "
    "floor-pan boot-floor left-inner-sill right-inner-sill roof-rail-left roof-rail-right "
    "left-a-pillar-inner right-a-pillar-inner left-b-pillar-inner right-b-pillar-inner"
)
_FLOOD = (
    "seat-rails-rust carpet-silt carpet-damp boot-well-silt fuse-box-corrosion "
    "ecu-corrosion seatbelt-watermark door-cards-stain headlining-stain spare-wheel-well "
    "underbody-silt cabin-odour"
)
_FIRE = (
    "engine-bay-soot melted-harness scorched-insulation fire-extinguisher-residue "
    "burnt-odour heat-warped-plastics replaced-harness paint-blistering"
)
_ENGINE = (
    "start cold-idle warm-idle oil-leak coolant-leak oil-level oil-condition coolant-level "
    "timing-belt drive-belt water-pump turbo exhaust-smoke exhaust-leak misfire compression "
    "engine-mounts air-filter spark-plugs injectors throttle-body egr dpf catalytic "
    "radiator fan thermostat head-gasket noise oil-pressure"
)
_TRANSMISSION = (
    "shift-quality clutch gearbox-leak gearbox-noise drive-shafts cv-joints differential "
    "transfer-case mounts fluid-level fluid-condition launch-judder"
)
_ELECTRICS = (
    "battery charging starter headlights tail-lights indicators brake-lights fog-lights "
    "horn wipers washers windows-front windows-rear central-locking mirrors-adjust "
    "instrument-cluster warning-lights infotainment reverse-camera parking-sensors "
    "climate-control seat-heating abs-module esp-module airbag-module obd-codes "
    "keyless-entry alarm sunroof interior-lights"
)
_INTERIOR = (
    "airbag-driver airbag-passenger airbag-side-left airbag-side-right airbag-curtain-left "
    "airbag-curtain-right seats-front seats-rear seatbelts steering-wheel dashboard "
    "headlining carpets door-cards glovebox boot-trim odour smoking-marks pedals gear-knob"
)
_CHASSIS = (
    "front-shocks rear-shocks front-springs rear-springs front-brakes rear-brakes "
    "brake-discs brake-lines handbrake steering-rack tie-rods ball-joints bushes "
    "wheel-bearings tyres-front tyres-rear spare-tyre alignment exhaust-mounts underbody"
)

PAINT, MEMBER, FOUND, STATE, AIRBAG = "paint", "member", "found", "state", "airbag"
SECTIONS: dict[str, tuple[str, str]] = {
    "body": (_PANELS, PAINT),
    "structure": (_STRUCTURE, MEMBER),
    "flood": (_FLOOD, FOUND),
    "fire": (_FIRE, FOUND),
    "engine": (_ENGINE, STATE),
    "transmission": (_TRANSMISSION, STATE),
    "electrics": (_ELECTRICS, STATE),
    "interior": (_INTERIOR, STATE),
    "chassis": (_CHASSIS, STATE),
}
MANDATORY = ("body", "structure", "flood", "fire", "engine", "transmission")
CATALOGUE: dict[str, tuple[str, str]] = {  # code -> (section, kind of value)
    f"{section}.{name}": (section, AIRBAG if name.startswith("airbag-") else kind)
    for section, (names, kind) in SECTIONS.items()
    for name in names.split()
}
GRADES = ("A+", "A", "B+", "B", "C", "D", "E")
_VALUES = {
    MEMBER: {"ok": "ok", "repaired": "major", "replaced": "fail", "deformed": "fail"},
    STATE: {
        "ok": "ok",
        "minor": "minor",
        "major": "major",
        "fail": "fail",
        "not_checked": "not_checked",
    },
    AIRBAG: {"intact": "ok", "deployed": "fail", "missing": "fail"},
}
_FIELDS = {
    "report_no",
    "firm",
    "inspector",
    "vin",
    "inspected_at",
    "mileage_km",
    "grade",
    "sections",
    "attachments",
}


def _refuse(message: str, field: str) -> InvalidRecord:
    return InvalidRecord(f"checklist report: {message}", field=field)


def _result(code: str, kind: str, value: Any, where: str) -> tuple[str, str | None]:
    """(vinledger result, note) of one item; refuses an impossible value by name."""
    if kind == PAINT:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2000:
            raise _refuse(f"item {code}: paint thickness must be 0–2000 µm, not {value!r}", where)
        if value > 500:
            return "major", f"filler, {value} µm"
        return ("minor", f"repainted, {value} µm") if value > 160 else ("ok", None)
    if kind == FOUND:
        if not isinstance(value, bool):
            raise _refuse(f"item {code}: write true (found) or false, not {value!r}", where)
        return ("fail", "found") if value else ("ok", None)
    allowed = _VALUES[kind]
    if value not in allowed:
        raise _refuse(f"item {code}: {value!r} is not one of {', '.join(allowed)}", where)
    return allowed[value], (value if allowed[value] not in ("ok", "not_checked") else None)


class ChecklistInspection(InspectionProvider):
    id = "checklist"
    version = "1"
    payload_type = "application/vnd.checklist.inspection-report+json"
    description = "Multi-point checklist report (paint per panel, structure, flood, fire, …)"

    def normalise(self, payload: bytes) -> dict[str, Any]:
        try:
            report = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as err:
            raise _refuse(f"not JSON: {err}", "$") from None
        if not isinstance(report, dict):
            raise _refuse("a report is a JSON object", "$")
        unknown = sorted(set(report) - _FIELDS)
        if unknown:
            raise _refuse(f"unknown field {unknown[0]!r}", f"$.{unknown[0]}")
        for name in ("report_no", "firm", "inspector", "vin", "inspected_at"):
            if not isinstance(report.get(name), str) or not report[name]:
                raise _refuse(f"{name} is required (a non-empty string)", f"$.{name}")
        if report.get("grade") not in GRADES:
            raise _refuse(f"grade must be one of {', '.join(GRADES)}", "$.grade")
        sections = report.get("sections")
        if not isinstance(sections, dict):
            raise _refuse("sections must be an object of section name to items", "$.sections")
        for name in MANDATORY:
            if name not in sections:
                raise _refuse(f"mandatory section {name!r} is missing", f"$.sections.{name}")
        items, seen = [], set()
        flags = dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False)
        for section, entries in sections.items():
            if section not in SECTIONS:
                raise _refuse(f"unknown section {section!r}", f"$.sections.{section}")
            if not isinstance(entries, list):
                raise _refuse(f"section {section!r} must be a list", f"$.sections.{section}")
            for n, item in enumerate(entries):
                where = f"$.sections.{section}[{n}]"
                if not isinstance(item, dict) or set(item) != {"code", "value"}:
                    raise _refuse(f'{section}[{n}] must be {{"code", "value"}}', where)
                code = item["code"]
                if code not in CATALOGUE:
                    raise _refuse(f"unknown item code {code!r}", f"{where}.code")
                if CATALOGUE[code][0] != section:
                    raise _refuse(
                        f"item {code} belongs in section {CATALOGUE[code][0]!r}", f"{where}.code"
                    )
                if code in seen:
                    raise _refuse(f"item {code} appears twice", f"{where}.code")
                seen.add(code)
                kind = CATALOGUE[code][1]
                result, note = _result(code, kind, item["value"], f"{where}.value")
                if result in ("ok", "not_checked"):
                    continue
                flags["structural"] |= section == "structure"
                flags["flood"] |= section == "flood"
                flags["fire"] |= section == "fire"
                flags["airbag"] |= kind == AIRBAG
                flags["accident"] |= section == "structure" or (kind == PAINT and result == "major")
                slug = re.sub(r"[^a-z0-9-]", "-", code.lower())
                items.append({"code": slug, "result": result, **({"note": note} if note else {})})
        record = {
            "kind": "inspection",
            "vin": report.get("vin"),
            "occurred_at": report.get("inspected_at"),
            "provider": report.get("firm"),
            "inspector": report.get("inspector"),
            "grade": report["grade"],
            "items": items,
            "flags": flags,
        }
        if report.get("mileage_km") is not None:
            record["odometer_km"] = report["mileage_km"]
        if report.get("attachments"):
            record["attachments"] = report["attachments"]
        return record


@hookimpl
def register_inspection_providers():
    return [ChecklistInspection()]
