"""The pictures of a vehicle's history, drawn as SVG on the server: the odometer chart,
the QR code of its page and the listing badge. The page makes no request to anyone but
this ledger.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import segno

from api.i18n import Words
from core.fields import parse_time

# One colour and one shape per source of readings; the chart's legend says which is
# which. The shape tells them apart where colours do not (colour-blind readers, a
# grey print); every colour stands 3:1 or more against white (WCAG 1.4.11).
SOURCE_COLOURS = {
    "inspection": "#1f6feb",
    "maintenance": "#1a7f37",
    "sale": "#9a6700",
    "odometer": "#6e7781",
    "insurance_claim": "#8250df",
    "title_brand": "#6e7781",
    "transfer": "#6e7781",
    "recall": "#6e7781",
}
SOURCE_SHAPES = {
    "inspection": "circle",
    "maintenance": "square",
    "sale": "diamond",
    "odometer": "triangle-down",
    "insurance_claim": "triangle",
}
OTHER_SHAPE = "plus"
# The line joining the readings: #6e7781 is 4.5:1 against white (WCAG 1.4.11 asks 3:1).
LINE_COLOUR = "#6e7781"


def _marker(kind: str, cx: float, cy: float, attrs: str = "", inner: str = "") -> str:
    """A reading's mark, about 7 units across, in its source's colour and shape."""
    colour = SOURCE_COLOURS.get(kind, "#6e7781")
    shape = SOURCE_SHAPES.get(kind, OTHER_SHAPE)
    r = 3.8
    if shape == "circle":
        return (
            f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{r}" fill="{colour}" {attrs}>{inner}</circle>'
        )
    d = {
        "square": f"M{cx - 3.3:.1f},{cy - 3.3:.1f}h6.6v6.6h-6.6z",
        "diamond": f"M{cx:.1f},{cy - 4.6:.1f}l4.6,4.6l-4.6,4.6l-4.6,-4.6z",
        "triangle": f"M{cx:.1f},{cy - 4.4:.1f}l4.4,7.6h-8.8z",
        "triangle-down": f"M{cx:.1f},{cy + 4.4:.1f}l4.4,-7.6h-8.8z",
        "plus": f"M{cx - 1.3:.1f},{cy - 4.2:.1f}h2.6v2.9h2.9v2.6h-2.9v2.9h-2.6v-2.9h-2.9v-2.6h2.9z",
    }[shape]
    return f'<path d="{d}" fill="{colour}" data-shape="{shape}" {attrs}>{inner}</path>'


def km_text(value: int, t: Words) -> str:
    return f"{value:,} km" if t.lang == "en" else f"{value:,} 公里"


# The chart's labels take the page's text colour, which forced-colour (high-contrast)
# modes replace: a fixed fill would vanish on their dark background.
_TEXT = 'font-size="11" fill="currentColor"'


def odometer_svg(
    readings: list[dict[str, Any]],
    backwards: set[int],
    t: Words,
    said: Sequence[str] = (),
    names: Mapping[str, str] | None = None,
    zone: str = "UTC",
) -> str:
    """Every reading over time, its mark's colour and shape by source; readings that went
    back are ringed.
    Its label says how many readings over what time, and ``said`` (the rollbacks, in
    words): a screen reader reads that, not the drawing. Each reading's tooltip names
    its signer as the timeline does, by ``names`` (actor ID to name). Its dates (axis,
    label, tooltips) are days in ``zone``, the ledger's time zone, as the timeline's are.

    The drawing is 320 units wide, about as wide as it shows on a phone, so its
    11-unit labels read at 11 pixels or more there; the legend is HTML under it, where
    it wraps on a narrow screen and says what the colours and the red ring mean.
    """
    if not readings:
        return ""
    from api.pages import _day_said  # the timeline's day; api.pages imports this module

    days = [_day_said(r["occurred_at"], zone) for r in readings]
    width, height, left, right, top, bottom = 320, 190, 50, 8, 12, 28
    times = [parse_time(r["occurred_at"]).timestamp() for r in readings]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 86_400.0
    most = max(r["km"] for r in readings)
    top_km = most * 1.1 or 1

    def x(ts: float) -> float:
        return left + (ts - t0) / span * (width - left - right) if t1 > t0 else width / 2

    def y(km: float) -> float:
        return top + (1 - km / top_km) * (height - top - bottom)

    summary = t(
        "chart_summary",
        count=len(readings),
        first=days[0],
        last=days[-1],
    )
    label = ". ".join([f"{t('odometer')}: {summary}", *said]) + "."
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}" class="odometer-chart">',
        f'<line x1="{left}" y1="{y(0):.1f}" x2="{width - right}" y2="{y(0):.1f}" '
        'stroke="#8c959f"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{y(0):.1f}" stroke="#8c959f"/>',
    ]
    for frac in (0, 0.5, 1):
        km = round(most * frac)  # not top_km / 1.1: 30,700 came out as 30,699
        parts.append(
            f'<text x="{left - 5}" y="{y(km) + 4:.1f}" text-anchor="end" {_TEXT}>{km:,}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{height - 8}" {_TEXT}>{days[0]}'
        f'</text><text x="{width - right}" y="{height - 8}" {_TEXT} '
        f'text-anchor="end">{days[-1]}</text>'
    )
    points = " ".join(
        f"{x(ts):.1f},{y(r['km']):.1f}" for ts, r in zip(times, readings, strict=True)
    )
    parts.append(
        f'<polyline points="{points}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1"/>'
    )
    for ts, r, day in zip(times, readings, days, strict=True):
        signer = (names or {}).get(r["signer"], r["signer"])
        label = escape(
            f"{day} · {km_text(r['km'], t)} · {t('kind_' + r['kind'])} · "
            f"{signer} ({t('entry', index=r['index'])})"
        )
        cx, cy = x(ts), y(r["km"])
        if r["index"] in backwards:
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" stroke="#cf222e" '
                f'stroke-width="2" class="backwards" data-entry="{r["index"]}">'
                f"<title>{escape(t('odometer_backwards'))}: {label}</title></circle>"
            )
        parts.append(
            _marker(
                r["kind"],
                cx,
                cy,
                f'class="reading" data-entry="{r["index"]}" data-km="{r["km"]}"',
                f"<title>{label}</title>",
            )
        )
    parts.append("</svg>")
    return "".join(parts) + _legend(sorted({r["kind"] for r in readings}), bool(backwards), t)


def _legend(sources: list[str], ringed: bool, t: Words) -> str:
    """The chart's key: each mark drawn (its colour and shape) once, and the red ring if
    one is drawn. The sources without a shape of their own share the grey plus, and one
    entry names them all ("Other records: Change of owner, Recall")."""
    ring = '<circle cx="7" cy="7" r="5.5" fill="none" stroke="#cf222e" stroke-width="2"/>'
    marks: dict[str, list[str]] = {}
    for k in sorted(sources, key=lambda k: (k not in SOURCE_SHAPES, k)):  # the plus last
        marks.setdefault(_marker(k, 7, 7), []).append(t("kind_" + k))
    keys = [
        (mark, names[0] if len(names) == 1 else t("chart_other", kinds=t("list_sep").join(names)))
        for mark, names in marks.items()
    ]
    if ringed:
        keys.append((ring, t("odometer_backwards")))
    items = "".join(
        f'<li><svg viewBox="0 0 14 14" width="14" height="14" aria-hidden="true">{mark}</svg>'
        f"{escape(label)}</li>"
        for mark, label in keys
    )
    return f'<ul class="chart-legend">{items}</ul>'


QR_QUIET_ZONE = 4  # modules of light margin ISO/IEC 18004 asks for around the code


def qr_svg(link: str, *, sized: bool = True) -> str:
    """The link as a QR code; ``sized=False``: a viewBox instead of a fixed size, to be
    scaled by the page (the sticker shrinks it to fit a zoomed or narrow screen). Drawn
    on white with its full quiet zone, so a camera reads it on a dark page, under a
    browser's automatic dark mode, or printed on a tinted sticker."""
    out = io.BytesIO()
    segno.make(link, error="m").save(
        out,
        kind="svg",
        scale=6,
        border=QR_QUIET_ZONE,
        light="#fff",
        xmldecl=False,
        svgns=True,
        title=link,
        omitsize=not sized,
    )
    return out.getvalue().decode()


# A badge's colour says how bad the worst alert is, as the page's verdict does.
SEVERITY_COLOURS = {"high": "#cf222e", "medium": "#9a6700", "low": "#57606a"}
NO_ALERTS_COLOUR = "#1a7f37"
SEVERITIES = ("high", "medium", "low")  # worst first
BADGE_PROBLEMS = 3  # named on the badge; the rest are counted


def rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def _problem(kind: str, t: Words) -> str:
    """An alert's type as a badge names it: in English the type itself ("odometer
    rollback"), in another language the page's word for it where it has one."""
    if t.lang == "en":
        return kind.replace("_", " ")
    if t.knows("problem", kind):
        return t.term("problem", kind)
    if kind.startswith("title_brand_"):
        return t("problem_title_brand", brand=t.term("brand", kind.removeprefix("title_brand_")))
    if kind.endswith("_damage"):
        return t("problem_damage", flag=t.term("flag", kind.removesuffix("_damage")))
    return kind.replace("_", " ")


def _text_width(text: str) -> int:
    """About how wide ``text`` draws at 11 px: a Chinese character is twice a letter."""
    return round(sum(11 if unicodedata.east_asian_width(c) in "WF" else 6.5 for c in text))


def badge_svg(
    checked: bool,
    entries: int,
    alerts: list[dict[str, Any]],
    vin: str,
    t: Words | None = None,
    describe: Callable[[dict[str, Any]], str] | None = None,
) -> str:
    """A small listing badge, in the style of CI badges: the entries and the problems,
    worst first, coloured by the worst, in ``t``'s language (English by default);
    ``describe`` says an alert in its title (its message otherwise). It claims no
    verification (the server drew it; only the buyer's own check verifies) but says so
    when the server's own check failed."""
    t = t or Words("en")
    counted = t.count("entries_count", entries)
    ranked = sorted(alerts, key=lambda a: rank(a["severity"]))
    problems = list(dict.fromkeys(_problem(a["type"], t) for a in ranked))
    if not entries:  # grey, not green: no records is not a clean history
        right, colour = t("badge_no_records"), SEVERITY_COLOURS["low"]
    elif not checked:
        right, colour = t("badge_not_verified"), SEVERITY_COLOURS["high"]
    elif not problems:
        right, colour = f"{counted} · {t('badge_no_alerts')}", NO_ALERTS_COLOUR
    else:
        named = t("list_sep").join(problems[:BADGE_PROBLEMS])
        more = f" +{len(problems) - BADGE_PROBLEMS}" if len(problems) > BADGE_PROBLEMS else ""
        right = f"{counted} · {named}{more}"
        colour = SEVERITY_COLOURS.get(ranked[0]["severity"], SEVERITY_COLOURS["low"])
    said = describe or (lambda a: f"{a['severity']}: {a['message']}")
    title = "; ".join([f"{vin}: {right}", *(said(a) for a in ranked)])
    left, lw, rw = "vinledger", 70, 8 + _text_width(right)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + rw}" height="20" role="img" '
        f'aria-label="{escape(left)}: {escape(right)}"><title>{escape(title)}'
        f'</title><rect width="{lw}" height="20" fill="#24292f"/><rect x="{lw}" width="{rw}" '
        f'height="20" fill="{colour}"/><g fill="#fff" font-family="Verdana,sans-serif" '
        f'font-size="11"><text x="8" y="14">{escape(left)}</text><text x="{lw + 6}" y="14">'
        f"{escape(right)}</text></g></svg>"
    )
