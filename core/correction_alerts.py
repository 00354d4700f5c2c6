"""What a correction did that a buyer should see, not only its effect.

The history view reads corrected records (``core.corrections.apply_corrections``): a
rollback a corrected reading no longer shows, a flood a corrected inspection no longer
reports, would simply be gone. ``correction_alerts`` keeps them in the verdict: a
correction the view could not apply, a reading changed, removed or moved past another,
a damage finding, claim or brand withdrawn or softened (``finding_withdrawn``, as bad as
the worst damage alert it took back). docs/analytics.md lists the alerts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from typing import Any

from core.alerts import alert
from core.errors import InvalidRecord
from core.fields import parse_time
from core.inspection_alerts import is_safety_item
from core.odometer import NOT_READINGS, km_text, odometer_readings, rate_alerts, rollback_alerts
from core.registrations import as_signed, stays_twice

# The damage alerts a record raises, as {(type, severity)}, given its kind and record:
# ``core.history``'s own, so a withdrawal is judged by what the view said of each state.
Raised = Callable[[str, dict[str, Any]], set[tuple[str, str]]]


def correction_alerts(
    items: list[dict[str, Any]], readings: list[dict[str, Any]], raised: Raised
) -> list[dict[str, Any]]:
    """A correction that could not be applied; and what a correction did that a buyer
    should see, not only its effect: a reading changed, removed or moved past another
    (a rollback it no longer shows), a damage finding, claim or brand withdrawn or
    softened (a flood it no longer shows). ``items`` are corrected, ``readings`` the
    odometer readings they hold (``core.odometer.odometer_readings``), ``raised`` the
    damage alerts of a record."""
    alerts = [
        alert(
            "correction_not_applied",
            "low",
            f"correction {item['index']} could not be applied: {item['not_applied']}",
            [item["index"]],
            corrects=item["record"]["corrects"],
            reason=item["not_applied"],
        )
        for item in items
        if "not_applied" in item
    ]
    by_index = {item["index"]: item for item in items}
    signed = _signed_readings(items)
    rates = _hidden(rate_alerts, signed, readings, lambda a: tuple(a["entries"]))
    for item in items:
        if "original" not in item:
            continue
        alerts += _reading_alerts(item, readings, by_index, rates)
        alerts += withdrawn_alerts(item, by_index, raised)
    _hid_rollbacks(alerts, _hidden(rollback_alerts, signed, readings, lambda a: a["entries"][1]))
    alerts += _hid_registered_twice(items, by_index)
    return alerts


def _signed_readings(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The odometer readings as signed (each entry's original record); none where a time
    as signed does not parse (an older log's; the correction that put it right is
    alerted on its own); a reading that is no number is left out."""
    try:
        signed = odometer_readings([{**i, "record": i.get("original", i["record"])} for i in items])
    except InvalidRecord:
        return []
    return _numbers(signed)


def _hidden(check: Callable, signed: list[dict], readings: list[dict], key: Callable) -> list[dict]:
    """The alerts ``check`` (``rollback_alerts``, ``rate_alerts``) raises over the readings
    as signed that it no longer raises over the readings in force, as ``key`` tells them
    apart: a rollback by the reading rolled back to (one to entry 41 from another reading
    is the rollback to entry 41 still shown), a rate by its two readings."""
    shown = {key(a) for a in check(_numbers(readings))}
    return [a for a in check(signed) if key(a) not in shown]


def _numbers(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The readings that are numbers (an older log may hold a reading that is not)."""
    return [r for r in readings if isinstance(r["km"], int) and not isinstance(r["km"], bool)]


def _hid_rollbacks(alerts: list[dict[str, Any]], hidden: list[dict[str, Any]]) -> None:
    """Make the ``odometer_corrected`` or ``odometer_redated`` alert of an entry of each
    ``hidden`` rollback as bad as the rollback it hid (high), naming the other reading
    and the rollback's readings: a signer cannot launder a rollback into a medium alert
    by lowering its high reading, raising or removing its low one, or moving either past
    the other."""
    for rollback in hidden:
        pair = rollback["entries"]
        for a in alerts:
            idx = a["facts"].get("corrects")
            if a["type"] not in ("odometer_corrected", "odometer_redated") or idx not in pair:
                continue
            other = pair[1] if idx == pair[0] else pair[0]
            hid = {"from_km": rollback["facts"]["from_km"], "to_km": rollback["facts"]["to_km"]}
            a["severity"] = "high"
            a["entries"] = [*a["entries"], *([other] if other not in a["entries"] else [])]
            a["facts"].setdefault("hid_rollbacks", []).append({**hid, "entries": pair})
            a["message"] += (
                f"; it hid a rollback from {km_text(hid['from_km'])} (entry {pair[0]}) "
                f"to {km_text(hid['to_km'])} (entry {pair[1]})"
            )


# The fields of a registration that place it among the car's registers.
_PLACES = {"country", "event", "occurred_at"}


def _hid_registered_twice(
    items: list[dict[str, Any]], by_index: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    """A high ``finding_withdrawn`` for each ``registered_twice`` the registrations as
    signed raise (``core.registrations``) and the registrations in force do not: a
    correction of a registration's country, event or date that took a car off one of two
    registers hides a cloned VIN as surely as a rollback laundered by a correction. It
    names both entries and the corrections of a registration's country, event or date
    (those of the two entries, else any), and their signers. None where a time as signed
    does not parse (an older log's). An alert is told apart by the pair of stays it is
    about (country and how many stays there came before), not by its entries: a date
    fixed inside a stay withdraws nothing, and the alert in force names the entries as
    signed too (``core.registrations``)."""
    regs = [i for i in items if i["kind"] == "registration"]
    try:
        _, signed = stays_twice(as_signed(regs))
        _, now = stays_twice(items)  # as registrations() does: with corrections' logging times
    except InvalidRecord:
        return []
    found = []
    for stays, gone in signed.items():
        pair = gone["entries"]
        if stays in now:
            continue
        mine = [(i, c) for i in pair for c in _by_index(by_index[i], _PLACES)]
        if not mine:
            mine = [(i["index"], c) for i in regs for c in _by_index(i, _PLACES)]
        if not mine:
            continue
        fixes = sorted({c for _, c in mine})
        signers = list(dict.fromkeys(by_index[c]["signer"]["id"] for c in fixes))
        facts = gone["facts"]
        found.append(
            alert(
                "finding_withdrawn",
                "high",
                f"a correction by {', '.join(signers)} (entry {', '.join(map(str, fixes))}) "
                f"withdrew what registration entries {pair[0]} and {pair[-1]} reported as "
                f"signed: {gone['message']}",
                sorted({*pair, *fixes}),
                corrects=mine[0][0],
                corrections=fixes,
                by=signers,
                withdrawn=[
                    {
                        "field": "registered_twice",
                        "from": True,
                        "to": False,
                        "entries": pair,
                        "country": facts["country"],
                        "on": facts["on"],
                        "still_in": facts["still_in"],
                    }
                ],
            )
        )
    return found


def _by_index(item: dict[str, Any], names: set[str]) -> list[int]:
    """``_by``: the corrections of ``item`` that named any of ``names``; none for an item
    no correction changed."""
    return _by(item, names) if "corrections" in item else []


def _by(item: dict[str, Any], names: set[str]) -> list[int]:
    """The corrections of ``item`` that named any of ``names``, in log order."""
    return [c["index"] for c in item["corrections"] if names & set(c["fields"])]


def _reading_alerts(
    item: dict[str, Any], readings: list[dict], by_index: dict[int, dict], rates: list[dict]
) -> list[dict]:
    """A reading a correction changed, removed or gave, and a reading whose order among
    the vehicle's readings a correction changed (its km unchanged, it can now sit on the
    other side of a higher one) or whose move took back an ``implausible_rate`` (``rates``,
    those the readings as signed raised and the readings in force do not). A reading
    moved where its order stays and no rate changes (a time zone put right, a lone
    reading's day) changes nothing the readings say: the timeline says it."""
    if item["kind"] in NOT_READINGS:
        return []
    idx, was, now = item["index"], item["original"], item["record"]
    found = []
    was_km, now_km = was.get("odometer_km"), now.get("odometer_km")
    if was_km != now_km:
        if was_km is None:
            said = f"entry {idx} was given an odometer reading of {km_text(now_km)} later"
        elif now_km is None:
            said = f"the odometer reading of entry {idx} ({km_text(was_km)}) was removed"
        else:
            said = (
                f"the odometer reading of entry {idx} was corrected from {km_text(was_km)} "
                f"to {km_text(now_km)}"
            )
        found.append(
            alert(
                "odometer_corrected",
                "medium",
                said,
                [idx, *_by(item, {"odometer_km"})],
                corrects=idx,
                from_km=was_km,
                to_km=now_km,
            )
        )
    km = now_km if now_km is not None else was_km
    if (
        km is not None
        and _moved(was.get("occurred_at"), now.get("occurred_at"))
        and (
            any(_reordered(item, by_index[r["index"]]) for r in readings if r["index"] != idx)
            or any(idx in a["entries"] for a in rates)
        )
    ):
        found.append(
            alert(
                "odometer_redated",
                "medium",
                f"the date of entry {idx}'s odometer reading ({km_text(km)}) was corrected "
                f"from {was.get('occurred_at')} to {now.get('occurred_at')}",
                [idx, *_by(item, {"occurred_at"})],
                corrects=idx,
                km=km,
                from_time=was.get("occurred_at"),
                to_time=now.get("occurred_at"),
            )
        )
    return found


def _moved(was: Any, now: Any) -> bool:
    """Whether two times differ as times (not as spellings of one); times an older log
    holds that do not parse compare as text."""
    try:
        return parse_time(was) != parse_time(now)
    except InvalidRecord:
        return was != now


def _reordered(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two readings' order (time, then log index) as signed differs from their
    order now, corrections applied: one moved past the other, or both swapped. A time an
    older log holds that does not parse is taken to have changed it."""

    def order(at_a: Any, at_b: Any) -> bool:
        return (parse_time(at_a), a["index"]) < (parse_time(at_b), b["index"])

    def signed(i: dict[str, Any]) -> Any:
        return i.get("original", i["record"])["occurred_at"]

    try:
        was = order(signed(a), signed(b))
        return was != order(a["record"]["occurred_at"], b["record"]["occurred_at"])
    except InvalidRecord:
        return True


# ---- findings a correction withdrew ----------------------------------------------------

# What a signer reported about damage, by kind: a correction that takes one back (or makes
# it milder) raises ``finding_withdrawn``, as ``odometer_corrected`` does for a reading.
DAMAGE_FLAGS = ("accident", "flood", "fire", "structural", "airbag")  # an inspection's
_CLAIM_FLAGS = ("total_loss", "structural", "airbag_deployed")
_SEVERITIES = ("minor", "moderate", "severe")  # mildest first
_RESULTS = {"ok": 0, "not_checked": 0, "minor": 1, "major": 2, "fail": 3}
_LETTER_GRADE = re.compile(r"([A-Fa-f])([+-]?)")
# How alike two checklist codes must be, ignoring case and punctuation (difflib's ratio:
# "brakse" and "brakes" 0.83, "frame" and "wiper" 0.2), for one to be the other respelled.
_RESPELLED = 0.8


def _grade_rank(grade: Any) -> int | None:
    """A letter grade's place, best first (A+ 0, A 1, A- 2, B+ 3, …); None for a scale
    this does not know, where any change of grade may be a softened one."""
    match = _LETTER_GRADE.fullmatch(grade) if isinstance(grade, str) else None
    if match is None:
        return None
    return (ord(match[1].upper()) - ord("A")) * 3 + {"+": 0, "": 1, "-": 2}[match[2]]


def _worse(field: str, was: Any, now: Any) -> bool:
    """Whether ``was`` reported more than ``now`` does, for a finding of ``field``."""
    if was == now or was is None:  # a grade or an item given later withdraws nothing
        return False
    if field == "grade":
        a, b = _grade_rank(was), _grade_rank(now)
        return a is None or b is None or a > b
    if field == "severity":
        order = {s: i for i, s in enumerate(_SEVERITIES)}
        return order.get(was, len(_SEVERITIES)) > order.get(now, -1)
    if field.startswith("items."):
        return _RESULTS.get(was, 1) > _RESULTS.get(now, 0)
    if field == "cause":  # "other" names no damage of its own
        return was != "other"
    if field == "brand":  # a brand changed is the one on record taken back
        return True
    return bool(was) and not now  # a flag, total loss, structural, airbag


def _findings(kind: str, rec: dict[str, Any]) -> dict[str, Any]:
    """The damage findings a record of ``kind`` states, by field."""
    if kind == "inspection":
        flags = rec.get("flags") if isinstance(rec.get("flags"), dict) else {}
        found = {f"flags.{f}": flags.get(f) is True for f in DAMAGE_FLAGS}
        found["grade"] = rec.get("grade")
        items = rec.get("items") if isinstance(rec.get("items"), list) else []
        for i in items:
            if not isinstance(i, dict) or not isinstance(i.get("code"), str):
                continue
            key = f"items.{i['code']}"
            if found.get(key) is None or _worse(key, i.get("result"), found[key]):
                found[key] = i.get("result")
        return found
    if kind == "insurance_claim":
        found = {f: rec.get(f) is True for f in _CLAIM_FLAGS}
        areas = rec.get("areas") if isinstance(rec.get("areas"), list) else []
        found.update({f"areas.{a}": True for a in areas if isinstance(a, str)})
        return {
            **found,
            "cause": rec.get("cause", "collision"),
            "severity": rec.get("severity", "minor"),
        }
    if kind == "title_brand":
        return {"brand": rec.get("brand")}
    return {}


def withdrawn_alerts(
    item: dict[str, Any], by_index: dict[int, dict], raised: Raised
) -> list[dict[str, Any]]:
    """A ``finding_withdrawn`` alert for a corrected inspection, insurance claim or title
    brand when what the correction leaves reports less than the record did at any point
    (as signed, or as an earlier correction had it): a damage flag turned false, a grade
    raised, a failed item turned ok or dropped, a claim's cause changed (from any but
    ``other``), its severity lowered, a damage area dropped, a total loss, structural
    damage or airbag taken back, a brand changed. Each is named with the worst value on
    record and the one now in force; the alert names the corrections that withdrew them
    (``_withdrew``) and their signers. It
    is high when any state on record raised a high damage alert (``raised``) that the
    record in force no longer raises (a severe collision made minor), medium otherwise.
    A checklist item only respelled (``_respelled``) withdraws nothing."""
    kind = item["kind"]
    states = [item["original"]]
    for c in item["corrections"]:
        states.append({**states[-1], **by_index[c["index"]]["record"]["fields"]})
    on_record = [_findings(kind, s) for s in states]
    now = _findings(kind, item["record"])
    withdrawn = []
    for field in sorted({f for found in on_record for f in found}):
        was = [found[field] for found in on_record if field in found]
        for value in _reported(field, was, now.get(field)):
            withdrawn.append({"field": field, "from": value, "to": now.get(field)})
    withdrawn = _respelled(withdrawn, on_record, now)
    if not withdrawn:
        return []
    idx = item["index"]
    fixes = _withdrew(item, withdrawn, on_record)
    signers = list(dict.fromkeys(by_index[i]["signer"]["id"] for i in fixes))
    gone = set().union(*(raised(kind, s) for s in states)) - raised(kind, item["record"])
    high = any(level == "high" for _, level in gone)
    return [
        alert(
            "finding_withdrawn",
            "high" if high else "medium",
            f"a correction by {', '.join(signers)} (entry {', '.join(map(str, fixes))}) "
            f"withdrew what {kind.replace('_', ' ')} entry {idx} reported: "
            + "; ".join(_withdrawn_text(f) for f in withdrawn),
            [idx, *fixes],
            corrects=idx,
            corrections=fixes,
            by=signers,
            withdrawn=withdrawn,
        )
    ]


def _withdrew(
    item: dict[str, Any], withdrawn: list[dict[str, Any]], on_record: list[dict[str, Any]]
) -> list[int]:
    """The corrections of ``item`` (log order) that withdrew what ``withdrawn`` names:
    for each finding, those that lowered it after the last state on record that still
    reported its worst value (one that lowered it and was undone by a later one withdrew
    nothing that stands). Any correction naming the field where none did (a record an
    older log holds, read another way)."""
    corrections = item["corrections"]
    fixes: set[int] = set()
    for change in withdrawn:
        field = change["field"]
        values = [found.get(field) for found in on_record]
        last = max((k for k, v in enumerate(values) if v == change["from"]), default=0)
        lowered = {
            corrections[k]["index"]
            for k in range(last, len(values) - 1)
            if _worse(field, values[k], values[k + 1])
        }
        fixes |= lowered or set(_by(item, {field.split(".")[0]}))
    return [c["index"] for c in corrections if c["index"] in fixes]


def _respelled(
    withdrawn: list[dict[str, Any]], on_record: list[dict[str, Any]], now: dict[str, Any]
) -> list[dict[str, Any]]:
    """``withdrawn`` less the checklist items a correction only respelled: an item no
    longer listed, paired with an item listed now that no state on record listed with it
    (the two never stood side by side), one nearly the same (``_RESPELLED``, ignoring
    case and punctuation) and as bad or worse ("brakse: minor" to "brakes: minor"). A code
    listed now may stand for several dropped ones that never stood side by side either (a
    code respelled twice). The finding is still on record, so the timeline's Changes line
    says it. A code renamed to another item's ("frame: fail" to "wiper: fail") is not
    paired: the frame's failure was withdrawn; nor is a safety item respelled into a code
    that names none ("frame-front: fail" to "frme-front: fail"): its failure is no longer
    a high alert, so it was withdrawn too (``core.inspection_alerts.is_safety_item``)."""

    def together(a: str, b: str) -> bool:
        return any(a in found and b in found for found in on_record)

    codes = [f for f in now if f.startswith("items.")]
    paired: dict[str, list[str]] = {code: [] for code in codes}
    kept = []
    for change in withdrawn:
        field, was = change["field"], change["from"]
        pair = next(
            (
                code
                for code in codes
                if field.startswith("items.")
                and change["to"] is None
                and not _worse(field, was, now[code])
                and _alike(field, code)
                and _as_safe(field, code)
                and not any(together(field, other) for other in [code, *paired[code]])
            ),
            None,
        )
        if pair is None:
            kept.append(change)
        else:
            paired[pair].append(field)
    return kept


def _as_safe(was: str, now: str) -> bool:
    """Whether the item ``now`` names a safety item where the item ``was`` did."""
    return is_safety_item(now.removeprefix("items.")) or not is_safety_item(
        was.removeprefix("items.")
    )


def _alike(a: str, b: str) -> bool:
    def plain(code: str) -> str:
        return re.sub(r"[\W_]+", "", code.removeprefix("items.").casefold())

    return difflib.SequenceMatcher(None, plain(a), plain(b)).ratio() >= _RESPELLED


def _reported(field: str, values: list[Any], now: Any) -> list[Any]:
    """The values of ``field`` on record that report more than ``now``: the worst for an
    ordered finding, every distinct one for a cause or a brand."""
    more = [v for v in values if _worse(field, v, now)]
    if field in ("cause", "brand"):
        return list(dict.fromkeys(more))
    worst = None
    for v in more:
        if worst is None or _worse(field, v, worst):
            worst = v
    return [] if worst is None else [worst]


def _withdrawn_text(change: dict[str, Any]) -> str:
    field, was, now = change["field"], change["from"], change["to"]
    if field.startswith("flags."):
        return f"{field.removeprefix('flags.')} damage"
    if field in _CLAIM_FLAGS:
        return field.replace("_", " ")
    if field.startswith("areas."):
        return f"damage to the {field.removeprefix('areas.')} area"
    now = "not listed" if now is None else now
    if field.startswith("items."):
        return f"{field.removeprefix('items.')}: {was} (now {now})"
    return f"{field} {was} (now {now})"
