"""What the buyer's page shows, built from a vehicle's history; and its pictures.

``page_model`` turns ``Ledger.history`` (entries plus the derived view) into what the
templates print, in the reader's language. The odometer chart, the QR code and the
listing badge are SVG drawn here, on the server: the page makes no request to anyone
but this ledger.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from html import escape
from typing import Any

import segno

from api.i18n import Words
from core.records import parse_time

# One colour per source of readings; the chart's legend says which is which.
SOURCE_COLOURS = {
    "inspection": "#1f6feb",
    "maintenance": "#2da44e",
    "sale": "#bf8700",
    "odometer": "#6e7781",
    "insurance_claim": "#8250df",
    "title_brand": "#6e7781",
    "transfer": "#6e7781",
    "recall": "#6e7781",
}


def _time(text: str) -> datetime:
    return parse_time(text)


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
    return str(value)


def _reading(value: Any, t: Words) -> str:
    """A reading an alert names: km if it is a number, else as an older log holds it."""
    return _km(value, t) if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _km(value: int, t: Words) -> str:
    return f"{value:,} km" if t.lang == "en" else f"{value:,} 公里"


def alert_text(alert: dict[str, Any], t: Words) -> str:
    facts = alert.get("facts", {})
    kind = alert["type"]
    if kind == "odometer_rollback":
        return t(
            "alert_odometer_rollback", from_km=f"{facts['from_km']:,}", to_km=f"{facts['to_km']:,}"
        )
    if kind.startswith("title_brand_"):
        return t("alert_title_brand", brand=t.term("brand", facts["brand"]))
    if kind.endswith("_damage"):
        return t("alert_damage", flag=t.term("flag", facts["flag"]))
    if kind == "recall_open":
        return t("alert_recall_open", **facts)
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
            from_km=t("field_none") if was is None else _reading(was, t),
            to_km=t("field_removed") if now is None else _reading(now, t),
        )
    return t(f"alert_{kind}")


def _state(alert_type: str) -> bool:
    """A state of the car (flood damage, a title brand) that later reports repeat; an
    event (a collision an insurer paid, an airbag that went off) happens each time."""
    return (
        alert_type.endswith("_damage")
        or alert_type.startswith("title_brand_")
        or (alert_type == "total_loss")
    )


def headline(alerts: list[dict[str, Any]], t: Words) -> list[dict[str, Any]]:
    """The verdict's lines, one per problem, worst first as the alerts come.

    The same fact reported by several entries (an insurer's flood claim and an
    inspection's flood flag) is one problem with its reports counted, not two: alerts
    of one type with the same facts, each resting on one entry and stating what the car
    is (damaged, branded), make one line. An event (a collision an insurer paid) and an
    alert that relates entries (a rollback between two readings, a gap between two
    services) are each a problem of their own. Each entry keeps its own marking in the timeline.
    """
    lines: dict[Any, dict[str, Any]] = {}
    for i, a in enumerate(alerts):
        facts = json.dumps(a.get("facts", {}), sort_keys=True)
        key = (a["type"], facts) if len(a["entries"]) == 1 and _state(a["type"]) else i
        line = lines.setdefault(
            key, {"alert": a, "severity": a["severity"], "entries": [], "disputed": True}
        )
        line["entries"] += [e for e in a["entries"] if e not in line["entries"]]
        line["disputed"] = line["disputed"] and bool(a.get("disputed"))
        if _rank(a["severity"]) < _rank(line["severity"]):
            line["severity"] = a["severity"]
    out = []
    for line in lines.values():
        fact = alert_text(line["alert"], t)
        if line["disputed"]:  # a fact some report still stands behind is not disputed
            fact += f" ({t('disputed')})"
        reports = len(line["entries"]) if len(line["alert"]["entries"]) == 1 else 1
        out.append(
            {
                "text": t("alert_reports", text=fact, count=reports) if reports > 1 else fact,
                "fact": fact,
                "reports": reports,
                "severity": line["severity"],
                "entries": sorted(line["entries"]) if reports > 1 else line["entries"],
            }
        )
    return out


def _details(
    kind: str, rec: dict[str, Any], t: Words, names: dict[str, str]
) -> list[tuple[str, str]]:
    """(label, value) lines that say what an entry records. ``names`` maps the actor IDs
    of the history's signers to their names: a record that names a partner by its ID
    (a shop, a provider, a dealer) shows the name, and free text stays as written."""
    out: list[tuple[str, str]] = []

    def actor(value: Any) -> Any:
        return names.get(value, value) if isinstance(value, str) else value

    def policy(value: str) -> str:
        return t.term("policy", value)

    def add(key: str, value: Any) -> None:
        if value not in (None, "", [], {}):
            out.append((t(f"field_{key}"), str(value)))

    if kind == "inspection":
        add("provider", actor(rec.get("provider")))
        add("grade", rec.get("grade"))
        flags = [t.term("flag", f) for f, on in rec.get("flags", {}).items() if on]
        add("flags", t("list_sep").join(flags) or t("field_none"))
        findings = [
            f"{i['code']}: {t.term('result', i['result'])}"
            + (f" ({i['note']})" if i.get("note") else "")
            for i in rec.get("items", [])
            if i["result"] != "ok"
        ]
        add("findings", "; ".join(findings))
    elif kind == "maintenance":
        add("shop", actor(rec.get("shop")))
        add("work", "; ".join(i["description"] for i in rec.get("items", [])))
        add(
            "parts",
            ", ".join(f"{p['name']} × {p.get('quantity', 1)}" for p in rec.get("parts", [])),
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
        out.append((t("kind_title_brand"), t.term("brand", rec["brand"])))
        add("jurisdiction", rec.get("jurisdiction"))
        add("note", rec.get("note"))
    elif kind == "transfer":
        add("jurisdiction", rec.get("jurisdiction"))
    elif kind == "sale":
        add("dealer", actor(rec.get("dealer")))
        if price := rec.get("price"):
            add("price", f"{price['amount']} {price['currency']}")
        add("policies", t("list_sep").join(policy(p["id"]) for p in rec.get("policies", [])))
    elif kind == "recall":
        add("campaign", rec.get("campaign"))
        add("component", rec.get("component"))
        add("status", t.term("status", rec["status"]) if rec.get("status") else None)
    elif kind in ("return_request", "warranty_claim"):
        add("policy", policy(rec["policy"]) if rec.get("policy") else None)
        add("component", rec.get("component"))
        add("reason", rec.get("reason") or rec.get("description"))
    elif kind == "claim_decision":
        out.append((t("field_decision"), t("approved" if rec["approved"] else "denied")))
        add("policy", f"{policy(rec['policy'])} v{rec['policy_version']}")
        add("reason", rec.get("reason"))
    elif kind == "correction":
        add("reason", rec.get("reason"))
        add("fields", ", ".join(f"{k} → {_shown(v, t)}" for k, v in rec.get("fields", {}).items()))
    return out


def _terms(
    entries: list[dict[str, Any]], sales: list[dict[str, Any]], as_of: datetime, t: Words
) -> list[dict[str, Any]]:
    """Each policy attached at a sale, as its plugin stated it when the sale was logged;
    none is in force once an approved return undid the sale."""
    returned = {s["index"]: s["returned"] for s in sales if s.get("returned") is not None}
    terms = []
    for e in entries:
        for term in e.get("derived", {}).get("terms", []):
            parts = []
            if term["ends"] is not None:  # the last day it holds, to its end in UTC
                parts.append(t("terms_until", date=t.date(date.fromisoformat(term["ends"]))))
            if term["km_limit"] is not None:
                parts.append(t("terms_km", km=f"{term['km_limit']:,}"))
            ends = term["ends"]
            terms.append(
                {
                    "id": term["policy"],
                    "name": t.term("policy", term["policy"]),
                    "index": e["index"],
                    "dealer": e["signer"]["name"],
                    "limits": ", ".join(parts),
                    "summary": term["summary"],
                    "components": term["components"],
                    "exclusions": term["exclusions"],
                    "active": e["index"] not in returned
                    and (ends is None or ends >= as_of.date().isoformat()),
                    "returned": returned.get(e["index"]),
                }
            )
    return terms


def last_trusted(odometer: dict[str, Any], t: Words) -> dict[str, Any] | None:
    """The reading a buyer can rely on when the last one is not it (a rollback, an
    "odometer not actual" brand or a dispute came in between); None when it is."""
    readings, trusted = odometer["readings"], odometer.get("last_trusted")
    if not readings or (trusted and trusted["index"] == readings[-1]["index"]):
        return None
    if trusted is None:
        return {"km": t("last_trusted_none"), "index": None}
    return {"km": _km(trusted["km"], t), "index": trusted["index"]}


def page_model(
    history: dict[str, Any],
    t: Words,
    as_of: datetime | None = None,
    held: Callable[[str], bool] = lambda sha256: False,
) -> dict:
    """The page in ``t``'s language; ``held`` says whether an attachment can be downloaded."""
    as_of = as_of or datetime.now(UTC)
    view = history["view"]
    entries = history["entries"]
    corrections: dict[int, list[dict[str, Any]]] = {}
    for e in entries:
        if e["kind"] == "correction":
            corrections.setdefault(e["record"]["corrects"], []).append(e)
    rollback_low = {a["entries"][1] for a in view["alerts"] if a["type"] == "odometer_rollback"}
    disputed = {d["index"] for d in view.get("disputed", [])}
    names = {e["signer"]["id"]: e["signer"]["name"] for e in entries}
    timeline = []
    for e in entries:
        rec = e["record"]
        timeline.append(
            {
                "index": e["index"],
                "date": rec["occurred_at"][:10],
                "km": _km(rec["odometer_km"], t) if rec.get("odometer_km") is not None else "",
                "kind": e["kind"],
                "kind_label": t(f"kind_{e['kind']}"),
                "signer": t(
                    "signed_by", name=e["signer"]["name"], role=t(f"role_{e['signer']['role']}")
                ),
                "details": _details(e["kind"], rec, t, names),
                "attachments": [
                    {**a, "held": held(a["sha256"])} for a in rec.get("attachments", [])
                ],
                "corrects": rec.get("corrects") if e["kind"] == "correction" else None,
                "corrected_by": [
                    t(
                        "corrected_by",
                        index=c["index"],
                        name=c["signer"]["name"],
                        reason=c["record"]["reason"],
                    )
                    + " — "
                    + ", ".join(f"{k}: {_shown(v, t)}" for k, v in c["record"]["fields"].items())
                    for c in corrections.get(e["index"], [])
                ],
                "backwards": e["index"] in rollback_low,
                "disputed": e["index"] in disputed,
            }
        )
    vehicle = history["vehicle"]
    owners = view["owners"]["count"]
    latest = view.get("latest_inspection")
    last_km = view["odometer"]["last_km"]
    return {
        "vin": history["vin"],
        "vehicle": {**vehicle, "country": vehicle["country"] and t.country(vehicle["country"])},
        "alerts": headline(view["alerts"], t),
        "latest_grade": latest["grade"] if latest else None,
        "latest_grade_index": latest["index"] if latest else None,
        "last_km": _km(last_km, t) if last_km is not None else None,
        "owners": owners,
        "last_trusted": last_trusted(view["odometer"], t),
        "count": len(entries),
        "terms": _terms(entries, view.get("sales", []), as_of, t),
        "timeline": list(reversed(timeline)),  # newest first, as buyers read
        "chart": odometer_svg(view["odometer"]["readings"], rollback_low, t),
    }


def odometer_svg(readings: list[dict[str, Any]], backwards: set[int], t: Words) -> str:
    """Every reading over time, coloured by source; readings that went back are ringed.

    The drawing is 320 units wide, about as wide as it shows on a phone, so its
    11-unit labels read at 11 pixels or more there; the legend is HTML under it, where
    it wraps on a narrow screen and says what the colours and the red ring mean.
    """
    if not readings:
        return ""
    width, height, left, right, top, bottom = 320, 190, 50, 8, 12, 28
    times = [_time(r["occurred_at"]).timestamp() for r in readings]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 86_400.0
    most = max(r["km"] for r in readings)
    top_km = most * 1.1 or 1

    def x(ts: float) -> float:
        return left + (ts - t0) / span * (width - left - right) if t1 > t0 else width / 2

    def y(km: float) -> float:
        return top + (1 - km / top_km) * (height - top - bottom)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(t("odometer"))}" class="odometer-chart">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" '
        'stroke="#8c959f"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0):.1f}" stroke="#8c959f"/>',
    ]
    for frac in (0, 0.5, 1):
        km = round(most * frac)  # not top_km / 1.1: 30,700 came out as 30,699
        parts.append(
            f'<text x="{left - 5}" y="{y(km) + 4:.1f}" text-anchor="end" font-size="11">'
            f"{km:,}</text>"
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" font-size="11">{readings[0]["occurred_at"][:10]}'
        f'</text><text x="{width - right}" y="{height - 8}" font-size="11" '
        f'text-anchor="end">{readings[-1]["occurred_at"][:10]}</text>'
    )
    points = " ".join(
        f"{x(ts):.1f},{y(r['km']):.1f}" for ts, r in zip(times, readings, strict=True)
    )
    parts.append(f'<polyline points="{points}" fill="none" stroke="#afb8c1" stroke-width="1"/>')
    for ts, r in zip(times, readings, strict=True):
        colour = SOURCE_COLOURS.get(r["kind"], "#6e7781")
        label = escape(
            f"{r['occurred_at'][:10]} · {r['km']:,} km · {t('kind_' + r['kind'])} · "
            f"{r['signer']} ({t('entry', index=r['index'])})"
        )
        cx, cy = x(ts), y(r["km"])
        if r["index"] in backwards:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" stroke="#cf222e" '
                f'stroke-width="2" class="backwards" data-entry="{r["index"]}">'
                f"<title>{escape(t('odometer_backwards'))}: {label}</title></circle>"
            )
        parts.append(
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{colour}" class="reading" '
            f'data-entry="{r["index"]}" data-km="{r["km"]}"><title>{label}</title></circle>'
        )
    parts.append("</svg>")
    return "".join(parts) + _legend(sorted({r["kind"] for r in readings}), bool(backwards), t)


def _legend(sources: list[str], ringed: bool, t: Words) -> str:
    """The chart's key: a dot in each source's colour, and the red ring if one is drawn."""
    ring = '<circle cx="7" cy="7" r="5.5" fill="none" stroke="#cf222e" stroke-width="2"/>'
    keys = [
        (f'<circle cx="7" cy="7" r="4" fill="{SOURCE_COLOURS.get(k, "#6e7781")}"/>', t("kind_" + k))
        for k in sources
    ]
    if ringed:
        keys.append((ring, t("odometer_backwards")))
    items = "".join(
        f'<li><svg viewBox="0 0 14 14" width="14" height="14" aria-hidden="true">{mark}</svg>'
        f"{escape(label)}</li>"
        for mark, label in keys
    )
    return f'<ul class="chart-legend">{items}</ul>'


def qr_svg(link: str) -> str:
    out = io.BytesIO()
    segno.make(link, error="m").save(
        out, kind="svg", scale=6, border=2, xmldecl=False, svgns=True, title=link
    )
    return out.getvalue().decode()


# A badge's colour says how bad the worst alert is, as the page's verdict does.
SEVERITY_COLOURS = {"high": "#cf222e", "medium": "#9a6700", "low": "#57606a"}
NO_ALERTS_COLOUR = "#1a7f37"
SEVERITIES = ("high", "medium", "low")  # worst first
BADGE_PROBLEMS = 3  # named on the badge; the rest are counted


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def badge_svg(checked: bool, entries: int, alerts: list[dict[str, Any]], vin: str) -> str:
    """A small listing badge, in the style of CI badges: the entries and the problems,
    worst first, coloured by the worst. It claims no verification (the server drew it;
    only the buyer's own check verifies) but says so when the server's own check failed."""
    noun = "entry" if entries == 1 else "entries"
    ranked = sorted(alerts, key=lambda a: _rank(a["severity"]))
    problems = list(dict.fromkeys(a["type"].replace("_", " ") for a in ranked))
    if not entries:  # grey, not green: no records is not a clean history
        right, colour = "no records", SEVERITY_COLOURS["low"]
    elif not checked:
        right, colour = "NOT VERIFIED", SEVERITY_COLOURS["high"]
    elif not problems:
        right, colour = f"{entries} {noun} · no alerts", NO_ALERTS_COLOUR
    else:
        named = ", ".join(problems[:BADGE_PROBLEMS])
        more = f" +{len(problems) - BADGE_PROBLEMS}" if len(problems) > BADGE_PROBLEMS else ""
        right = f"{entries} {noun} · {named}{more}"
        colour = SEVERITY_COLOURS.get(ranked[0]["severity"], SEVERITY_COLOURS["low"])
    title = "; ".join([f"{vin}: {right}", *(f"{a['severity']}: {a['message']}" for a in ranked)])
    left, lw, rw = "vinledger", 70, 8 + round(6.5 * len(right))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" '
        f'aria-label="{escape(left)}: {escape(right)}"><title>{escape(title)}'
        f'</title><rect width="{lw}" height="20" fill="#24292f"/><rect x="{lw}" width="{rw}" '
        f'height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,sans-serif" '
        f'font-size="11"><text x="8" y="14">{escape(left)}</text><text x="{lw + 6}" y="14">'
        f"{escape(right)}</text></g></svg>"
    )
