"""The page's dates are days in the ledger's time zone, the one its guarantees count days
in, and it says which once: a TÜV inspection at 00:30 Berlin on 7 Jan 2025 is dated 7
Jan on a Berlin ledger's page, as on the inspector's own paper, and a sale at 00:30 on
1 Dec 2026 on 1 Dec, the day its 7-day return counts from. The in-browser check says the
days entries were logged in that zone too."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.api.test_browser import browser, page, verification  # noqa: F401
from tests.api.test_pages import entry_block
from tests.conftest import VIN, inspection, onboard, start_server
from tests.plugins.test_time_zone import ledger_in, submit

TUV = "2025-01-06T23:30:00Z"  # 00:30 on 7 Jan 2025 in Berlin
SOLD = "2026-11-30T23:30:00Z"  # 00:30 on 1 Dec 2026 in Berlin


def _sale() -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": SOLD,
        "odometer_km": 48_500,
        "dealer": "autohaus",
        "policies": [{"id": "return-7d"}],
    }


@pytest.fixture
def berlin(tmp_path, sqlite_url):
    ledger = ledger_in(tmp_path, sqlite_url, "Europe/Berlin")
    yield ledger
    ledger.close()


def _when(html: str, index: int) -> str:
    return re.search(r'<span class="when">([^<]*)</span>', entry_block(html, index)).group(1)


def test_a_berlin_ledgers_page_dates_entries_in_berlin_and_says_so(berlin):
    tuv = onboard(berlin, "tuv-sued", "inspector")
    dealer = onboard(berlin, "autohaus", "dealer")
    inspected = submit(berlin, tuv, inspection(km=40_000) | {"occurred_at": TUV})
    sold = submit(berlin, dealer, _sale())
    with TestClient(create_app(berlin)) as c:
        en = c.get(f"/vehicles/{VIN}?lang=en").text
        zh = c.get(f"/vehicles/{VIN}?lang=zh").text
    assert _when(en, inspected) == "2025-01-07"
    assert _when(en, sold) == "2026-12-01"
    assert "until 8 Dec 2026, 23:59 Europe/Berlin time" in en  # the day the terms count from
    said = re.search(r'<p class="muted" id="dates-zone">([^<]*)</p>', en).group(1)
    assert said == "Dates are days in Europe/Berlin time, the ledger&#39;s time zone", said
    assert 'data-time-zone="Europe/Berlin"' in en
    assert _when(zh, inspected) == "2025-01-07"
    assert "日期均按账本所在时区（Europe/Berlin）计" in zh


def test_a_utc_ledger_says_its_dates_are_utc_days(client, sqlite_ledger):
    tuv = onboard(sqlite_ledger, "tuv-sued", "inspector")
    index = submit(sqlite_ledger, tuv, inspection(km=40_000) | {"occurred_at": TUV})
    html = client.get(f"/vehicles/{VIN}?lang=en").text
    assert _when(html, index) == "2025-01-06"
    assert "Dates are days in UTC, the ledger&#39;s time zone" in html
    assert 'data-time-zone="UTC"' in html


def test_made_in_is_said_as_where_the_car_was_made(client, sqlite_ledger):
    tuv = onboard(sqlite_ledger, "tuv-sued", "inspector")
    submit(sqlite_ledger, tuv, inspection(km=40_000))
    en = client.get(f"/vehicles/{VIN}?lang=en").text
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "<dt>Made in (from the VIN)</dt>" in en and "<dt>Country</dt>" not in en
    assert "<dt>产地（据车架号）</dt>" in zh


@pytest.fixture(scope="module")
def logged_at_night(tmp_path_factory):
    """A served Berlin ledger whose one inspection the ledger logged at 23:30 UTC, 00:30
    or 01:30 the next day in Berlin: (url, index, the Berlin day it was logged)."""
    tmp = tmp_path_factory.mktemp("berlin")
    ledger = ledger_in(tmp, f"sqlite:///{tmp / 'ledger.db'}", "Europe/Berlin")
    now = datetime.now(UTC)
    at = now.replace(hour=23, minute=30, second=0, microsecond=0)
    if at <= now:
        at += timedelta(days=1)
    tuv = onboard(ledger, "tuv-sued", "inspector")
    ledger.clock = lambda: at
    record = inspection(km=40_000) | {"occurred_at": (at - timedelta(hours=1)).isoformat()}
    index = submit(ledger, tuv, {**record, "occurred_at": record["occurred_at"][:19] + "Z"})
    data = ledger.settings.data_dir
    ledger.close()
    proc, url = start_server(data)
    yield url, index, (at + timedelta(hours=2)).date()
    proc.terminate()
    proc.wait(10)


def test_the_browser_checks_the_logged_day_in_the_ledgers_zone(logged_at_night, page):  # noqa: F811
    from api.i18n import Words

    url, index, day = logged_at_night
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    shown = page.inner_text(f"#entry-{index} .logged time")
    assert shown == f"logged {Words('en').date(day)}", shown  # the Berlin day, not UTC's
    assert verification(page) == "verified", page.inner_text("#verification")
    report = page.evaluate("window.vinledger.lastReport")
    assert [f["detail"] for f in report["findings"] if not f["ok"]] == []
