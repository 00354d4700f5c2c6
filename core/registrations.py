"""Where a car has been registered, from the ``registration`` entries of its history.

A registry records three events: ``registered`` (the car's first registration in its
country, an import's included), ``deregistered`` (taken off the road or the register)
and ``exported`` (deregistered for export). In event order (on one instant, what ends
a registration before what starts one; then log order) they make periods, one per
stay on a country's register: ``from`` a ``registered`` ``until`` a deregistration or
export. A period whose start is not on record (a registry that records only the
export) starts ``None``; one still open ends ``None``.

A car is on one country's register at a time. A ``registered`` in country B while
a period in another country A is open (no deregistration or export from A between)
raises ``registered_twice``, high: two cars with one VIN (a cloned VIN) or an export
nobody recorded. That holds both ways: a registry of A registering the car again after
B registered it, with no export from B, raises it too. An export from A and then a
registration in B is the normal import, and raises nothing; so does anything that
happens within one country (a second ``registered`` there is the same stay).

``first_registered`` is the earliest date the entries give for the car's first
registration: one a registry states from the papers (``stated``), or else the first
``registered`` on record. Pure: the same entries give the same answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from core.alerts import alert
from core.fields import parse_time

_ENDS = ("deregistered", "exported")


def _order(item: dict[str, Any]) -> tuple[datetime, int, int]:
    """Event time; on one instant an end before a start (an export and the import dated
    alike are an import, not two registers at once); then log order."""
    rec = item["record"]
    return parse_time(rec["occurred_at"]), 0 if rec["event"] in _ENDS else 1, item["index"]


def _day(item: dict[str, Any]) -> str:
    return parse_time(item["record"]["occurred_at"]).date().isoformat()


def _twice(item: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``item`` registers the car while ``other``, an open period elsewhere, holds it."""
    rec, idx = item["record"], item["index"]
    country, day, there = rec["country"], _day(item), other["country"]
    since = other["from"] or f"before entry {other['entries'][0]}"
    named = other["from_entry"] if other["from_entry"] is not None else other["entries"][0]
    return alert(
        "registered_twice",
        "high",
        f"registered in {country} on {day} (entry {idx}) while still registered in {there} "
        f"since {since} (entry {named}); no export from {there} on record: a cloned VIN or "
        "an unrecorded export",
        sorted({named, idx}),
        country=country,
        on=day,
        still_in=there,
        since=other["from"],
    )


def registrations(items: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The view's ``registrations`` and the ``registered_twice`` alerts, from ``items``
    (history items, corrections applied)."""
    events = sorted((i for i in items if i["kind"] == "registration"), key=_order)
    periods: list[dict[str, Any]] = []
    open_in: dict[str, dict[str, Any]] = {}  # country -> its open period
    alerts: list[dict[str, Any]] = []
    for item in events:
        rec, idx = item["record"], item["index"]
        country, event = rec["country"], rec["event"]
        if event == "registered":
            alerts += [_twice(item, p) for c, p in open_in.items() if c != country]
            if country in open_in:  # registered there again: the same stay
                open_in[country]["entries"].append(idx)
                continue
            period = {
                "country": country,
                "jurisdiction": rec.get("jurisdiction"),
                "from": _day(item),
                "from_entry": idx,
                "until": None,
                "until_entry": None,
                "ended": None,
                "entries": [idx],
            }
            periods.append(period)
            open_in[country] = period
            continue
        period = open_in.pop(country, None)
        if period is None:
            ended = [p for p in periods if p["country"] == country]
            if ended and ended[-1]["until"] is not None:  # deregistered, then exported
                ended[-1]["entries"].append(idx)
                if event == "exported":
                    ended[-1]["ended"] = "exported"
                continue
            period = {  # its registration is not on record
                "country": country,
                "jurisdiction": rec.get("jurisdiction"),
                "from": None,
                "from_entry": None,
                "entries": [],
            }
            periods.append(period)
        period.update(until=_day(item), until_entry=idx, ended=event)
        period["entries"].append(idx)
    first_in: dict[str, dict[str, Any]] = {}
    for p in periods:
        if p["from"] is not None:
            first_in.setdefault(p["country"], {"date": p["from"], "index": p["from_entry"]})
    return {"periods": periods, "first_registered": _first(events), "first_in": first_in}, alerts


def _first(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest first registration the entries give: a date stated from the papers,
    or a ``registered`` on record; on one day, the stated one."""
    found: list[tuple[date, int, int, bool]] = []
    for item in events:
        rec = item["record"]
        try:
            stated = date.fromisoformat(rec.get("first_registered") or "")
        except ValueError:  # none stated
            pass
        else:
            found.append((stated, 0, item["index"], True))
        if rec["event"] == "registered":
            found.append((parse_time(rec["occurred_at"]).date(), 1, item["index"], False))
    if not found:
        return None
    day, _, index, stated = min(found)
    return {"date": day.isoformat(), "index": index, "stated": stated}
