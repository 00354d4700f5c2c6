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

# A checklist code (lowercase letters, digits, "-" and "_") names a safety item when one
# of its words (the runs of letters between separators and digits: "rear_brakes" is
# rear, brakes; each also without a plural "s") is a safety word or holds one joined to
# another word ("frontbrakes", "srsairbag", "tyrepressure", "shachepian": a safety word
# of five letters or more at either end of a word, of four at its start; "abs", "esp",
# "srs", "eps"… only as words of their own: "absorbent-mat" is no ABS, "entire" no
# tyre), or it holds both words of a safety pair ("tie-rod", "fuel-tank-leak"). Whole
# words only: "timing-belt" is no seat belt. Pinyin counts as English does (shache,
# luntai, anquandai…).
#
# What is not the safety item it names:
# - a finish on one ("steering-wheel-trim", "airbag-cover-cosmetic", "frame-paint"):
#   a code with a finish word names no safety item;
# - a fitting on or beside the structure ("license-plate-frame", "window-frame",
#   "door-sill-plate", "pillar-trim", "frame-number-plate"): a fitting word in a code
#   takes the structural words (frame, sill, pillar, rail) away, and only those: a
#   brake's, steering's, suspension's or airbag's own seal, cover or plate is the item
#   ("brake-caliper-seal", "steering-column-cover", "brake-backing-plate",
#   "airbag-cover"), and so is the chassis's ("chassis-plate");
# - a roof's rails carry luggage (a roof pillar is still structure);
# - a lid's gas strut ("bonnet-strut", "tailgate-struts", "boot-lid-damper",
#   "hood-shocks"): a lid word before a strut, shock, damper or absorber takes it away
#   ("strut-boot" is the suspension strut's).
_SAFETY_WORDS = frozenset(
    {
        # structure
        "structure", "structural", "frame", "subframe", "chassis", "unibody", "monocoque",
        "pillar", "rail", "sill", "crossmember", "crumple", "jiegou", "chejia", "dipan",
        "zongliang",
        # restraints
        "airbag", "srs", "seatbelt", "pretension", "pretensioner", "restraint", "anquandai",
        "anquanqinang", "qinang",
        # brakes and stability control
        "brake", "braking", "handbrake", "caliper", "abs", "esc", "esp", "ebd", "shache",
        "zhidong",
        # steering
        "steering", "eps", "tierod", "trackrod", "draglink", "kingpin", "zhuanxiang",
        "fangxiangpan",
        # suspension, wheels and tyres
        "suspension", "strut", "shock", "absorber", "damper", "balljoint", "controlarm",
        "wishbone", "rollbar", "swaybar", "axle", "tyre", "tire", "tread", "tpms",
        "wheelbearing", "lugnut", "luntai", "taiya", "xuangua", "xuanjia",
        # a fire risk
        "fuelleak",
    }
)  # fmt: skip
# Safety words found inside a longer word: at either end (five letters or more), at its
# start (four letters); the longest first.
_AT_EITHER_END = sorted((w for w in _SAFETY_WORDS if len(w) >= 5), key=len, reverse=True)
_AT_START = tuple(w for w in _SAFETY_WORDS if len(w) == 4)
_SAFETY_PAIRS = (
    ("seat", "belt"),
    ("tie", "rod"),
    ("track", "rod"),
    ("drag", "link"),
    ("king", "pin"),
    ("roll", "bar"),
    ("sway", "bar"),
    ("disc", "rotor"),
    ("ball", "joint"),
    ("control", "arm"),
    ("wheel", "bearing"),
    ("lug", "nut"),
    ("wheel", "nut"),
    ("crumple", "zone"),
    ("fuel", "leak"),
)
_STRUCTURE = frozenset({"frame", "sill", "pillar", "rail", "chassis"})  # chassis-number-plate
# Words that make a code a finish on a safety item: it names no safety item.
_FINISH = frozenset(
    {
        "trim", "paint", "cosmetic", "badge", "emblem", "decal", "sticker", "moulding",
        "molding", "garnish",
    }
)  # fmt: skip
# Words that make a code a fitting on or beside the structure.
_FITTING = frozenset({"plate", "cover", "seal", "window", "license", "licence", "mat", "scuff"})
_LIDS = frozenset({"bonnet", "hood", "boot", "trunk", "tailgate", "liftgate", "hatch", "lid"})
_LID_PROPS = frozenset({"strut", "shock", "damper", "absorber"})
# A cover of something in the cabin or the boot (a steering wheel's, a seat belt's, the
# handbrake lever's, the spare tyre's) is a trim, not the safety item under it.
_CABIN = frozenset({"wheel", "spare", "seat", "handbrake", "lever", "gear"})
_COVERS = frozenset({"cover", "gaiter", "sleeve"})


def _single(word: str) -> str:
    """A word without its plural "s"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def _split(word: str) -> list[str]:
    """A word, or the two words a safety word joined to another makes ("frontbrakes" is
    front, brake; "tyrepressure" tyre, pressure), each without a plural "s"."""
    if word in _SAFETY_WORDS:  # "chassis" is no plural
        return [word]
    word = _single(word)
    if word in _SAFETY_WORDS:
        return [word]
    for safety in _AT_EITHER_END:
        if word.startswith(safety):
            return [safety, _single(word[len(safety) :])]
        if word.endswith(safety):
            return [word[: -len(safety)], safety]
    for safety in _AT_START:  # "tyrepressure", not "railway"
        if word.startswith(safety) and len(word) - len(safety) >= 4:
            return [safety, _single(word[len(safety) :])]
    return [word]


def _words(code: str) -> list[str]:
    """The words of a checklist code in order, joined ones split (``_split``)."""
    return [part for word in re.findall(r"[a-z]+", code.casefold()) for part in _split(word)]


def is_safety_item(code: str) -> bool:
    """Whether a checklist code names a safety item (structure, frame, airbag, brakes,
    steering, suspension, wheels and tyres, restraints), whose failure is a high alert."""
    words = _words(code)
    present = set(words) | {w for w in re.findall(r"[a-z]+", code.casefold())}
    if present & _FINISH or (present & _COVERS and present & _CABIN):
        return False
    safety = set()
    lid_before = False
    for word in words:
        lid_before = lid_before or word in _LIDS
        if word not in _SAFETY_WORDS:
            continue
        if word in _LID_PROPS and lid_before:
            continue  # a lid's gas strut
        if word == "rail" and "roof" in present:
            continue  # roof rails carry luggage
        if word in _STRUCTURE and present & _FITTING:
            continue  # a fitting on or beside the structure
        safety.add(word)
    return bool(safety) or any(a in present and b in present for a, b in _SAFETY_PAIRS)


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
