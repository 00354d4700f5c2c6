"""A multi-point checklist report, as Chinese and European inspection firms publish them.

Payload type ``application/vnd.checklist.inspection-report+json``::

    {"report_no": "HC-2026-000123", "firm": "华诚检测", "inspector": "INS-0042",
     "vin": "LFV…", "inspected_at": "2026-05-04T09:30:00Z", "mileage_km": 48210,
     "grade": "B+",
     "sections": {"body": [{"code": "body.front-bumper", "value": 118}, …],
                  "structure": […], "flood": […], "fire": […], "engine": […],
                  "transmission": […], "electrics": […], "interior": […], "chassis": […]},
     "attachments": [… as in vinledger's inspection record …]}

Every field but ``attachments`` is required, and unknown fields are refused.
``inspected_at`` is RFC 3339 in UTC; ``mileage_km`` an integer 0–3,000,000; ``grade``
the firm's own: A+, A, B+, B, C, D or E.

178 items in nine sections (``CATALOGUE``); ``body``, ``structure``, ``flood``,
``fire``, ``engine`` and ``transmission`` are mandatory, the others optional, and an
item may be left out of its section. Values by section: paint thickness in µm per
body panel (an integer 0–2000); structure members ``ok``, ``repaired``, ``replaced``
or ``deformed``; flood and fire indicators ``true`` when found; mechanical and
electrical items ``ok``, ``minor``, ``major``, ``fail`` or ``not_checked``; the
interior's airbags ``intact``, ``deployed`` or ``missing``. An unknown item, an item
in the wrong section, a duplicate or an impossible value is refused naming the item.

How it maps onto vinledger's inspection record:

- provider, inspector, grade, vin, occurred_at, odometer_km, attachments: the
  report's firm, inspector, grade, vin, inspected_at, mileage_km and attachments.
  ``report_no`` has no place in the record; the signed report keeps it.
- items: one for each item that is not fine, its code made a slug
  (``body.front-bumper`` → ``body-front-bumper``), in the report's order:

  ========================  ==========================  ==========================
  section / value           result                      note
  ========================  ==========================  ==========================
  paint ≤ 160 µm            (left out: factory paint)
  paint 161–500 µm          minor                       "repainted, N µm"
  paint > 500 µm            major                       "filler, N µm"
  structure repaired        major                       "repaired"
  replaced, deformed        fail                        "replaced", "deformed"
  flood, fire: found        fail                        "indicator found"
  airbag deployed, missing  fail                        "deployed", "missing"
  everything else           the value itself            none
  ========================  ==========================  ==========================

  As each catalogue item appears at most once, a record holds at most 178 items,
  within the record's 500, and every note is short: no summary item is needed.
- flags: structural if any structure member is not ``ok``; flood and fire if any of
  their indicators is found; airbag if any airbag is deployed or missing; accident
  if structural, or any panel above 500 µm (filler means body repair).
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from core.errors import InvalidRecord
from core.records import Attachment
from core.vin import validate_vin
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

# What kind of value an item holds.
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
# The interior's airbags themselves; electrics.airbag-module is the control unit, a STATE.
CATALOGUE: dict[str, tuple[str, str]] = {  # code -> (section, kind of value)
    f"{section}.{name}": (
        section,
        AIRBAG if section == "interior" and name.startswith("airbag-") else kind,
    )
    for section, (names, kind) in SECTIONS.items()
    for name in names.split()
}
GRADES = ("A+", "A", "B+", "B", "C", "D", "E")
MAX_PAINT_UM = 2000
REPAINTED_UM, FILLER_UM = 160, 500  # above factory paint; above any paint job: filler
MAX_KM = 3_000_000

_ENUMS = {  # value -> vinledger result
    MEMBER: {"ok": "ok", "repaired": "major", "replaced": "fail", "deformed": "fail"},
    STATE: {v: v for v in ("ok", "minor", "major", "fail", "not_checked")},
    AIRBAG: {"intact": "ok", "deployed": "fail", "missing": "fail"},
}
_TEXT_FIELDS = {"report_no": 64, "firm": 200, "inspector": 200, "vin": 64}  # max lengths
_FIELDS = {*_TEXT_FIELDS, "inspected_at", "mileage_km", "grade", "sections", "attachments"}
_Attachments = Annotated[list[Attachment], Meta(max_length=50)]
_AT_PATH = re.compile(r" - at `\$([^`]*)`$")


def _refuse(message: str, field: str) -> InvalidRecord:
    return InvalidRecord(f"checklist report: {message}", field=field)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # The firm signs bytes; with a key twice, other JSON readers may see the other value.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _refuse(f"{key!r} appears twice in one object; write it once", "$")
        out[key] = value
    return out


def _check_header(report: dict[str, Any]) -> None:
    unknown = sorted(set(report) - _FIELDS)
    if unknown:
        raise _refuse(f"unknown field {unknown[0]!r}; remove it", f"$.{unknown[0]}")
    for name, limit in _TEXT_FIELDS.items():
        value = report.get(name)
        if not isinstance(value, str) or not 1 <= len(value) <= limit:
            raise _refuse(f"{name} is required: a string of 1 to {limit} characters", f"$.{name}")
    validate_vin(report["vin"])
    try:
        at = msgspec.convert(report.get("inspected_at"), datetime)
    except msgspec.ValidationError:
        at = None
    if at is None or at.utcoffset() is None or at.utcoffset():
        raise _refuse(
            "inspected_at is required: an RFC 3339 time in UTC, e.g. 2026-05-04T09:30:00Z",
            "$.inspected_at",
        )
    km = report.get("mileage_km")
    if isinstance(km, bool) or not isinstance(km, int) or not 0 <= km <= MAX_KM:
        raise _refuse(f"mileage_km is required: an integer 0–{MAX_KM:,}", "$.mileage_km")
    if not isinstance(report.get("grade"), str) or report["grade"] not in GRADES:
        raise _refuse(f"grade must be one of {', '.join(GRADES)}", "$.grade")
    try:
        msgspec.convert(report.get("attachments", []), _Attachments)
    except msgspec.ValidationError as err:
        at_path = _AT_PATH.search(str(err))
        raise _refuse(
            f"attachments: {_AT_PATH.sub('', str(err))}",
            "$.attachments" + (at_path.group(1) if at_path else ""),
        ) from None


def _result(code: str, kind: str, value: Any, where: str) -> tuple[str, str | None]:
    """(vinledger result, note) of one item; refuses an impossible value by name."""
    if kind == PAINT:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PAINT_UM:
            raise _refuse(
                f"item {code}: paint thickness must be an integer 0–{MAX_PAINT_UM} µm, "
                f"not {value!r}",
                where,
            )
        if value > FILLER_UM:
            return "major", f"filler, {value} µm"
        return ("minor", f"repainted, {value} µm") if value > REPAINTED_UM else ("ok", None)
    if kind == FOUND:
        if not isinstance(value, bool):
            raise _refuse(f"item {code}: write true (found) or false, not {value!r}", where)
        return ("fail", "indicator found") if value else ("ok", None)
    allowed = _ENUMS[kind]
    if not isinstance(value, str) or value not in allowed:
        raise _refuse(f"item {code}: {value!r} is not one of {', '.join(allowed)}", where)
    result = allowed[value]
    # A member's or airbag's own word says more than the result; a state's is the result.
    return result, (value if kind != STATE and result != "ok" else None)


def _findings(sections: Any) -> tuple[list[dict[str, str]], dict[str, bool]]:
    """The record's items and flags from the report's sections, checked item by item."""
    if not isinstance(sections, dict):
        raise _refuse("sections must be an object of section name to items", "$.sections")
    for name in MANDATORY:
        if name not in sections:
            raise _refuse(f"mandatory section {name!r} is missing", f"$.sections.{name}")
    items: list[dict[str, str]] = []
    flags = dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False)
    seen: set[str] = set()
    for section, entries in sections.items():
        if section not in SECTIONS:
            known = ", ".join(SECTIONS)
            raise _refuse(
                f"unknown section {section!r}; the sections are {known}", f"$.sections.{section}"
            )
        if not isinstance(entries, list):
            raise _refuse(f"section {section!r} must be a list", f"$.sections.{section}")
        for n, item in enumerate(entries):
            where = f"$.sections.{section}[{n}]"
            if not isinstance(item, dict) or set(item) != {"code", "value"}:
                raise _refuse(f'{section}[{n}] must be {{"code": …, "value": …}}', where)
            code = item["code"]
            if not isinstance(code, str) or code not in CATALOGUE:
                raise _refuse(f"unknown item code {code!r} in {section}[{n}]", f"{where}.code")
            home, kind = CATALOGUE[code]
            if home != section:
                raise _refuse(f"item {code} belongs in section {home!r}", f"{where}.code")
            if code in seen:
                raise _refuse(f"item {code} appears twice", f"{where}.code")
            seen.add(code)
            result, note = _result(code, kind, item["value"], f"{where}.value")
            if result == "ok":
                continue
            items.append({"code": code.replace(".", "-"), "result": result})
            if note:
                items[-1]["note"] = note
            if result == "not_checked":
                continue
            flags["structural"] |= section == "structure"
            flags["flood"] |= section == "flood"
            flags["fire"] |= section == "fire"
            flags["airbag"] |= kind == AIRBAG
            flags["accident"] |= section == "structure" or (kind == PAINT and result == "major")
    return items, flags


class ChecklistInspection(InspectionProvider):
    id = "checklist"
    version = "1"
    payload_type = "application/vnd.checklist.inspection-report+json"
    description = "Multi-point checklist report (paint per panel, structure, flood, fire, …)"

    def normalise(self, payload: bytes) -> dict[str, Any]:
        try:
            report = json.loads(payload.decode("utf-8"), object_pairs_hook=_object)
        except ValueError as err:  # UnicodeDecodeError is one too
            raise _refuse(f"not UTF-8 JSON: {err}", "$") from None
        if not isinstance(report, dict):
            raise _refuse("a report is one JSON object", "$")
        _check_header(report)
        items, flags = _findings(report.get("sections"))
        record = {
            "kind": "inspection",
            "vin": report["vin"],
            "occurred_at": report["inspected_at"],
            "odometer_km": report["mileage_km"],
            "provider": report["firm"],
            "inspector": report["inspector"],
            "grade": report["grade"],
            "items": items,
            "flags": flags,
        }
        if report.get("attachments"):
            record["attachments"] = report["attachments"]
        return record


@hookimpl
def register_inspection_providers() -> list[InspectionProvider]:
    return [ChecklistInspection()]
