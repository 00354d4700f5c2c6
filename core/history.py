"""What a vehicle's entries mean together: the derived view of a history.

Pure and deterministic: the same entries always give the same view (no clock: the
caller passes ``as_of`` where a date matters), and every conclusion names the
entries (log indexes) behind it so a buyer can check them. Input is the list of
history items the API builds (``index``, ``kind``, ``signer`` {id, name, role},
``record`` as plain JSON values), in chain order.

The stages:

1. corrections and disputes: a ``correction`` (by the original signer or the
   operator; the sequencer enforces that) supersedes fields of the entry it
   corrects, which keeps its original record beside the corrected one; one that
   ``core.corrections.check_correction`` refuses (a log may hold some from before it
   existed) is left out of the view and raised as an alert instead; an open
   ``dispute`` marks an entry's facts as disputed;
2. odometer: every reading from every source in time order, rollbacks beyond a
   stated tolerance (naming both entries and their signers), implausible rates,
   the ``odometer_not_actual`` brand, and the last reading that can be trusted;
3. damage and brands, owners, service intervals and gaps, recalls, sales and
   their returns.

Times are compared as times (``core.records.parse_time``), never as text, and
events are ordered by when they happened; ties keep log order.
"""

from __future__ import annotations

import copy
import itertools
from datetime import date, datetime
from typing import Any

from core.corrections import check_correction
from core.errors import InvalidRecord
from core.records import parse_time

# A reading this much lower than an earlier one is a rollback, not a typo in the
# last digit or a rounding difference between a dashboard and a workshop system.
ROLLBACK_TOLERANCE_KM = 50
# Faster than this between two readings is not driving: one of them is wrong.
MAX_KM_PER_DAY = 2_000
# Longer than this without a service is a gap worth a buyer's question.
SERVICE_GAP_DAYS = 450

_DAMAGE_FLAGS = ("accident", "flood", "fire", "structural", "airbag")
# Kinds whose odometer_km is not a reading of its own (a decision repeats one).
_NOT_READINGS = frozenset({"correction", "claim_decision", "dispute", "complaint"})


def _when(item: dict[str, Any]) -> tuple[datetime, int]:
    """Where an item falls in event order: its time, then its log index."""
    return parse_time(item["record"]["occurred_at"]), item["index"]


def _day(text: str) -> date:
    return parse_time(text).date()


def _alert(kind: str, level: str, message: str, entries: list[int], **facts) -> dict:
    return {
        "type": kind,
        "severity": level,
        "message": message,
        "entries": entries,
        "facts": facts,
    }


# ---- 1. corrections and disputes --------------------------------------------------


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
        elif item["kind"] == "dispute" and rec["disputes"] in by_index:
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
    """A correction that could not be applied; and every odometer reading a correction
    changed or removed: a buyer should see that, not only its effect (a rollback that
    a corrected reading no longer shows)."""
    alerts = [
        _alert(
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
    for item in items:
        was = item.get("original", {}).get("odometer_km")
        now = item["record"].get("odometer_km")
        if "original" not in item or item["kind"] in _NOT_READINGS or was == now:
            continue
        by = [c["index"] for c in item["corrections"] if "odometer_km" in c["fields"]]
        to = "removed" if now is None else f"to {_km_text(now)}"
        said = (
            f"the odometer reading of entry {item['index']} was corrected from {_km_text(was)} {to}"
            if was is not None
            else f"entry {item['index']} was given an odometer reading of {_km_text(now)} later"
        )
        alerts.append(
            _alert(
                "odometer_corrected",
                "medium",
                said,
                [item["index"], *by],
                corrects=item["index"],
                from_km=was,
                to_km=now,
            )
        )
    return alerts


# ---- 2. odometer -------------------------------------------------------------------


def odometer_readings(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    readings = []
    for item in items:
        km = item["record"].get("odometer_km")
        if km is None or item["kind"] in _NOT_READINGS:
            continue
        readings.append(
            {
                "index": item["index"],
                "occurred_at": item["record"]["occurred_at"],
                "km": km,
                "kind": item["kind"],
                "signer": item["signer"]["id"],
                "corrected": bool(item.get("corrections")),
                "disputed": bool(item.get("disputes")),
            }
        )
    # Time order of the events, not of logging; ties keep log order.
    readings.sort(key=lambda r: (parse_time(r["occurred_at"]), r["index"]))
    return readings


def rollback_alerts(readings: list[dict[str, Any]], tolerance_km: int = ROLLBACK_TOLERANCE_KM):
    alerts = []
    highest: dict[str, Any] | None = None
    for r in readings:
        if highest is not None and r["km"] < highest["km"] - tolerance_km:
            alerts.append(
                _alert(
                    "odometer_rollback",
                    "high",
                    f"odometer went back from {highest['km']} km (entry {highest['index']}, "
                    f"{highest['signer']}) to {r['km']} km (entry {r['index']}, {r['signer']})",
                    [highest["index"], r["index"]],
                    from_km=highest["km"],
                    to_km=r["km"],
                )
            )
            # The lowered reading is the new baseline: readings that go on from it are
            # not each a new rollback, but a later drop below it is.
            highest = r
        elif highest is None or r["km"] > highest["km"]:
            highest = r
    return alerts


def rate_alerts(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    alerts = []
    for a, b in itertools.pairwise(readings):
        days = (_day(b["occurred_at"]) - _day(a["occurred_at"])).days
        driven = b["km"] - a["km"]
        if driven > MAX_KM_PER_DAY * max(days, 1):
            alerts.append(
                _alert(
                    "implausible_rate",
                    "medium",
                    f"{driven} km in {days} days between entry {a['index']} ({a['signer']}) "
                    f"and entry {b['index']} ({b['signer']}): more than {MAX_KM_PER_DAY} km a day",
                    [a["index"], b["index"]],
                    km=driven,
                    days=days,
                )
            )
    return alerts


def last_trusted(readings, rollbacks, not_actual_since: datetime | None) -> dict[str, Any] | None:
    """The last reading before anything made the odometer untrustworthy."""
    lowered = {a["entries"][1] for a in rollbacks}
    cuts = [parse_time(r["occurred_at"]) for r in readings if r["index"] in lowered]
    if not_actual_since is not None:
        cuts.append(not_actual_since)
    cut = min(cuts, default=None)
    trusted = [
        r
        for r in readings
        if (cut is None or parse_time(r["occurred_at"]) < cut) and not r["disputed"]
    ]
    return trusted[-1] if trusted else None


# ---- 3. damage, brands, owners, service, recalls --------------------------------------------


def _damage(items: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    alerts, brands = [], []
    for item in items:
        rec, idx, kind = item["record"], item["index"], item["kind"]
        if kind == "title_brand":
            brands.append({"brand": rec["brand"], "index": idx, "since": rec["occurred_at"]})
            alerts.append(
                _alert(
                    f"title_brand_{rec['brand']}",
                    "high",
                    f"title branded {rec['brand'].replace('_', ' ')} "
                    f"({rec.get('jurisdiction', '')}), entry {idx}",
                    [idx],
                    brand=rec["brand"],
                )
            )
        elif kind == "inspection":
            for flag in (f for f in _DAMAGE_FLAGS if rec.get("flags", {}).get(f)):
                severity = "high" if flag in ("flood", "fire", "structural") else "medium"
                alerts.append(
                    _alert(
                        f"{flag}_damage",
                        severity,
                        f"inspection reported {flag} damage, entry {idx}",
                        [idx],
                        flag=flag,
                    )
                )
        elif kind == "insurance_claim":
            if rec.get("cause", "collision") == "collision":
                severity = rec.get("severity", "minor")
                alerts.append(
                    _alert(
                        "accident",
                        "high" if severity == "severe" else "medium",
                        f"{severity} collision reported by an insurer, entry {idx}",
                        [idx],
                        severity=severity,
                    )
                )
            if rec.get("cause") in ("flood", "fire"):
                alerts.append(
                    _alert(
                        f"{rec['cause']}_damage",
                        "high",
                        f"insurance claim for {rec['cause']} damage, entry {idx}",
                        [idx],
                        flag=rec["cause"],
                    )
                )
            if rec.get("structural"):
                alerts.append(
                    _alert(
                        "structural_damage",
                        "high",
                        f"insurer reported structural damage, entry {idx}",
                        [idx],
                        flag="structural",
                    )
                )
            if rec.get("total_loss"):
                alerts.append(
                    _alert(
                        "total_loss", "high", f"insurer declared a total loss, entry {idx}", [idx]
                    )
                )
            if rec.get("airbag_deployed"):
                alerts.append(
                    _alert(
                        "airbag_deployed", "high", f"airbag deployed in a claim, entry {idx}", [idx]
                    )
                )
    return alerts, brands


def open_recalls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recall campaigns whose latest entry (by event time) says open; a later
    ``remedied`` closes one."""
    latest: dict[str, dict[str, Any]] = {}
    for item in sorted((i for i in items if i["kind"] == "recall"), key=_when):
        latest[item["record"]["campaign"]] = item
    return [
        _alert(
            "recall_open",
            "medium",
            f"open recall {campaign} ({item['record']['component']}), entry {item['index']}",
            [item["index"]],
            campaign=campaign,
            component=item["record"]["component"],
        )
        for campaign, item in sorted(latest.items())
        if item["record"]["status"] == "open"
    ]


def owners(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Owners counted from transfer commitments: how many, never who."""
    seen: dict[str, int] = {}
    for item in items:
        if item["kind"] == "transfer":
            seen.setdefault(item["record"]["owner_commitment"], item["index"])
    return {"count": len(seen), "entries": sorted(seen.values())}


def service(items: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict]]:
    visits = sorted(
        (*_when(item), item["record"].get("odometer_km"))
        for item in items
        if item["kind"] == "maintenance"
    )
    intervals, alerts = [], []
    for (t0, i0, km0), (t1, i1, km1) in itertools.pairwise(visits):
        days = (t1.date() - t0.date()).days
        km = km1 - km0 if km0 is not None and km1 is not None else None
        intervals.append({"from": i0, "to": i1, "days": days, "km": km})
        if days > SERVICE_GAP_DAYS:
            alerts.append(
                _alert(
                    "service_gap",
                    "low",
                    f"{days} days without a recorded service between entry {i0} and entry {i1}",
                    [i0, i1],
                    days=days,
                )
            )
    return {"visits": [i for _, i, _ in visits], "intervals": intervals}, alerts


def sales(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every sale with the policies attached to it, and ``returned``: the index of the
    approved ``claim_decision`` on a ``return_request`` that undid it, or None. A
    returned sale's guarantees are no longer active."""
    kinds = {item["index"]: item["kind"] for item in items}
    returned: dict[int, int] = {}
    for item in items:
        rec = item["record"]
        if (
            item["kind"] == "claim_decision"
            and rec.get("approved")
            and kinds.get(rec["claim"]) == "return_request"
        ):
            returned.setdefault(rec["sale"], item["index"])
    return [
        {
            "index": item["index"],
            "dealer": item["record"].get("dealer"),
            "policies": [p["id"] for p in item["record"].get("policies", [])],
            "returned": returned.get(item["index"]),
        }
        for item in items
        if item["kind"] == "sale"
    ]


# ---- the view ---------------------------------------------------------------------------


def analyse(items: list[dict[str, Any]], as_of: str | None = None) -> dict[str, Any]:
    """The derived view; ``as_of`` (RFC 3339) keeps only entries that happened by then."""
    if as_of is not None:
        until = parse_time(as_of)
        items = [i for i in items if parse_time(i["record"]["occurred_at"]) <= until]
    items = apply_corrections(items)
    readings = odometer_readings(items)
    rollbacks = rollback_alerts(readings)
    damage, brands = _damage(items)
    serviced, gaps = service(items)
    not_actual = min(
        (parse_time(b["since"]) for b in brands if b["brand"] == "odometer_not_actual"),
        default=None,
    )
    alerts = [
        *rollbacks,
        *rate_alerts(readings),
        *damage,
        *open_recalls(items),
        *gaps,
        *correction_alerts(items),
    ]
    disputed = {i["index"] for i in items if i.get("disputes")}
    for alert in alerts:
        alert["disputed"] = bool(disputed & set(alert["entries"]))
    inspections = sorted((i for i in items if i["kind"] == "inspection"), key=_when)
    trusted = last_trusted(readings, rollbacks, not_actual)
    return {
        "as_of": as_of,
        "alerts": alerts,
        "odometer": {
            "readings": readings,
            "last_km": readings[-1]["km"] if readings else None,
            "last_trusted": trusted,
            "not_actual": not_actual is not None,
            "tolerance_km": ROLLBACK_TOLERANCE_KM,
            "max_km_per_day": MAX_KM_PER_DAY,
        },
        "brands": [{"brand": b["brand"], "index": b["index"]} for b in brands],
        "owners": owners(items),
        "service": serviced,
        "recalls": [
            {
                "index": i["index"],
                "campaign": i["record"]["campaign"],
                "status": i["record"]["status"],
            }
            for i in items
            if i["kind"] == "recall"
        ],
        "corrected": [
            {"index": i["index"], "original": i["original"], "corrections": i["corrections"]}
            for i in items
            if i.get("corrections")
        ],
        "disputed": [
            {"index": i["index"], "disputes": i["disputes"]} for i in items if i.get("disputes")
        ],
        "sales": sales(items),
        "latest_inspection": (
            {"index": inspections[-1]["index"], "grade": inspections[-1]["record"].get("grade")}
            if inspections
            else None
        ),
        "entries": len(items),
    }
