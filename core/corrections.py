"""What a correction may say, checked once the entry it corrects is known.

The sequencer checks a correction with ``check_correction`` before appending it, and
the history view before applying one, so the two never disagree about what a
correction means.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any, get_args

import msgspec

from core.alerts import alert
from core.errors import InvalidRecord, InvalidVIN
from core.fields import FieldError, check_utc, parse_time
from core.odometer import NOT_READINGS
from core.record_text import AT_PATH, explain
from core.records import VEHICLE_KINDS, Record, field_error_path, parse_record
from core.roles import article

_encoder = msgspec.json.Encoder()
# The sequencer checks a correction with this before appending it, and the history view
# before applying one, so the two never disagree about what a correction means.

_KIND_FIELDS = {
    cls.__struct_config__.tag: {f.name: f.type for f in msgspec.structs.fields(cls)}
    for cls in get_args(Record)
}
# What the ledger checks against other entries when it appends an entry (whose sale,
# which claim, which dealer). It does not check them again for a correction, so a
# correction may not move them.
_REFERENCES = {
    "sale": frozenset({"dealer"}),
    "dispute": frozenset({"disputes", "status"}),  # resolved by a new dispute record
    "complaint": frozenset({"dealer", "sale"}),
}
# What was worked out from a sale when it was logged: the terms its policies state,
# the commissions its referral code earns, the days and km its claims are judged by.
# Changing them afterwards would show the buyer one sale and decide claims and pay
# commissions on another.
_SALE_TERMS = frozenset({"policies", "referral_code", "price", "occurred_at", "odometer_km"})
# Claims and the ledger's decisions are decided once, from the facts of that moment.
_DECIDED = {
    "return_request": "a claim is decided when it is logged; file a new one if it was wrong",
    "warranty_claim": "a claim is decided when it is logged; file a new one if it was wrong",
    "claim_decision": "it is the ledger's own decision, made by the policy from the facts",
}


def check_correction(fields: dict[str, Any], corrected: dict[str, Any]) -> None:
    """Raises InvalidRecord unless a correction's ``fields`` may apply to ``corrected``,
    the corrected entry's record as JSON (as signed, or as earlier corrections left it:
    since values replace whole, the answer is the same).

    A correction replaces each field it names, whole: a nested object (an inspection's
    ``flags``, a ``price`` or ``cost``) is given complete, as the record itself would
    carry it, never merged with the old one. So each name must be a field of the
    corrected kind (not ``kind``, ``vin`` or a reference the ledger checked on append),
    and each value what that kind's schema allows there: type, bounds, patterns, and
    UTC for ``occurred_at``. A valid record therefore stays valid once corrected, and
    that is checked too. Correcting a correction is refused: correct the entry it
    corrects again instead (later corrections win, field by field). ``field`` is the
    path in the correction at fault, e.g. ``$.fields.odometer_km``.
    """
    kind = corrected.get("kind")
    check_correction_fields(fields, kind)
    # Belt and braces for a rule across fields, should a kind ever get one. A record
    # that does not parse (one an older schema accepted) is checked field by field only.
    try:
        parse_record(_encoder.encode(corrected))
    except (InvalidRecord, InvalidVIN):
        return
    try:
        parse_record(_encoder.encode({**corrected, **fields}))
    except InvalidRecord as err:
        raise InvalidRecord(
            f"the corrected {kind} would not be a valid record: {err}", field="$.fields"
        ) from err


def check_correction_fields(fields: dict[str, Any], kind: Any) -> None:
    """What ``check_correction`` checks of ``fields`` knowing only the corrected entry's
    kind: every rule but the whole corrected record's validity. The checkers read this
    from the log (they keep each entry's kind, not its record)."""
    if kind == "correction":
        raise InvalidRecord(
            "a correction cannot be corrected: submit another correction of the entry it "
            "corrects (the later one wins, field by field)",
            field="$.corrects",
        )
    if kind not in VEHICLE_KINDS:
        raise InvalidRecord(
            f"an entry of kind {kind!r} cannot be corrected; only vehicle records can",
            field="$.corrects",
        )
    if kind in _DECIDED:
        raise InvalidRecord(
            f"{article(kind).capitalize()} {kind} cannot be corrected: {_DECIDED[kind]}",
            field="$.corrects",
        )
    a_kind = f"{article(kind)} {kind}"
    types = _KIND_FIELDS[kind]
    fixed = {"kind", "vin"} | _REFERENCES.get(kind, frozenset())
    for name in sorted(fields):
        where = f"$.fields.{name}"
        if name in fixed:
            raise InvalidRecord(
                f"a correction may not change `{name}` of {a_kind}: the ledger checked it "
                "when it appended the entry; submit a new record instead",
                field=where,
            )
        if kind == "sale" and name in _SALE_TERMS:
            raise InvalidRecord(
                f"a correction may not change `{name}` of a sale: its terms, the days and "
                "km its claims are judged by and its commissions were worked out from it "
                "when it was logged. If the sale was recorded wrongly, the operator files a "
                "dispute of it and the dealer records the sale again",
                field=where,
            )
        if name not in types:
            raise InvalidRecord(
                f"{a_kind} has no field `{name}`; check its spelling (a correction of "
                f"{a_kind} may change: {', '.join(sorted(set(types) - fixed))})",
                field=where,
            )
        try:
            value = msgspec.convert(fields[name], types[name])
            if name == "occurred_at":
                check_utc(value)
        except msgspec.ValidationError as err:
            path = field_error_path(err)
            shown = f"{name}{path[1:]}"
            said = explain(str(err), path, types[name], fields[name], shown)
            said = said or f"`{shown}`: {AT_PATH.sub('', str(err))}"
            raise InvalidRecord(
                f"correction of {a_kind}: {said}; give `{name}` whole, as {a_kind} record "
                "itself carries it",
                field=f"{where}{path[1:]}",
            ) from err
        except FieldError as err:
            raise InvalidRecord(f"correction of {a_kind}: {err}", field=where) from err


def check_correction_time(
    at: datetime,
    fields: dict[str, Any],
    corrected: dict[str, Any],
    earlier: list[tuple[int, dict[str, Any]]],
) -> None:
    """Raises InvalidRecord unless a correction dated ``at`` is dated no earlier than
    the entry it corrects (``corrected``, its record as signed, and the time the
    correction gives it), nor than ``earlier``, the (index, record) of the corrections
    of that entry already logged. Corrections apply in log order, so this keeps that
    order the order of their dates: the one a timeline shows last is the one in force,
    and none can claim to predate what it corrects. Checked when a correction is
    submitted only: entries already logged keep verifying. A time an older log holds
    that does not parse is not compared."""
    said = [("the entry it corrects", corrected.get("occurred_at"))]
    said.append(("the date it gives that entry", fields.get("occurred_at")))
    said += [
        (f"entry {i}, an earlier correction of it", fix.get("occurred_at")) for i, fix in earlier
    ]
    for what, when in said:
        try:
            then = parse_time(when) if isinstance(when, str) else None
        except InvalidRecord:
            continue
        if then is not None and at < then:
            raise InvalidRecord(
                f"the correction is dated {at.isoformat().replace('+00:00', 'Z')}, before "
                f"{what} ({when}): a correction is made after what it corrects. Date it "
                "when it was made (now, in UTC)",
                field="$.occurred_at",
            )


# ---- applying them to a history ----------------------------------------------------


def apply_corrections(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items with each correction applied to the entry it corrects.

    A corrected item's ``record`` holds the corrected values; ``original`` the record
    as first signed, and ``corrections`` who changed what and why. Later corrections
    win over earlier ones, field by field. A correction that ``check_correction``
    refuses changes nothing and gets ``not_applied``, the reason. Open disputes go
    into ``disputes``.
    """
    out = [copy.deepcopy(item) for item in items]
    by_index = {item["index"]: item for item in out}
    for item in out:
        rec = item["record"]
        if item["kind"] == "correction" and rec["corrects"] in by_index:
            target = by_index[rec["corrects"]]
            try:
                check_correction(rec["fields"], target["record"])
            except InvalidRecord as err:
                item["not_applied"] = str(err)
                continue
            target.setdefault("original", copy.deepcopy(target["record"]))
            target["record"].update(rec["fields"])
            target.setdefault("corrections", []).append(
                {
                    "index": item["index"],
                    "by": item["signer"]["id"],
                    "reason": rec["reason"],
                    "fields": sorted(rec["fields"]),
                }
            )
    for item in out:  # after every correction: a dispute's reason may have been corrected
        rec = item["record"]
        if item["kind"] == "dispute" and rec["disputes"] in by_index:
            disputes = by_index[rec["disputes"]].setdefault("disputes", [])
            if rec.get("status", "open") == "resolved":
                disputes.clear()
            else:
                disputes.append({"index": item["index"], "reason": rec["reason"]})
    return out


def _km_text(km: object) -> str:
    """A reading as the alert says it; a value an older log holds that is no number
    (a string, say) is shown as it is rather than failing the whole view."""
    ok = isinstance(km, int) and not isinstance(km, bool)
    return f"{km:,} km" if ok else repr(km)


def correction_alerts(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A correction that could not be applied; and what a correction did that a buyer
    should see, not only its effect: a reading changed, removed or moved in time (a
    rollback it no longer shows), a damage finding, claim or brand withdrawn or softened
    (a flood it no longer shows)."""
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
    for item in items:
        if "original" not in item:
            continue
        alerts += _reading_alerts(item)
        alerts += withdrawn_alerts(item, by_index)
    return alerts


def _by(item: dict[str, Any], names: set[str]) -> list[int]:
    """The corrections of ``item`` that named any of ``names``, in log order."""
    return [c["index"] for c in item["corrections"] if names & set(c["fields"])]


def _reading_alerts(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A reading a correction changed, removed or gave, and a reading it moved in time
    (its km unchanged, the reading can now sit on the other side of a higher one)."""
    if item["kind"] in NOT_READINGS:
        return []
    idx, was, now = item["index"], item["original"], item["record"]
    found = []
    was_km, now_km = was.get("odometer_km"), now.get("odometer_km")
    if was_km != now_km:
        if was_km is None:
            said = f"entry {idx} was given an odometer reading of {_km_text(now_km)} later"
        elif now_km is None:
            said = f"the odometer reading of entry {idx} ({_km_text(was_km)}) was removed"
        else:
            said = (
                f"the odometer reading of entry {idx} was corrected from {_km_text(was_km)} "
                f"to {_km_text(now_km)}"
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
    if km is not None and _moved(was.get("occurred_at"), now.get("occurred_at")):
        found.append(
            alert(
                "odometer_redated",
                "medium",
                f"the date of entry {idx}'s odometer reading ({_km_text(km)}) was corrected "
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


# ---- findings a correction withdrew ----------------------------------------------------

# What a signer reported about damage, by kind: a correction that takes one back (or makes
# it milder) raises ``finding_withdrawn``, as ``odometer_corrected`` does for a reading.
DAMAGE_FLAGS = ("accident", "flood", "fire", "structural", "airbag")  # an inspection's
_CLAIM_FLAGS = ("total_loss", "structural", "airbag_deployed")
_SEVERITIES = ("minor", "moderate", "severe")  # mildest first
_RESULTS = {"ok": 0, "not_checked": 0, "minor": 1, "major": 2, "fail": 3}
_LETTER_GRADE = re.compile(r"([A-Fa-f])([+-]?)")
# Withdrawn findings that make the alert high, as the damage alerts they stood for were.
_HIGH = frozenset(
    {"flags.flood", "flags.fire", "flags.structural", "total_loss", "structural"}
    | {"airbag_deployed", "brand"}
)


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
        return {
            **found,
            "cause": rec.get("cause", "collision"),
            "severity": rec.get("severity", "minor"),
        }
    if kind == "title_brand":
        return {"brand": rec.get("brand")}
    return {}


def withdrawn_alerts(item: dict[str, Any], by_index: dict[int, dict]) -> list[dict[str, Any]]:
    """A ``finding_withdrawn`` alert for a corrected inspection, insurance claim or title
    brand when what the correction leaves reports less than the record did at any point
    (as signed, or as an earlier correction had it): a damage flag turned false, a grade
    raised, a failed item turned ok or dropped, a claim's cause changed (from any but
    ``other``), its severity lowered, a total loss, structural damage or airbag taken
    back, a brand changed. Each is named with the worst value on record and the one now
    in force; the alert names the corrections that changed them and their signers."""
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
    if not withdrawn:
        return []
    idx = item["index"]
    fixes = _by(item, {f["field"].split(".")[0] for f in withdrawn})
    signers = list(dict.fromkeys(by_index[i]["signer"]["id"] for i in fixes))
    high = any(f["field"] in _HIGH for f in withdrawn) or any(
        f["field"] == "cause" and f["from"] in ("flood", "fire") for f in withdrawn
    )
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
    now = "not listed" if now is None else now
    if field.startswith("items."):
        return f"{field.removeprefix('items.')}: {was} (now {now})"
    return f"{field} {was} (now {now})"
