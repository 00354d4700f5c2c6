"""What a vehicle's entries mean together: the derived view of a history.

Pure and deterministic: the same entries always give the same view, and every
conclusion names the entries (log indexes) behind it so a buyer can check them.
Input is the list of history items the API builds (``index``, ``kind``, ``signer``,
``record`` as plain JSON values), in chain order.
"""

from __future__ import annotations

from typing import Any

# A reading this much lower than an earlier one is a rollback, not a typo in the
# last digit or a rounding difference between a dashboard and a workshop system.
ROLLBACK_TOLERANCE_KM = 50

_DAMAGE_FLAGS = ("accident", "flood", "fire", "structural", "airbag")


def odometer_readings(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    readings = []
    for item in items:
        km = item["record"].get("odometer_km")
        if km is None:
            continue
        readings.append(
            {
                "index": item["index"],
                "occurred_at": item["record"]["occurred_at"],
                "km": km,
                "kind": item["kind"],
                "signer": item["signer"]["id"],
            }
        )
    # Time order of the events, not of logging; ties keep log order.
    readings.sort(key=lambda r: (r["occurred_at"], r["index"]))
    return readings


def rollback_alerts(readings: list[dict[str, Any]], tolerance_km: int = ROLLBACK_TOLERANCE_KM):
    alerts = []
    highest: dict[str, Any] | None = None
    for r in readings:
        if highest is not None and r["km"] < highest["km"] - tolerance_km:
            alerts.append(
                {
                    "type": "odometer_rollback",
                    "severity": "high",
                    "message": (
                        f"odometer went back from {highest['km']} km (entry {highest['index']}, "
                        f"{highest['signer']}) to {r['km']} km (entry {r['index']}, {r['signer']})"
                    ),
                    "entries": [highest["index"], r["index"]],
                    "facts": {"from_km": highest["km"], "to_km": r["km"]},
                }
            )
            # The lowered reading is the new baseline: readings that go on from it are
            # not each a new rollback, but a later drop below it is.
            highest = r
        elif highest is None or r["km"] > highest["km"]:
            highest = r
    return alerts


def open_recalls(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recall campaigns whose latest entry says open (a later ``remedied`` closes one)."""
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        if item["kind"] == "recall":
            latest[item["record"]["campaign"]] = item
    return [
        {
            "type": "recall_open",
            "severity": "medium",
            "message": f"open recall {campaign} ({item['record']['component']}), "
            f"entry {item['index']}",
            "entries": [item["index"]],
            "facts": {"campaign": campaign, "component": item["record"]["component"]},
        }
        for campaign, item in sorted(latest.items())
        if item["record"]["status"] == "open"
    ]


def analyse(items: list[dict[str, Any]]) -> dict[str, Any]:
    readings = odometer_readings(items)
    alerts = rollback_alerts(readings)
    brands = []
    for item in items:
        rec, idx = item["record"], item["index"]
        kind = item["kind"]
        if kind == "title_brand":
            brands.append({"brand": rec["brand"], "index": idx})
            alerts.append(
                {
                    "type": f"title_brand_{rec['brand']}",
                    "severity": "high",
                    "message": f"title branded {rec['brand'].replace('_', ' ')} "
                    f"({rec.get('jurisdiction', '')}), entry {idx}",
                    "entries": [idx],
                    "facts": {"brand": rec["brand"]},
                }
            )
        elif kind == "inspection":
            found = [f for f in _DAMAGE_FLAGS if rec.get("flags", {}).get(f)]
            for flag in found:
                alerts.append(
                    {
                        "type": f"{flag}_damage",
                        "severity": "high" if flag in ("flood", "fire", "structural") else "medium",
                        "message": f"inspection reported {flag} damage, entry {idx}",
                        "entries": [idx],
                        "facts": {"flag": flag},
                    }
                )
        elif kind == "insurance_claim":
            if rec.get("cause") in ("flood", "fire"):
                alerts.append(
                    {
                        "type": f"{rec['cause']}_damage",
                        "severity": "high",
                        "message": f"insurance claim for {rec['cause']} damage, entry {idx}",
                        "entries": [idx],
                        "facts": {"flag": rec["cause"]},
                    }
                )
            if rec.get("structural"):
                alerts.append(
                    {
                        "type": "structural_damage",
                        "severity": "high",
                        "message": f"insurer reported structural damage, entry {idx}",
                        "entries": [idx],
                        "facts": {"flag": "structural"},
                    }
                )
            if rec.get("total_loss"):
                alerts.append(
                    {
                        "type": "total_loss",
                        "severity": "high",
                        "message": f"insurer declared a total loss, entry {idx}",
                        "entries": [idx],
                        "facts": {},
                    }
                )
            if rec.get("airbag_deployed"):
                alerts.append(
                    {
                        "type": "airbag_deployed",
                        "severity": "high",
                        "message": f"airbag deployed in a claim, entry {idx}",
                        "entries": [idx],
                        "facts": {},
                    }
                )
    alerts.extend(open_recalls(items))
    grades = [i for i in items if i["kind"] == "inspection"]
    return {
        "alerts": alerts,
        "odometer": {
            "readings": readings,
            "last_km": readings[-1]["km"] if readings else None,
            "tolerance_km": ROLLBACK_TOLERANCE_KM,
        },
        "brands": brands,
        "latest_inspection": (
            {"index": grades[-1]["index"], "grade": grades[-1]["record"].get("grade")}
            if grades
            else None
        ),
        "entries": len(items),
    }
