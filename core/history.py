"""What a vehicle's entries mean together: the derived view of a history.

Pure and deterministic: the same entries always give the same view (no clock: the
caller passes ``as_of`` where a date matters), and every conclusion names the
entries (log indexes) behind it so a buyer can check them. Input is the list of
history items the API builds (``index``, ``kind``, ``signer`` {id, name, role},
``record`` as plain JSON values), in chain order.

The stages (the first two in their own modules):

1. corrections and disputes (``core.corrections``): a ``correction`` (by the original signer or the
   operator; the sequencer enforces that) supersedes fields of the entry it
   corrects, which keeps its original record beside the corrected one; one that
   ``core.corrections.check_correction`` refuses (a log may hold some from before it
   existed) is left out of the view and raised as an alert instead, and what one
   changed that a buyer must see (a reading changed, removed or moved past another,
   a damage finding, claim or brand withdrawn or softened) is raised too
   (``core.correction_alerts``); an open
   ``dispute`` marks an entry's facts as disputed;
2. odometer (``core.odometer``): every reading from every source in time order, rollbacks beyond a
   stated tolerance (naming both entries and their signers), implausible rates,
   the ``odometer_not_actual`` brand, and the last reading that can be trusted;
3. damage (inspection flags and failed checklist items, ``core.inspection_alerts``,
   and every insurance claim by its cause) and brands,
   owners, registrations by country (``core.registrations``: a car on two countries'
   registers at once), service intervals and gaps, recalls, sales and their returns.

Times are compared as times (``core.fields.parse_time``), never as text, and
events are ordered by when they happened; ties keep log order.
"""

from __future__ import annotations

import itertools
from datetime import date, datetime
from typing import Any

from core.alerts import alert
from core.correction_alerts import DAMAGE_FLAGS, correction_alerts
from core.corrections import apply_corrections
from core.fields import parse_time
from core.inspection_alerts import inspection_failed
from core.odometer import (
    MAX_KM_PER_DAY,
    ROLLBACK_TOLERANCE_KM,
    last_trusted,
    odometer_readings,
    rate_alerts,
    rollback_alerts,
)
from core.registrations import registrations

# Longer than this without a service is a gap worth a buyer's question.
SERVICE_GAP_DAYS = 450


def _when(item: dict[str, Any]) -> tuple[datetime, int]:
    """Where an item falls in event order: its time, then its log index."""
    return parse_time(item["record"]["occurred_at"]), item["index"]


def _day(text: str) -> date:
    return parse_time(text).date()


# ---- 3. damage, brands, owners, service, recalls --------------------------------------------


def _damage(items: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    alerts, brands = [], []
    for item in items:
        rec, idx, kind = item["record"], item["index"], item["kind"]
        if kind == "title_brand":
            brands.append({"brand": rec["brand"], "index": idx, "since": rec["occurred_at"]})
            alerts.append(
                alert(
                    f"title_brand_{rec['brand']}",
                    "high",
                    f"title branded {rec['brand'].replace('_', ' ')} "
                    f"({rec.get('jurisdiction', '')}), entry {idx}",
                    [idx],
                    brand=rec["brand"],
                    jurisdiction=rec.get("jurisdiction"),
                )
            )
        elif kind == "inspection":
            for flag in (f for f in DAMAGE_FLAGS if rec.get("flags", {}).get(f)):
                severity = "high" if flag in ("flood", "fire", "structural") else "medium"
                alerts.append(
                    alert(
                        f"{flag}_damage",
                        severity,
                        f"inspection reported {flag} damage, entry {idx}",
                        [idx],
                        flag=flag,
                    )
                )
        elif kind == "insurance_claim":
            alerts += _claim_alerts(rec, idx)
    return alerts, brands


def _raised(kind: str, rec: dict[str, Any]) -> set[tuple[str, str]]:
    """The damage alerts one record raises, as (type, severity): what a correction that
    changed it took back is judged by (``core.correction_alerts``)."""
    alerts, _ = _damage([{"kind": kind, "index": 0, "record": rec}])
    alerts += inspection_failed([{"kind": kind, "index": 0, "record": rec}])
    return {(a["type"], a["severity"]) for a in alerts}


# How bad a hail, vandalism or other claim is, from the severity the insurer gave it.
_CLAIM_LEVEL = {"severe": "high", "moderate": "medium", "minor": "low"}


def _cause_alert(rec: dict[str, Any], idx: int) -> dict:
    """What a claim's cause tells a buyer. Collision, flood and fire keep the alerts
    older views gave them; hail and vandalism damage and other claims are as bad as
    their severity; a theft (the car was stolen and recovered) is medium whatever the
    damage, which its facts still name."""
    cause = rec.get("cause", "collision")
    severity = rec.get("severity", "minor")
    if cause == "collision":
        return alert(
            "accident",
            "high" if severity == "severe" else "medium",
            f"{severity} collision reported by an insurer, entry {idx}",
            [idx],
            severity=severity,
        )
    if cause in ("flood", "fire"):
        return alert(
            f"{cause}_damage",
            "high",
            f"insurance claim for {cause} damage, entry {idx}",
            [idx],
            flag=cause,
        )
    level = _CLAIM_LEVEL.get(severity, "low")
    if cause in ("hail", "vandalism"):
        return alert(
            f"{cause}_damage",
            level,
            f"insurance claim for {severity} {cause} damage, entry {idx}",
            [idx],
            flag=cause,
            severity=severity,
        )
    if cause == "theft":
        return alert(
            "theft",
            "medium",
            f"insurance claim for theft: stolen and recovered, {severity} damage, entry {idx}",
            [idx],
            severity=severity,
        )
    # "other", or a cause a later release knows: a claim a buyer must still see.
    return alert(
        "other_claim",
        level,
        f"{severity} insurance claim for another cause, entry {idx}",
        [idx],
        severity=severity,
    )


def _claim_alerts(rec: dict[str, Any], idx: int) -> list[dict]:
    found = [_cause_alert(rec, idx)]
    if rec.get("structural"):
        found.append(
            alert(
                "structural_damage",
                "high",
                f"insurer reported structural damage, entry {idx}",
                [idx],
                flag="structural",
            )
        )
    if rec.get("total_loss"):
        found.append(
            alert(
                "total_loss",
                "high",
                f"insurer declared a total loss, entry {idx}",
                [idx],
                occurred_at=rec.get("occurred_at"),
            )
        )
    if rec.get("airbag_deployed"):
        found.append(
            alert("airbag_deployed", "high", f"airbag deployed in a claim, entry {idx}", [idx])
        )
    return found


def open_recalls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recall campaigns whose latest entry (by event time) says open; a later
    ``remedied`` closes one."""
    latest: dict[str, dict[str, Any]] = {}
    for item in sorted((i for i in items if i["kind"] == "recall"), key=_when):
        latest[item["record"]["campaign"]] = item
    return [
        alert(
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
                alert(
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
    registered, twice = registrations(items)
    not_actual = min(
        (parse_time(b["since"]) for b in brands if b["brand"] == "odometer_not_actual"),
        default=None,
    )
    alerts = [
        *rollbacks,
        *rate_alerts(readings),
        *twice,
        *damage,
        *inspection_failed(items),
        *open_recalls(items),
        *gaps,
        *correction_alerts(items, readings, _raised),
    ]
    disputed = {i["index"] for i in items if i.get("disputes")}
    for found in alerts:
        found["disputed"] = bool(disputed & set(found["entries"]))
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
        "registrations": registered,
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
