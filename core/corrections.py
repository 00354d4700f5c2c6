"""What a correction may say, checked once the entry it corrects is known.

The sequencer checks a correction with ``check_correction`` before appending it, and
the history view before applying one, so the two never disagree about what a
correction means. What a correction did that a buyer must see (a reading moved, a
finding withdrawn) is ``core.correction_alerts``'s.
"""

from __future__ import annotations

import copy
import re
from datetime import datetime
from typing import Any, get_args

import msgspec

from core.errors import InvalidRecord, InvalidVIN
from core.fields import FieldError, check_utc, parse_time
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
    the corrected entry's record as JSON. The sequencer and the view pass the record as
    the entry's earlier corrections leave it (in force): a rule across fields (a
    registration's ``first_registered`` not after its ``occurred_at``) can refuse there
    what the record as signed would take, or the other way round.

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
        # Named by the field of the correction at fault where it set one (a country no
        # ISO code), else by `fields` (a rule across fields the correction left alone).
        path = (err.field or "$").removeprefix("$.")
        named = re.split(r"[.\[]", path)[0] in fields
        raise InvalidRecord(
            f"the corrected {kind} would not be a valid record: {err}",
            field=f"$.fields.{path}" if named else "$.fields",
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
