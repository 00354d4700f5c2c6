"""The odometer chart dates its readings (axis, label, tooltips) by day in the ledger's
time zone, as the timeline does: a Berlin inspection at 00:30 on 30 Mar 2025 is 30 Mar
on both, not the UTC day before."""

from __future__ import annotations

import re
from html import unescape

from litestar.testing import TestClient

from api.app import create_app
from api.drawings import odometer_svg
from api.i18n import Words
from tests.api.test_pages import entry_block
from tests.conftest import VIN, inspection, onboard
from tests.plugins.test_time_zone import ledger_in, submit

SPRING = "2025-03-29T23:30:00Z"  # 00:30 on 30 Mar 2025 in Berlin (CET)
AUTUMN = "2025-10-25T22:30:00Z"  # 00:30 on 26 Oct 2025 in Berlin (CEST)


def _reading(index: int, at: str, km: int) -> dict:
    return {"index": index, "occurred_at": at, "km": km, "kind": "inspection", "signer": "tuv"}


def _days(svg: str) -> tuple[list[str], list[str]]:
    axis = re.findall(r"<text[^>]*>(\d{4}-\d\d-\d\d)</text>", svg)
    titles = [unescape(t).split(" · ")[0] for t in re.findall(r"<title>([^<]*)</title>", svg)]
    return axis, titles


def test_the_chart_dates_readings_in_its_zone():
    readings = [_reading(1, SPRING, 40_000), _reading(2, AUTUMN, 41_000)]
    berlin = odometer_svg(readings, set(), Words("en"), zone="Europe/Berlin")
    assert _days(berlin) == (["2025-03-30", "2025-10-26"], ["2025-03-30", "2025-10-26"])
    assert "2025-03-30" in re.search(r'aria-label="([^"]*)"', berlin).group(1)
    utc = odometer_svg(readings, set(), Words("en"))  # a UTC ledger's, as before
    assert _days(utc) == (["2025-03-29", "2025-10-25"], ["2025-03-29", "2025-10-25"])


def test_a_berlin_ledgers_chart_says_the_timelines_days(tmp_path, sqlite_url):
    ledger = ledger_in(tmp_path, sqlite_url, "Europe/Berlin")
    try:
        tuv = onboard(ledger, "tuv", "inspector")
        first = submit(ledger, tuv, inspection(km=40_000) | {"occurred_at": SPRING})
        second = submit(ledger, tuv, inspection(km=41_000) | {"occurred_at": AUTUMN})
        with TestClient(create_app(ledger)) as client:
            html = client.get(f"/vehicles/{VIN}?lang=en").text
    finally:
        ledger.close()
    chart = re.search(r"<svg[^>]*odometer-chart.*?</svg>", html, re.S).group(0)
    when = [
        re.search(r'<span class="when">([^<]*)</span>', entry_block(html, i)).group(1)
        for i in (first, second)
    ]
    assert when == ["2025-03-30", "2025-10-26"]
    assert _days(chart) == (when, when)
