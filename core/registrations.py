"""Where a car has been registered, from the ``registration`` entries of its history.

A registry records three events: ``registered`` (the car's first registration in its
country, an import's included), ``deregistered`` (taken off the road or the register)
and ``exported`` (deregistered for export). In event order (on one instant, what ends
a registration before what starts one; then log order) they make periods, one per
stay on a country's register: ``from`` a ``registered`` ``until`` a deregistration or
export. A period whose start is not on record (a registry that records only the
export) starts ``None``; one still open ends ``None``.

A car is on one country's register at a time. A ``registered`` that opens a period in
country B while a period in another country A is open (no deregistration or export
from A before it) raises ``registered_twice``, high: two cars with one VIN (a cloned VIN)
or an export nobody recorded; unless A's period ends (exported or deregistered) within
``HANDOVER_DAYS`` after B's registration. That is an honest move: the new country
registers the car first and tells the old one, whose deregistration follows days or
weeks later (an EU re-registration). Later than that, the alert stays and says when A's
end came. That holds both ways: a registry of A registering the car again after B
registered it, with no end in B, raises it too. An export from A and then a
registration in B is the normal import, and raises nothing; so does anything that
happens within one country (a second ``registered`` there is the same stay). Each period
raises it once against each other period (a second ``registered`` in B while A is open
is the same stay in B, not a second alert).

``first_registered`` is the earliest date the entries give for the car's first
registration: one a registry states from the papers (``stated``), or else the first
``registered`` on record. A period whose start is not on record, ending before that
date, shows the car was registered earlier: then the date is ``None`` and ``before``
says by when (the end of the earliest such period). Pure: the same entries give the
same answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from core.alerts import alert
from core.fields import parse_time

_ENDS = ("deregistered", "exported")
# How long after a car is registered in a new country its old country may take to end
# its registration (deregister or export it) before the two count as at once: the new
# register usually comes first and tells the old one, which follows in days or weeks.
HANDOVER_DAYS = 90
_ENDED = {"exported": "the export from", "deregistered": "the deregistration in"}


def _order(item: dict[str, Any]) -> tuple[datetime, int, int]:
    """Event time; on one instant an end before a start (an export and the import dated
    alike are an import, not two registers at once); then log order."""
    rec = item["record"]
    return parse_time(rec["occurred_at"]), 0 if rec["event"] in _ENDS else 1, item["index"]


def _day(item: dict[str, Any]) -> str:
    return parse_time(item["record"]["occurred_at"]).date().isoformat()


def _days_later(item: dict[str, Any], other: dict[str, Any]) -> int | None:
    """How many days after ``item``'s registration ``other`` (a period open then) ended;
    None while it is open."""
    if other["until"] is None:
        return None
    return (date.fromisoformat(other["until"]) - date.fromisoformat(_day(item))).days


def _twice(item: dict[str, Any], other: dict[str, Any], later: int | None) -> dict[str, Any]:
    """``item`` registers the car while ``other``, a period open elsewhere, holds it;
    ``other`` ended ``later`` days after (None: not on record)."""
    rec, idx = item["record"], item["index"]
    country, day, there = rec["country"], _day(item), other["country"]
    since = other["from"] or f"before entry {other['entries'][0]}"
    named = other["from_entry"] if other["from_entry"] is not None else other["entries"][0]
    if later is None:
        end = f"no export from {there} on record: a cloned VIN or an unrecorded export"
    else:
        end = (
            f"{_ENDED[other['ended']]} {there} (entry {other['until_entry']}) came {later} "
            f"days later, on {other['until']}, more than the {HANDOVER_DAYS} days a move "
            "between registers takes: a cloned VIN or an export recorded late"
        )
    return alert(
        "registered_twice",
        "high",
        f"registered in {country} on {day} (entry {idx}) while still registered in {there} "
        f"since {since} (entry {named}); {end}",
        sorted({named, idx}),
        country=country,
        on=day,
        still_in=there,
        since=other["from"],
        ended_on=other["until"],
        ended_entry=other["until_entry"],
        days_later=later,
    )


def registrations(items: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The view's ``registrations`` and the ``registered_twice`` alerts, from ``items``
    (history items, corrections applied)."""
    events = sorted((i for i in items if i["kind"] == "registration"), key=_order)
    periods: list[dict[str, Any]] = []
    open_in: dict[str, dict[str, Any]] = {}  # country -> its open period
    # (a registration, its period, a period open elsewhere then), in event order
    clashes: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []
    for item in events:
        rec, idx = item["record"], item["index"]
        country, event = rec["country"], rec["event"]
        if event == "registered":
            period = open_in.get(country)
            if period is not None:  # registered there again: the same stay
                period["entries"].append(idx)
            else:
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
            clashes += [(item, period, p) for c, p in open_in.items() if c != country]
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
    first = _first(events, periods)
    return {"periods": periods, "first_registered": first, "first_in": first_in}, _alerts(clashes)


def _alerts(clashes: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]) -> list[dict]:
    """A ``registered_twice`` for each period's first registration while another period
    was open, unless that one ended within ``HANDOVER_DAYS`` after it."""
    alerts, seen = [], set()
    for item, period, other in clashes:
        if (id(period), id(other)) in seen:  # the same stay registered again
            continue
        seen.add((id(period), id(other)))
        later = _days_later(item, other)
        if later is None or later > HANDOVER_DAYS:
            alerts.append(_twice(item, other, later))
    return alerts


def _first(events: list[dict[str, Any]], periods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest first registration the entries give: a date stated from the papers,
    or a ``registered`` on record; on one day, the stated one. When a period whose start
    is not on record ended before it, the car was registered earlier: no date, ``before``
    that period's end."""
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
    startless = min(
        ((p["until"], p["until_entry"]) for p in periods if p["from"] is None), default=None
    )
    if found and (startless is None or min(found)[0].isoformat() < startless[0]):
        day, _, index, stated = min(found)
        return {"date": day.isoformat(), "index": index, "stated": stated}
    if startless is not None:
        return {"date": None, "before": startless[0], "index": startless[1], "stated": False}
    return None
