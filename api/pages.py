"""What the buyer's page shows, built from a vehicle's history.

``page_model`` turns ``Ledger.history`` (entries plus the derived view) into what the
templates print, in the reader's language; its pictures are drawn in ``api.drawings``,
the guarantees attached at sale and the claim decisions said in ``api.guarantees``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.drawings import km_text, odometer_svg
from api.guarantees import decision_said, terms_shown
from api.i18n import Words
from api.verdict import alert_text, headline, isolated, reading_text
from core.errors import InvalidRecord
from core.fields import parse_time
from core.inspection_alerts import failed_items


def _shown(value: Any, t: Words) -> str:
    """A corrected value as a buyer reads it: no Python spellings (None, True)."""
    if value is None:
        return t("field_removed")
    if isinstance(value, bool):
        return t("field_yes") if value else t("field_no")
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return isolated(str(value))  # a partner's words, in a line of several


def _structured(value: list | dict, t: Words) -> str:
    """A list or an object a correction sets (a checklist, work items, parts, a price) as
    the timeline says them, never as JSON."""
    if isinstance(value, dict):
        return _part(value, t)
    said = [_part(v, t) if isinstance(v, dict) else _shown(v, t) for v in value]
    return "; ".join(said) or t("field_none")


def _part(part: dict[str, Any], t: Words) -> str:
    """One object of a record (a checklist item, a part, an amount) as the timeline says
    it; one of another shape as "label: value" pairs."""
    if isinstance(part.get("code"), str) and isinstance(part.get("result"), str):
        note = f" ({isolated(str(part['note']))})" if part.get("note") else ""
        return f"{isolated(part['code'])}: {t.term('result', part['result'])}{note}"
    if isinstance(part.get("description"), str):
        return isolated(part["description"])
    if isinstance(part.get("sha256"), str):  # an attachment
        return isolated(str(part.get("name") or part.get("media_type") or part["sha256"]))
    if isinstance(part.get("name"), str):  # a part
        return f"{isolated(part['name'])} × {part.get('quantity', 1)}"
    if set(part) == {"amount", "currency"}:
        return f"{part['amount']} {part['currency']}"
    if isinstance(part.get("id"), str) and set(part) <= {"id", "params"}:  # a policy
        return t.term("policy", part["id"])
    return t("list_sep").join(
        t("field_set", field=t.term("field", k), value=_shown(v, t)) for k, v in part.items()
    )


# The fixed vocabulary a field's values come from, by the kind of record it is in (a
# dispute's status is not a recall's), where the page has words for them.
_VOCABULARIES = {
    "cause": "cause",
    "severity": "severity",
    "source": "source",
    "brand": "brand",
    "policy": "policy",
}
_KIND_VOCABULARIES = {
    ("recall", "status"): "status",
    ("dispute", "status"): "dispute_status",
    ("registration", "event"): "event",
}


def _value(kind: str | None, name: str, value: Any, t: Words) -> str:
    """A value a correction sets, in words where it is a fixed vocabulary's (a severity,
    a cause, a policy); anything else as ``_shown`` says it."""
    vocabulary = _KIND_VOCABULARIES.get((kind, name)) or _VOCABULARIES.get(name)
    if vocabulary and isinstance(value, str):
        return t.term(vocabulary, value)
    if name == "areas" and isinstance(value, list) and all(isinstance(a, str) for a in value):
        return t("list_sep").join(t.term("area", a) for a in value)
    if name == "flags" and isinstance(value, dict):  # as the timeline says an inspection's
        found = [t.term("flag", f) for f, on in value.items() if on]
        return t("list_sep").join(found) or t("field_none")
    if name == "odometer_km" and value is not None:
        return reading_text(value, t)
    if isinstance(value, (dict, list)):
        return _structured(value, t)
    return _shown(value, t)


# A field whose label depends on the kind of record it is in (a workshop's items are the
# work it did, an inspection's its checklist).
_KIND_LABELS = {("maintenance", "items"): "work"}


def _changes(kind: str | None, fields: dict[str, Any], t: Words, said: str) -> str:
    """What a correction of an entry of ``kind`` sets, each field under the label the
    timeline gives it (its name where it has none), in ``said``'s words ("{field} →
    {value}")."""
    return t("list_sep").join(
        t(
            said,
            field=t.term("field", _KIND_LABELS.get((kind, name), name)),
            value=_value(kind, name, value, t),
        )
        for name, value in fields.items()
    )


def _details(
    kind: str,
    rec: dict[str, Any],
    t: Words,
    names: dict[str, str],
    kinds: dict[int, str] | None = None,
    signer: dict[str, Any] | None = None,
    decided: str | None = None,
) -> list[tuple[str, str, str | None]]:
    """(label, value, language) lines that say what an entry records; the language is
    None for the page's own, "en" for the ledger's English words on a page in another
    (``decided``: a claim decision said in the page's words). ``names`` maps the actor IDs
    of the history's signers to their names: a record that names a partner by its ID
    (a shop, a provider, a dealer) shows the name, and free text stays as written. Only
    a partner naming itself (or the operator naming one) gets the name: another partner's
    ID in a record is shown as written, so no one can pass an entry off as Bosch's.
    ``kinds`` maps the history's log indexes to their kinds, for what a correction
    changes. The entry a record refers to is linked by ``_refers``, not here."""
    out: list[tuple[str, str, str | None]] = []

    def actor(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if signer is not None and value != signer["id"] and signer.get("role") != "operator":
            return value
        return names.get(value, value)

    def policy(value: str) -> str:
        return t.term("policy", value)

    def add(key: str, value: Any, lang: str | None = None) -> None:
        if value not in (None, "", [], {}):
            out.append((t(f"field_{key}"), str(value), lang))

    def component(value: Any) -> Any:
        return t.term("component", value) if isinstance(value, str) else value

    if kind == "inspection":
        add("provider", actor(rec.get("provider")))
        add("grade", rec.get("grade"))
        flags = [t.term("flag", f) for f, on in rec.get("flags", {}).items() if on]
        failed = [isolated(i["code"]) for i in failed_items(rec)]
        add(
            "flags",
            t("list_sep").join(flags)
            or (t("field_flags_failed", items=t("list_sep").join(failed)) if failed else None)
            or t("field_none"),
        )
        findings = [
            f"{isolated(i['code'])}: {t.term('result', i['result'])}"
            + (f" ({isolated(i['note'])})" if i.get("note") else "")
            for i in rec.get("items", [])
            if i["result"] != "ok"
        ]
        add("findings", "; ".join(findings))
    elif kind == "maintenance":
        add("shop", actor(rec.get("shop")))
        add("work", "; ".join(isolated(i["description"]) for i in rec.get("items", [])))
        add(
            "parts",
            ", ".join(
                f"{isolated(p['name'])} × {p.get('quantity', 1)}" for p in rec.get("parts", [])
            ),
        )
        if cost := rec.get("cost"):
            add("cost", f"{cost['amount']} {cost['currency']}")
    elif kind == "odometer":
        add("source", t.term("source", rec["source"]) if rec.get("source") else None)
    elif kind == "insurance_claim":
        add("cause", t.term("cause", rec.get("cause", "collision")))
        add("severity", t.term("severity", rec["severity"]) if rec.get("severity") else None)
        add("areas", t("list_sep").join(t.term("area", a) for a in rec.get("areas", [])))
        flags = [
            t.term("flag", f)
            for f, key in (("structural", "structural"), ("airbag", "airbag_deployed"))
            if rec.get(key)
        ]
        add("flags", t("list_sep").join(flags))
        if rec.get("total_loss"):
            add("total_loss", t("yes"))
    elif kind == "title_brand":
        out.append((t("kind_title_brand"), t.term("brand", rec["brand"]), None))
        add("jurisdiction", rec.get("jurisdiction"))
        add("note", rec.get("note"))
    elif kind == "transfer":
        add("jurisdiction", rec.get("jurisdiction"))
    elif kind == "registration":
        add("event", t.term("event", rec["event"]) if rec.get("event") else None)
        add("country", rec.get("country"))
        add("jurisdiction", rec.get("jurisdiction"))
        add("first_registered", _day_text(rec.get("first_registered"), t))
    elif kind == "sale":
        add("dealer", actor(rec.get("dealer")))
        if price := rec.get("price"):
            add("price", f"{price['amount']} {price['currency']}")
        add("policies", t("list_sep").join(policy(p["id"]) for p in rec.get("policies", [])))
    elif kind == "recall":
        add("campaign", rec.get("campaign"))
        add("component", rec.get("component"))
        add("description", rec.get("description"))
        add("status", t.term("status", rec["status"]) if rec.get("status") else None)
    elif kind in ("return_request", "warranty_claim"):
        add("policy", policy(rec["policy"]) if rec.get("policy") else None)
        add("component", component(rec.get("component")))
        add("reason", rec.get("reason") or rec.get("description"))
    elif kind == "claim_decision":
        out.append((t("field_decision"), t("approved" if rec["approved"] else "denied"), None))
        add("policy", f"{policy(rec['policy'])} v{rec['policy_version']}")
        if decided:  # what was signed stays beside it, in the ledger's English
            add("reason", decided)
            add("original", rec.get("reason"), "en")
        else:
            add("reason", rec.get("reason"))
    elif kind == "correction":
        corrected = (kinds or {}).get(rec.get("corrects"))
        add("reason", rec.get("reason"))
        add("fields", _changes(corrected, rec.get("fields", {}), t, "field_change"))
    elif kind == "dispute":
        add("reason", rec.get("reason"))
        add("status", t.term("dispute_status", rec.get("status", "open")))
    elif kind == "complaint":
        add("dealer", actor(rec.get("dealer")))
        add("summary", rec.get("summary"))
        upheld = t("field_yes" if rec.get("upheld", True) else "field_no")
        out.append((t("field_upheld"), upheld, None))
    return out


def _refers(kind: str, rec: dict[str, Any], t: Words) -> dict[str, Any] | None:
    """The earlier entry a record is about, to link to: what a correction corrects, what
    a dispute disputes (or resolves the dispute of), the sale a complaint names."""
    if kind == "correction":
        return {"index": rec["corrects"], "text": t("corrects", index=rec["corrects"])}
    if kind == "dispute":
        said = "dispute_resolves" if rec.get("status") == "resolved" else "disputes"
        return {"index": rec["disputes"], "text": t(said, index=rec["disputes"])}
    if kind == "complaint" and rec.get("sale") is not None:
        return {"index": rec["sale"], "text": t("complaint_sale", index=rec["sale"])}
    return None


# Logged longer than this after the date it gives, an entry is marked, and counted in a
# note at the top: a history back-dated today reads as tidy as one logged as it happened
# (a registry loading its archive is late too; the page says when, not why).
LATE_LOGGING_DAYS = 90


def _in_force(e: dict[str, Any], fixes: list[dict[str, Any]]) -> tuple[dict, int | None]:
    """An entry's record as the view reads it, its ``fixes`` (the corrections of it the
    view applied, in log order) applied field by field; and the last of them that gave
    it a date, or None."""
    rec, dated = dict(e["record"]), None
    for fix in fixes:
        rec.update(fix["record"]["fields"])
        if "occurred_at" in fix["record"]["fields"]:
            dated = fix["index"]
    return rec, dated


def _logged(
    e: dict[str, Any], fixes: list[dict[str, Any]], t: Words, zone: str = "UTC"
) -> dict[str, Any] | None:
    """When the ledger logged an entry (its clock, not the signer's word), its day in
    ``zone`` (the ledger's time zone, as the timeline's dates), and, if that
    was more than ``LATE_LOGGING_DAYS`` after the date in force (the signed one, or the
    one the last of its ``fixes`` to date it gives: back-dating by a correction is
    back-dating too), how late."""
    if not e.get("sequenced_at"):
        return None
    rec, dated = _in_force(e, fixes)
    logged = parse_time(e["sequenced_at"])
    try:
        late = logged - parse_time(rec["occurred_at"])
    except InvalidRecord:  # a corrected date an older log holds that does not parse
        late = timedelta(0)
    said = {"days": f"{late.days:,}"}
    if dated is not None:
        said["index"] = dated
    return {
        "at": e["sequenced_at"],
        "text": t("logged_on", date=t.date(_local_day(logged, zone))),
        "late": (
            t.count("logged_late" if dated is None else "logged_late_corrected", late.days, **said)
            if late > timedelta(days=LATE_LOGGING_DAYS)
            else None
        ),
    }


def _local_day(at: datetime, zone: str) -> date:
    """The calendar day of ``at`` in ``zone``: the ledger's time zone, the one its
    guarantees count days in (config.json's ``time_zone``)."""
    return at.astimezone(ZoneInfo(zone)).date()


def _day_said(text: Any, zone: str) -> str:
    """A record's time as the timeline dates it: its YYYY-MM-DD day in ``zone``; a time an
    older log holds that does not parse, its first ten characters as written."""
    try:
        return _local_day(parse_time(text), zone).isoformat()
    except InvalidRecord:
        return str(text)[:10]


def _date(e: dict[str, Any], fixes: list[dict[str, Any]], t: Words, zone: str) -> str:
    """The date an entry's header shows: the one in force, with the signed one beside it
    when a correction changed it (as ``_km`` does the reading)."""
    signed = _day_said(e["record"]["occurred_at"], zone)
    now = _day_said(_in_force(e, fixes)[0]["occurred_at"], zone)
    return now if now == signed else t("date_corrected", date=now, was=signed)


def _marked(
    now: list[tuple[str, str, str | None]],
    signed: list[tuple[str, str, str | None]],
    t: Words,
) -> list[tuple[str, str, str | None]]:
    """The lines of a corrected entry in force (``now``), each whose value a correction
    changed marked with what was signed; a line the correction took away stays, said
    removed."""
    was = {label: value for label, value, _ in signed}
    out = []
    for label, value, lang in now:
        if label not in was:
            out.append((label, t("value_corrected", value=value, was=t("field_none")), lang))
        elif was[label] != value:
            out.append((label, t("value_corrected", value=value, was=was[label]), lang))
        else:
            out.append((label, value, lang))
    shown = {label for label, _, _ in now}
    for label, value, lang in signed:
        if label not in shown:
            out.append((label, t("value_corrected", value=t("field_removed"), was=value), lang))
    return out


def _km(e: dict[str, Any], fixes: list[dict[str, Any]], t: Words) -> str:
    """The reading an entry's header shows: the one in force, with the signed one beside
    it when a correction changed or removed it."""
    signed, now = e["record"].get("odometer_km"), _in_force(e, fixes)[0].get("odometer_km")
    if now == signed:
        return reading_text(now, t) if now is not None else ""
    if now is None:
        return t("km_removed", was=reading_text(signed, t))
    if signed is None:
        return reading_text(now, t)
    return t("km_corrected", km=reading_text(now, t), was=reading_text(signed, t))


def _revoked(e: dict[str, Any], t: Words, zone: str = "UTC") -> str | None:
    """What to say of an entry whose key was revoked after it was signed (a stolen key's
    entries may not be its partner's): when (the day in ``zone``), and the operator's
    reason."""
    revoked = e.get("key_revoked")
    if not revoked:
        return None
    on = t.date(_local_day(parse_time(revoked["at"]), zone))
    return t("key_revoked_later", date=on, reason=isolated(revoked["reason"]))


def _notes(timeline: list[dict[str, Any]], t: Words) -> list[dict[str, Any]]:
    """The notes under the verdict: the entries logged late, those signed with a key
    revoked later; each {"text", "entries"} (log indexes, oldest first)."""
    late = sorted(i["index"] for i in timeline if i["logged"] and i["logged"]["late"])
    revoked = sorted(i["index"] for i in timeline if i["revoked"])
    notes = []
    if late:
        said = t.count("late_note", len(late), days=LATE_LOGGING_DAYS)
        notes.append({"id": "late", "text": said, "entries": late})
    if revoked:
        notes.append(
            {"id": "revoked", "text": t.count("revoked_note", len(revoked)), "entries": revoked}
        )
    return notes


def logged_words(t: Words) -> dict[str, str]:
    """The words ``_logged`` and ``_revoked`` say an entry's logging in, as templates
    (``{date}``, ``{days}``...): the page hands them to its script, which checks what the
    page shows of each entry against the bundle it verified (api/static/verify.js)."""
    keys = ("logged_on", "date", "months", "key_revoked_later")
    counted = ("logged_late", "logged_late_corrected")
    return {k: t(k) for k in keys} | {
        f"{k}_{n}": t(f"{k}_{n}") for k in counted for n in ("one", "other")
    }


def _day_text(text: Any, t: Words) -> str | None:
    """A YYYY-MM-DD day as the reader writes it; anything else as written."""
    try:
        return t.date(date.fromisoformat(text)) if isinstance(text, str) else None
    except ValueError:
        return text


def registrations_text(registered: dict[str, Any] | None, t: Words) -> str | None:
    """Where the car is and was registered, for the summary (``core.registrations``):
    "first registered 10 Mar 2022; in CN from 10 Mar 2022 to 20 Jan 2025 (exported); in
    DE since 1 Feb 2025". None when no registry recorded a registration."""
    if not registered or not registered.get("periods"):
        return None
    said = []
    if (first := registered.get("first_registered")) and first["date"] is not None:
        said.append(t("registrations_first", date=_day_text(first["date"], t)))
    elif first and first.get("before"):  # an earlier period's start is not on record
        said.append(t("registrations_first_before", date=_day_text(first["before"], t)))
    for p in registered["periods"]:
        country = p["country"]
        if p["until"] is None:
            said.append(t("registrations_since", country=country, date=_day_text(p["from"], t)))
            continue
        ended = t.term("ended", p["ended"])
        until = _day_text(p["until"], t)
        if p["from"] is None:
            said.append(t("registrations_until", country=country, until_date=until, ended=ended))
        else:
            said.append(
                t(
                    "registrations_from_to",
                    country=country,
                    from_date=_day_text(p["from"], t),
                    until_date=until,
                    ended=ended,
                )
            )
    return t("items_sep").join(said)


def last_trusted(odometer: dict[str, Any], t: Words) -> dict[str, Any] | None:
    """The reading a buyer can rely on when the last one is not it (a rollback, an
    "odometer not actual" brand or a dispute came in between); None when it is."""
    readings, trusted = odometer["readings"], odometer.get("last_trusted")
    if not readings or (trusted and trusted["index"] == readings[-1]["index"]):
        return None
    if trusted is None:
        return {"km": t("last_trusted_none"), "index": None}
    return {"km": km_text(trusted["km"], t), "index": trusted["index"]}


def page_model(
    history: dict[str, Any],
    t: Words,
    as_of: datetime | None = None,
    held: Callable[[str], bool] = lambda sha256: False,
    policies: Mapping[str, Any] | None = None,
    zone: str = "UTC",
) -> dict:
    """The page in ``t``'s language; ``held`` says whether an attachment can be downloaded;
    ``policies``: the policy plugins installed, by id (a term whose plugin is not among
    them is said to decide no claim for now), None when not known; ``zone``: the ledger's
    time zone (config.json's ``time_zone``), the one its dates are days in, as its
    guarantees' are."""
    as_of = as_of or datetime.now(UTC)
    view = history["view"]
    entries = history["entries"]
    corrections: dict[int, list[dict[str, Any]]] = {}
    for e in entries:
        if e["kind"] == "correction":
            corrections.setdefault(e["record"]["corrects"], []).append(e)
    rollbacks = [a for a in view["alerts"] if a["type"] == "odometer_rollback"]
    rollback_low = {a["entries"][1] for a in rollbacks}
    # Said in words beside the reading, not only by the red line the page draws (and in
    # the chart's label, which is all a screen reader gets of it).
    lower_than = {
        a["entries"][1]: t(
            "backwards_note", from_km=reading_text(a["facts"]["from_km"], t), index=a["entries"][0]
        )
        for a in rollbacks
    }
    ignored = {a["entries"][0] for a in view["alerts"] if a["type"] == "correction_not_applied"}
    applied = {
        index: [c for c in fixes if c["index"] not in ignored]
        for index, fixes in corrections.items()
    }
    disputed = {d["index"] for d in view.get("disputed", [])}
    first_dispute = {d["index"]: d["disputes"][0]["index"] for d in view.get("disputed", [])}
    names = {e["signer"]["id"]: e["signer"]["name"] for e in entries}
    kinds = {e["index"]: e["kind"] for e in entries}
    by_index = {e["index"]: e for e in entries}
    timeline = []
    # The values in force: a corrected entry reads as the view reads it, what was signed
    # beside each value a correction changed.
    in_force = {e["index"]: _in_force(e, applied.get(e["index"], []))[0] for e in entries}

    def dated(index: int) -> datetime:
        try:
            return parse_time(in_force[index]["occurred_at"])
        except InvalidRecord:  # a corrected date an older log holds that does not parse
            return parse_time(by_index[index]["record"]["occurred_at"])

    when = {e["index"]: dated(e["index"]) for e in entries}
    for e in entries:
        rec = in_force[e["index"]]

        def details(rec: dict[str, Any], e: dict[str, Any] = e) -> list:
            return _details(
                e["kind"],
                rec,
                t,
                names,
                kinds,
                e["signer"],
                decision_said(e, by_index, t) if e["kind"] == "claim_decision" else None,
            )

        shown = details(rec)
        if applied.get(e["index"]):
            shown = _marked(shown, details(e["record"]), t)
        timeline.append(
            {
                "index": e["index"],
                "date": _date(e, applied.get(e["index"], []), t, zone),
                "km": _km(e, applied.get(e["index"], []), t),
                "kind": e["kind"],
                "kind_label": t(f"kind_{e['kind']}"),
                "signer": t(
                    "signed_by", name=e["signer"]["name"], role=t(f"role_{e['signer']['role']}")
                ),
                "details": shown,
                # A provider's reading is the ledger's plugin's, not the partner's words.
                "converted": (
                    t("converted_by", provider=e["derived"]["provider"])
                    if "provider" in e.get("derived", {})
                    else None
                ),
                "attachments": [
                    {**a, "held": held(a["sha256"])} for a in rec.get("attachments", [])
                ],
                "refers": _refers(e["kind"], rec, t),
                "corrected_by": [
                    t(
                        "corrected_by",
                        index=c["index"],
                        name=isolated(c["signer"]["name"]),
                        reason=isolated(c["record"]["reason"]),
                    )
                    + " — "
                    + (
                        t("correction_ignored")  # the view did not apply it either
                        if c["index"] in ignored
                        else _changes(e["kind"], c["record"]["fields"], t, "field_set")
                    )
                    for c in corrections.get(e["index"], [])
                ],
                "backwards": e["index"] in rollback_low,
                "backwards_note": lower_than.get(e["index"], ""),
                "disputed": e["index"] in disputed,
                "logged": _logged(e, applied.get(e["index"], []), t, zone),
                "revoked": _revoked(e, t, zone),
            }
        )
    vehicle = history["vehicle"]
    owners = view["owners"]["count"]
    latest = view.get("latest_inspection")
    last_km = view["odometer"]["last_km"]
    return {
        "vin": history["vin"],
        "vehicle": {**vehicle, "country": vehicle["country"] and t.country(vehicle["country"])},
        "alerts": headline(view["alerts"], t, zone),
        "notes": _notes(timeline, t),
        "latest_grade": latest["grade"] if latest else None,
        "latest_grade_index": latest["index"] if latest else None,
        "last_km": km_text(last_km, t) if last_km is not None else None,
        "owners": owners,
        "registrations": registrations_text(view.get("registrations"), t),
        "last_trusted": last_trusted(view["odometer"], t),
        "count": len(entries),
        # What the script needs to check the logged dates, late notes and revoked-key
        # marks it sees against the bundle: the one threshold, and the words they are in.
        "late_days": LATE_LOGGING_DAYS,
        # The zone the timeline's days are in, said once above it, and handed to the
        # script, which says the days entries were logged in it too.
        "time_zone": zone,
        "zone_said": (
            t("dates_zone_utc") if zone == "UTC" else t("dates_zone", zone=t.term("zone", zone))
        ),
        "logged_words": logged_words(t),
        "terms": terms_shown(entries, view.get("sales", []), first_dispute, as_of, t, policies),
        # Newest first, as buyers read, by when each happened (then by log order): a
        # partner's history loaded late (a registry's migration) falls into its place.
        "timeline": sorted(
            timeline,
            key=lambda item: (when[item["index"]], item["index"]),
            reverse=True,
        ),
        "chart": odometer_svg(
            view["odometer"]["readings"],
            rollback_low,
            t,
            [alert_text(a, t) for a in rollbacks],
            {actor: isolated(name) for actor, name in names.items()},
            zone,
        ),
    }
