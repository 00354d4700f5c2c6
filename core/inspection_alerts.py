"""What an inspection's checklist tells a buyer: the checks it failed.

An inspector may fail the brakes, find the front frame rail kinked or the airbag module
faulty and still set no damage flag (the flags say what happened to the car: an
accident, a flood; the checklist says what state it is in). Each inspection whose
checklist holds an item with a ``major`` defect or a ``fail`` raises one
``inspection_failed`` alert naming those items: high when one of them is a safety item
(structure, frame, airbag, brakes, steering, suspension, tyres, seat belts…), medium
otherwise. ``minor`` and ``not_checked`` items raise none (the timeline lists them).

History is history: a later inspection that passes the same items (``ok``) does not take
the alert back; it stays as bad, and says which later inspection passed which items. A
correction that takes a failed item back raises ``finding_withdrawn`` instead
(``core.correction_alerts``). docs/analytics.md lists the alerts.
"""

from __future__ import annotations

import re
from typing import Any

from core.alerts import alert
from core.errors import InvalidRecord
from core.fields import parse_time

FAILED = ("major", "fail")  # the checklist results that raise an alert, milder first

# A checklist code names a safety item when, lowercased with its separators removed, it
# holds one of these ("frame-front", "rear_brakes", "srs-airbag-module", "seat-belt-rl")…
_SAFETY_WORDS = (
    "structur",
    "frame",
    "chassis",
    "unibody",
    "monocoque",
    "pillar",
    "crumple",
    "airbag",
    "brake",
    "braking",
    "steer",
    "suspension",
    "tyre",
    "tire",
    "seatbelt",
    "pretension",
    "restraint",
    "axle",
    "fuelleak",
)
# …or one of its parts (between separators) is one of these short words.
_SAFETY_PARTS = frozenset({"abs", "esc", "srs", "rail", "rails", "sill", "sills"})


def is_safety_item(code: str) -> bool:
    """Whether a checklist code names a safety item (structure, frame, airbag, brakes,
    steering, suspension, tyres, restraints), whose failure is a high alert."""
    lowered = code.casefold()
    plain = re.sub(r"[\W_]+", "", lowered)
    if any(word in plain for word in _SAFETY_WORDS):
        return True
    return any(part in _SAFETY_PARTS for part in re.split(r"[\W_]+", lowered))


def _checklist(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """(code, result) of each well-formed checklist item of an inspection record (an
    older log's record may hold another shape: such an item is left out)."""
    items = rec.get("items")
    if not isinstance(items, list):
        return []
    return [
        (i["code"], i["result"])
        for i in items
        if isinstance(i, dict)
        and isinstance(i.get("code"), str)
        and isinstance(i.get("result"), str)
    ]


def failed_items(rec: dict[str, Any]) -> list[dict[str, str]]:
    """The items of an inspection record with a major defect or a fail, each code once
    with its worst result, in checklist order."""
    worst: dict[str, str] = {}
    for code, result in _checklist(rec):
        if result in FAILED and FAILED.index(result) >= FAILED.index(worst.get(code, "major")):
            worst[code] = result
    return [{"code": code, "result": result} for code, result in worst.items()]


def _order(item: dict[str, Any]) -> tuple[Any, int]:
    """Where an inspection falls in event order (time, then log index); one whose time
    does not parse (an older log's) is placed by its log index alone, first."""
    try:
        return (0, parse_time(item["record"]["occurred_at"])), item["index"]
    except (InvalidRecord, KeyError, TypeError):
        return (-1, None), item["index"]


def inspection_failed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An ``inspection_failed`` alert for each inspection among the history ``items``
    (corrections applied) whose checklist holds a major defect or a fail; its facts are
    the ``items`` ({code, result}), the ``safety`` codes among them and ``passed_later``:
    the items a later inspection (by event time, ties in log order) found ``ok``, each
    with that inspection's entry."""
    inspections = [i for i in items if i["kind"] == "inspection" and isinstance(i["record"], dict)]
    try:
        inspections.sort(key=_order)
    except TypeError:  # times of an older log that do not parse next to ones that do
        inspections.sort(key=lambda i: i["index"])
    alerts = []
    for at, item in enumerate(inspections):
        failed = failed_items(item["record"])
        if not failed:
            continue
        idx = item["index"]
        codes = {f["code"] for f in failed}
        passed: dict[str, int] = {}
        for later in inspections[at + 1 :]:
            for code, result in _checklist(later["record"]):
                if code in codes and result == "ok":
                    passed[code] = later["index"]  # the latest that passed it
        safety = [f["code"] for f in failed if is_safety_item(f["code"])]
        message = f"inspection entry {idx} failed " + ", ".join(
            f"{f['code']} ({f['result']})" for f in failed
        )
        if passed:
            message += "; a later inspection passed " + ", ".join(
                f"{code} (entry {entry})" for code, entry in passed.items()
            )
        alerts.append(
            alert(
                "inspection_failed",
                "high" if safety else "medium",
                message,
                [idx],
                items=failed,
                safety=safety,
                passed_later=[{"code": c, "entry": e} for c, e in passed.items()],
            )
        )
    return alerts
