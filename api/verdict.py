"""The verdict at the top of the buyer's page: the view's alerts as lines a buyer reads,
one per problem, worst first, each linking the entries behind it (``headline``).

The page's script (``api/static/verify.js``, ``mustName``) checks that these lines
link every entry the verified records say a buyer must be told of.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from api.drawings import km_text, rank
from api.i18n import Words
from core.errors import InvalidRecord
from core.fields import parse_time

# Bidirectional controls (marks, embeddings, overrides, isolates) in a partner's text.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def isolated(text: str) -> str:
    """``text`` as one piece of a line the page composes (a findings list, a sentence):
    where it holds a bidirectional control, wrapped in FIRST STRONG ISOLATE and POP
    DIRECTIONAL ISOLATE, so an override in one partner's note cannot reorder the pieces
    after it (an element of its own gets <bdi> in the template instead)."""
    return f"\u2068{text}\u2069" if _BIDI.search(text) else text


def reading_text(value: Any, t: Words) -> str:
    """A reading an alert names: km if it is a number, else as an older log holds it."""
    is_number = isinstance(value, int) and not isinstance(value, bool)
    return km_text(value, t) if is_number else str(value)


def alert_text(alert: dict[str, Any], t: Words) -> str:
    facts = alert.get("facts", {})
    kind = alert["type"]
    if kind == "odometer_rollback":
        said = t(
            "alert_odometer_rollback", from_km=f"{facts['from_km']:,}", to_km=f"{facts['to_km']:,}"
        )
        if isinstance(miles := facts.get("as_miles_km"), int):  # core.odometer._as_miles
            said += t("alert_rollback_miles", miles=f"{facts['to_km']:,}", km=f"{miles:,}")
        return said
    if kind.startswith("title_brand_"):
        return t("alert_title_brand", brand=t.term("brand", facts["brand"]))
    if kind.endswith("_damage") and "severity" in facts:  # an insurer's hail or vandalism claim
        return t(
            "alert_claim_damage",
            flag=t.term("flag", facts["flag"]),
            severity=t.term("severity", facts["severity"]),
        )
    if kind.endswith("_damage"):
        return t("alert_damage", flag=t.term("flag", facts["flag"]))
    if kind in ("theft", "other_claim"):
        return t(f"alert_{kind}", severity=t.term("severity", facts["severity"]))
    if kind == "recall_open":
        return t("alert_recall_open", **facts)
    if kind == "registered_twice":  # core/registrations.py
        on, ended = facts["on"], facts.get("ended_on")
        words = {
            "country": facts["country"],
            "still_in": facts["still_in"],
            "on": t.date(date.fromisoformat(on)) if isinstance(on, str) else on,
        }
        if not isinstance(ended, str) or not isinstance(facts.get("days_later"), int):
            return t("alert_registered_twice", **words)
        words.update(ended_on=t.date(date.fromisoformat(ended)), days=facts["days_later"])
        logged = facts.get("logged_days_later")
        if isinstance(logged, int):  # ended in time, logged late
            return t("alert_registered_twice_logged_late", logged=logged, **words)
        return t("alert_registered_twice_ended_late", **words)
    if kind == "inspection_failed":  # core/inspection_alerts.py
        return _inspection_failed(facts, t)
    if kind == "implausible_rate":
        return t("alert_implausible_rate", km=f"{facts['km']:,}", days=facts["days"])
    if kind == "accident":
        return t("alert_accident", severity=t.term("severity", facts["severity"]))
    if kind == "service_gap":
        return t("alert_service_gap", days=facts["days"])
    if kind == "correction_not_applied":
        return t("alert_correction_not_applied", corrects=facts["corrects"])
    if kind == "odometer_corrected":
        was, now = facts["from_km"], facts["to_km"]
        return t(
            "alert_odometer_corrected",
            corrects=facts["corrects"],
            from_km=t("field_none") if was is None else reading_text(was, t),
            to_km=t("field_removed") if now is None else reading_text(now, t),
        ) + _hid(facts, t)
    if kind == "odometer_redated":
        return t(
            "alert_odometer_redated",
            corrects=facts["corrects"],
            km=reading_text(facts["km"], t),
            **_dates(facts["from_time"], facts["to_time"], t),
        ) + _hid(facts, t)
    if kind == "finding_withdrawn":
        return t(
            "alert_finding_withdrawn",
            corrects=facts["corrects"],
            by=t("list_sep").join(facts["by"]),
            corrections=t("list_sep").join(map(str, facts["corrections"])),
            withdrawn=t("items_sep").join(_withdrawn(c, t) for c in facts["withdrawn"]),
        )
    return t(f"alert_{kind}")


# A failed inspection's line names at most this many safety items and other items; the
# rest it counts ("and 488 more"): a checklist of 500 failed items is no line to read.
NAMED_SAFETY = 10
NAMED_OTHERS = 3


def _some(items: list[dict[str, Any]], first: set[str], said, t: Words) -> str:
    """``items`` as ``said`` words each, listed; where there are more than a line can
    name, those whose code is in ``first`` (up to ``NAMED_SAFETY``) and a few others (up
    to ``NAMED_OTHERS``), in their order, and how many more."""
    named = items
    if len(items) > NAMED_SAFETY + NAMED_OTHERS:
        keep = {id(i) for i in [i for i in items if i["code"] in first][:NAMED_SAFETY]}
        keep |= {id(i) for i in [i for i in items if i["code"] not in first][:NAMED_OTHERS]}
        named = [i for i in items if id(i) in keep]
    listed = t("list_sep").join(said(i) for i in named)
    if len(named) < len(items):
        listed += t("alert_more_items", count=len(items) - len(named))
    return listed


def _inspection_failed(facts: dict[str, Any], t: Words) -> str:
    """The checks an inspection failed, and the later inspections that passed some:
    the safety items and a few others when there are many (``_some``)."""
    safety = {str(code) for code in facts.get("safety", [])}
    said = t(
        "alert_inspection_failed",
        items=_some(
            facts["items"],
            safety,
            lambda i: t(
                "alert_failed_item",
                code=isolated(str(i["code"])),
                result=t.term("result", i["result"]),
            ),
            t,
        ),
    )
    if facts.get("passed_later"):
        said += t(
            "alert_passed_later",
            items=_some(
                facts["passed_later"],
                safety,
                lambda p: t("alert_passed_item", code=isolated(str(p["code"])), entry=p["entry"]),
                t,
            ),
        )
    return said


def _hid(facts: dict[str, Any], t: Words) -> str:
    """The rollbacks a corrected or redated reading hid (``core.correction_alerts``)."""
    return "".join(
        t(
            "alert_hid_rollback",
            from_km=reading_text(r["from_km"], t),
            to_km=reading_text(r["to_km"], t),
        )
        for r in facts.get("hid_rollbacks", [])
    )


def _dates(was: Any, now: Any, t: Words) -> dict[str, str]:
    """Two times a correction moved a reading between, as the reader writes days; with
    the time of day (UTC) when both fall on one day. A time that does not parse is shown
    as the log holds it."""
    try:
        times = [parse_time(was), parse_time(now)]
    except InvalidRecord:
        return {"from_date": str(was), "to_date": str(now)}
    same_day = times[0].date() == times[1].date()
    said = [t.date(at.date()) + (f" {at:%H:%M} UTC" if same_day else "") for at in times]
    return {"from_date": said[0], "to_date": said[1]}


# A withdrawn finding's label and the vocabulary its values are words of.
_WITHDRAWN = {
    "grade": ("field_grade", None),
    "cause": ("field_cause", "cause"),
    "severity": ("field_severity", "severity"),
    "brand": ("kind_title_brand", "brand"),
}


def _withdrawn(change: dict[str, Any], t: Words) -> str:
    """One finding a correction withdrew (``core.corrections.withdrawn_alerts``): a
    damage flag or a claim's yes-or-no taken back, or a value with the one now in force."""
    field, was, now = change["field"], change["from"], change["to"]
    if field.startswith("flags."):
        return t("alert_withdrawn_damage", flag=t.term("flag", field.removeprefix("flags.")))
    if field.startswith("areas."):  # a damage area a claim no longer names
        return t("alert_withdrawn_area", area=t.term("area", field.removeprefix("areas.")))
    if isinstance(was, bool):  # a claim's total_loss, structural, airbag_deployed
        return t.term("field", field)
    if field.startswith("items."):  # the item's code, as the partner wrote it
        label, vocabulary = isolated(field.removeprefix("items.")), "result"
    else:
        key, vocabulary = _WITHDRAWN.get(field, (None, None))
        label = t(key) if key else field

    def said(value: Any) -> str:
        if value is None:
            return t("field_removed")
        if vocabulary and isinstance(value, str):
            return t.term(vocabulary, value)
        return isolated(str(value))  # a grade, on the partner's own scale

    return t("alert_withdrawn_value", field=label, was=said(was), now=said(now))


# Reports of one event this many days apart or less are the same event (two insurers'
# total loss of one crash, each dated by its own file); further apart, another event.
SAME_EVENT_DAYS = 7


def _state(alert: dict[str, Any]) -> bool:
    """A state of the car (flood damage, a title brand, a total loss) that later reports
    repeat; an event (a collision, a hail or vandalism claim an insurer paid, an airbag
    that went off) happens each time: an insurer's claim alert names its severity."""
    kind = alert["type"]
    if "severity" in alert.get("facts", {}):
        return False
    return kind.endswith("_damage") or kind.startswith("title_brand_") or kind == "total_loss"


def _day(alert: dict[str, Any], zone: str = "UTC") -> date | None:
    """The day in ``zone`` (the ledger's time zone, the timeline's days) an alert's
    event happened, where its facts say (a total loss's ``occurred_at``); None where they
    do not or it does not parse (an older log's)."""
    at = alert.get("facts", {}).get("occurred_at")
    try:
        return parse_time(at).astimezone(ZoneInfo(zone)).date() if isinstance(at, str) else None
    except InvalidRecord:
        return None


def _key(alert: dict[str, Any]) -> str:
    """What reports of one state share: the alert's type and facts but its day, with a
    jurisdiction as written in any case and spacing ("US-CA", "us-ca", " US-CA")."""
    facts = {k: v for k, v in alert.get("facts", {}).items() if k != "occurred_at"}
    if isinstance(facts.get("jurisdiction"), str):
        facts["jurisdiction"] = facts["jurisdiction"].strip().casefold()
    return f"{alert['type']} {json.dumps(facts, sort_keys=True)}"


def _events(reports: list[int], days: list[date | None]) -> list[list[int]]:
    """The reports (positions) of one state grouped by event: by day, each group from
    its first day to ``SAME_EVENT_DAYS`` after it (three reports a week apart each are
    two events, whatever order the log holds them in); undated reports (an older log's)
    go with the first event."""
    dated = sorted((r for r in reports if days[r] is not None), key=lambda r: (days[r], r))
    groups: list[list[int]] = []
    for r in dated:
        if groups and (days[r] - days[groups[-1][0]]).days <= SAME_EVENT_DAYS:
            groups[-1].append(r)
        else:
            groups.append([r])
    undated = [r for r in reports if days[r] is None]
    if undated:
        groups = [undated + groups[0], *groups[1:]] if groups else [undated]
    return groups


def _told_apart(fact: str, alert: dict[str, Any], days: list[date], t: Words) -> str:
    """A brand's line with its jurisdiction, a total loss's with its day (or first and
    last day, days in the ledger's time zone as the timeline's), so separate events'
    lines read apart."""
    where = alert.get("facts", {}).get("jurisdiction")
    if alert["type"].startswith("title_brand_") and isinstance(where, str) and where.strip():
        return t("alert_in_jurisdiction", text=fact, jurisdiction=isolated(where.strip()))
    if alert["type"] == "total_loss" and days:
        first, last = min(days), max(days)
        if first == last:
            return t("alert_on_day", text=fact, day=t.date(first))
        return t("alert_on_days", text=fact, from_date=t.date(first), to_date=t.date(last))
    return fact


def headline(alerts: list[dict[str, Any]], t: Words, zone: str = "UTC") -> list[dict[str, Any]]:
    """The verdict's lines, one per problem, worst first (high, medium, low; lines of
    one severity in the order their first alerts come).

    The same fact reported by several entries (an insurer's flood claim and an
    inspection's flood flag) is one problem with its reports counted, not two: alerts
    of one type with the same facts, each resting on one entry and stating what the car
    is (damaged, branded), make one line. Only reports of one event: a brand is one per
    jurisdiction, however its case and spaces are written (its facts name it: rebuilt in
    California and again in Nevada are two lines, each naming its jurisdiction), a total
    loss one per crash (``_events``: reports within ``SAME_EVENT_DAYS`` of the first;
    two years apart are two lines, each naming its day: days in ``zone``, the ledger's
    time zone, as the timeline dates the entries). An event (a collision an
    insurer paid) and an alert that relates entries (a rollback between two readings, a
    gap between two services) are each a problem of their own. Each entry keeps its own
    marking in the timeline.
    """
    days = [_day(a, zone) for a in alerts]
    states: dict[str, list[int]] = {}
    alone: list[list[int]] = []
    for at, a in enumerate(alerts):
        if len(a["entries"]) == 1 and _state(a):
            states.setdefault(_key(a), []).append(at)
        else:
            alone.append([at])
    groups = [g for reports in states.values() for g in _events(reports, days)]
    merged = {id(g) for g in groups}
    out = []
    for group in sorted([*groups, *alone], key=min):  # where its first alert comes
        first = alerts[min(group)]
        severity, entries = first["severity"], []
        for at in sorted(group):
            a = alerts[at]
            entries += [e for e in a["entries"] if e not in entries]
            if rank(a["severity"]) < rank(severity):
                severity = a["severity"]
        fact = _told_apart(
            alert_text(first, t), first, sorted(d for at in group if (d := days[at])), t
        )
        if all(alerts[at].get("disputed") for at in group):  # one report stands: not disputed
            fact += f" ({t('disputed')})"
        reports = len(entries) if id(group) in merged else 1
        out.append(
            {
                "text": t("alert_reports", text=fact, count=reports) if reports > 1 else fact,
                "fact": fact,
                "reports": reports,
                "severity": severity,
                "entries": sorted(entries) if reports > 1 else entries,
            }
        )
    return sorted(out, key=lambda line: rank(line["severity"]))  # stable: ties keep order
