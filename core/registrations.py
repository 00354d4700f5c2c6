"""Where a car has been registered, from the ``registration`` entries of its history.

A registry records three events: ``registered`` (the car's first registration in its
country, an import's included), ``deregistered`` (taken off the road or the register)
and ``exported`` (deregistered for export). In event order (on one instant, what ends
a registration before what starts one; then log order) they make periods, one per
stay on a country's register: ``from`` a ``registered`` ``until`` a deregistration or
export. A period whose start is not on record (a registry that records only the
export) starts ``None``; one still open ends ``None``.

A car is on one country's register at a time. A ``registered`` in country B while a
period in another country A is open (no deregistration or export from A before it)
raises ``registered_twice``, high: two cars with one VIN (a cloned VIN) or an export
nobody recorded; unless A's period ends (exported or deregistered) within
``HANDOVER_DAYS`` after B's registration. That is an honest move: the new country
registers the car first and tells the old one, whose deregistration follows days or
weeks later (an EU re-registration). Later than that, the alert stays and says when A's
end came. An end counts toward the handover only when it was logged (its entry's
``sequenced_at``, or a correction's that moved it) within ``HANDOVER_DAYS`` of its date:
any registry may sign an end in any country, and one logged years later to clear a
clone keeps the alert, which names it. For the same reason an end logged later than
``HANDOVER_DAYS`` after its date holds the car on its register, for judging clashes,
until the day it was logged: one dated before the clone's registration clears nothing
either, and the alert names it. An export from A and then a registration in B
is the normal import, and raises nothing; so does anything that happens within one
country (a second ``registered`` there is the same stay). Each pair of stays raises it
at most once, judged at the later stay's first registration: a registry of A
registering the car again inside A's stay after B registered it is the same pair, and
the handover covers it. When corrections changed registrations, the alert also names
the entries of the pair as signed (``core.correction_alerts`` raises
``finding_withdrawn`` only for a pair of stays no longer in force).

``first_registered`` is the earliest date the entries give for the car's first
registration: one a registry states from the papers (``stated``), or else the first
``registered`` on record. A period whose start is not on record, ending before that
date, shows the car was registered earlier: then the date is ``None`` and ``before``
says by when (the end of the earliest such period). Pure: the same entries give the
same answer.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from core.alerts import alert
from core.errors import InvalidRecord
from core.fields import parse_time

_ENDS = ("deregistered", "exported")
# How long after a car is registered in a new country its old country may take to end
# its registration (deregister or export it) before the two count as at once: the new
# register usually comes first and tells the old one, which follows in days or weeks.
HANDOVER_DAYS = 90
_PLACES = {"country", "event", "occurred_at"}  # what moves a registration
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


def _logged_on(end: dict[str, Any], logged_at: dict[int, Any]) -> date | None:
    """The day ``end`` (an end item) was logged as it stands: its entry's
    ``sequenced_at``, or a later one of a correction of its country, event or date; None
    when not known (an item with no ``sequenced_at``)."""
    times = [end.get("sequenced_at")]
    for c in end.get("corrections", ()):
        if _PLACES & set(c["fields"]):
            times.append(logged_at.get(c["index"]))
    days = []
    for at in times:
        try:
            days.append(parse_time(at).date())
        except (InvalidRecord, TypeError, ValueError):  # not known
            continue
    return max(days, default=None)


def _logged_late(end: dict[str, Any], logged_at: dict[int, Any]) -> int | None:
    """How many days after its date ``end`` (an end item) was logged (``_logged_on``);
    None when that is within ``HANDOVER_DAYS`` or not known."""
    on = _logged_on(end, logged_at)
    late = None if on is None else (on - date.fromisoformat(_day(end))).days
    return late if late is not None and late > HANDOVER_DAYS else None


def _twice(
    item: dict[str, Any], other: dict[str, Any], later: int | None, logged: int | None = None
) -> dict[str, Any]:
    """``item`` registers the car while ``other``, a period open elsewhere, holds it;
    ``other`` ended ``later`` days after (None: not on record), its end logged ``logged``
    days after its date (None: in time)."""
    rec, idx = item["record"], item["index"]
    country, day, there = rec["country"], _day(item), other["country"]
    since = other["from"] or f"before entry {other['entries'][0]}"
    named = other["from_entry"] if other["from_entry"] is not None else other["entries"][0]
    if later is None:
        end = f"no export from {there} on record: a cloned VIN or an unrecorded export"
    elif logged is not None:
        end = (
            f"{_ENDED[other['ended']]} {there} (entry {other['until_entry']}) on "
            f"{other['until']} was logged {logged} days after its date, more than the "
            f"{HANDOVER_DAYS} days a move between registers takes: a cloned VIN or an "
            "end recorded late"
        )
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
        logged_days_later=logged,
    )


def registrations(items: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The view's ``registrations`` and the ``registered_twice`` alerts, from ``items``
    (history items, corrections applied). Where corrections changed a registration, an
    alert also names the entries that raised it for the same pair of stays as signed."""
    view, found = stays_twice(items)
    if any("original" in i for i in items if i["kind"] == "registration"):
        try:
            _, signed = stays_twice(as_signed(items))
        except InvalidRecord:  # a time as signed does not parse (an older log's)
            signed = {}
        for pair, a in found.items():
            if pair in signed:
                a["entries"] = sorted({*a["entries"], *signed[pair]["entries"]})
    return view, list(found.values())


def as_signed(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The registration items as their entries were signed, no correction applied."""
    out = []
    for i in items:
        if i["kind"] != "registration":
            continue
        item = {k: v for k, v in i.items() if k not in ("original", "corrections")}
        out.append({**item, "record": i.get("original", i["record"])})
    return out


def stays_twice(
    items: list[dict[str, Any]],
) -> tuple[dict[str, Any], dict[frozenset, dict[str, Any]]]:
    """The view's ``registrations`` and the ``registered_twice`` alerts, each under the
    pair of stays it is about: a stay is (its country, how many stays there came before)."""
    events = sorted((i for i in items if i["kind"] == "registration"), key=_order)
    logged_at = {i["index"]: i.get("sequenced_at") for i in items}
    periods: list[dict[str, Any]] = []
    stay: dict[int, tuple[str, int]] = {}  # id(period) -> (country, stays there before)
    ends: dict[int, dict[str, Any]] = {}  # id(period) -> the item that ended it
    open_in: dict[str, dict[str, Any]] = {}  # country -> its open period
    # country -> (a period whose end was logged late, the day that end was logged): for
    # judging clashes it holds the car until then (a backdated end clears no clone)
    late_in: dict[str, tuple[dict[str, Any], date]] = {}
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
                stay[id(period)] = (country, sum(p["country"] == country for p in periods))
                periods.append(period)
                open_in[country] = period
            late_in.pop(country, None)  # its new stay holds the car there now
            clashes += [(item, period, p) for c, p in open_in.items() if c != country]
            clashes += [
                (item, period, p)
                for c, (p, on) in late_in.items()
                if c != country and date.fromisoformat(_day(item)) < on
            ]
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
            stay[id(period)] = (country, sum(p["country"] == country for p in periods))
            periods.append(period)
        period.update(until=_day(item), until_entry=idx, ended=event)
        period["entries"].append(idx)
        ends[id(period)] = item
        if period["from"] is not None and _logged_late(item, logged_at) is not None:
            late_in[country] = (period, _logged_on(item, logged_at))
    first_in: dict[str, dict[str, Any]] = {}
    for p in periods:
        if p["from"] is not None:
            first_in.setdefault(p["country"], {"date": p["from"], "index": p["from_entry"]})
    first = _first(events, periods)
    view = {"periods": periods, "first_registered": first, "first_in": first_in}
    found: dict[frozenset, dict[str, Any]] = {}
    seen: set[frozenset] = set()
    for item, period, other in clashes:
        pair = frozenset((stay[id(period)], stay[id(other)]))
        if pair in seen:  # judged at the later stay's first registration
            continue
        seen.add(pair)
        later = _days_later(item, other)
        on_time = later is not None and later <= HANDOVER_DAYS
        logged = _logged_late(ends[id(other)], logged_at) if on_time else None
        if later is None or later > HANDOVER_DAYS or logged is not None:
            found[pair] = _twice(item, other, later, logged)
    return view, found


def _first(events: list[dict[str, Any]], periods: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest first registration the entries give: a date stated from the papers,
    or a ``registered`` on record; on one day, the stated one, and the stated one too
    over its own record's UTC date a day before (a registry's local date). When a period whose start
    is not on record ended before it, the car was registered earlier: no date, ``before``
    that period's end."""
    found: list[tuple[date, int, int, bool]] = []
    for item in events:
        rec = item["record"]
        try:
            stated = date.fromisoformat(rec.get("first_registered") or "")
        except ValueError:  # none stated
            stated = None
        else:
            found.append((stated, 0, item["index"], True))
        day = parse_time(rec["occurred_at"]).date()
        # A registry east of UTC states its local date, a day after the record's UTC date
        # (midnight in Beijing): the same registration, on the day its papers give.
        if rec["event"] == "registered" and stated != day + timedelta(days=1):
            found.append((day, 1, item["index"], False))
    startless = min(
        ((p["until"], p["until_entry"]) for p in periods if p["from"] is None), default=None
    )
    if found and (startless is None or min(found)[0].isoformat() < startless[0]):
        day, _, index, stated = min(found)
        return {"date": day.isoformat(), "index": index, "stated": stated}
    if startless is not None:
        return {"date": None, "before": startless[0], "index": startless[1], "stated": False}
    return None
