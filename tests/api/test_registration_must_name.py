"""verify.js's mustName names every registered_twice pair the server raises over the
signed records (core/registrations.py), in Chromium as the buyer's page runs it."""

from __future__ import annotations

import json
import os
import pathlib

import pytest

from core.history import analyse
from tests.core.test_registrations import items, reg

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCRIPT = pathlib.Path(__file__).parents[2] / "api" / "static" / "verify.js"

HISTORIES = {
    "clone": [("registered", "CN", "2022-03-10"), ("registered", "DE", "2025-02-01")],
    "both ways": [
        ("registered", "CN", "2022-03-10"),
        ("registered", "DE", "2025-02-01"),
        ("registered", "CN", "2025-06-01"),
    ],
    "handover": [
        ("registered", "DE", "2019-05-01"),
        ("registered", "AT", "2025-03-01"),
        ("exported", "DE", "2025-03-05"),
    ],
    "90 days": [
        ("registered", "DE", "2019-05-01"),
        ("registered", "AT", "2025-03-01"),
        ("deregistered", "DE", "2025-05-30"),
    ],
    "91 days": [
        ("registered", "DE", "2019-05-01"),
        ("registered", "AT", "2025-03-01"),
        ("deregistered", "DE", "2025-05-31"),
    ],
    "same stay twice": [
        ("registered", "CN", "2022-03-10"),
        ("registered", "DE", "2025-02-01"),
        ("registered", "DE", "2025-02-01"),
    ],
    "import": [
        ("registered", "CN", "2022-03-10"),
        ("exported", "CN", "2025-01-20"),
        ("registered", "DE", "2025-02-01"),
    ],
    "same instant, logged after": [
        ("registered", "CN", "2022-03-10"),
        ("registered", "DE", "2025-02-01"),
        ("exported", "CN", "2025-02-01"),
    ],
    "no start, then two": [
        ("exported", "FR", "2020-01-01"),
        ("registered", "JP", "2021-01-01"),
        ("deregistered", "FR", "2021-02-01"),
        ("registered", "US", "2021-09-01"),
        ("deregistered", "JP", "2022-01-01"),
        ("exported", "JP", "2022-02-01"),
    ],
    "before 1970, ended within the handover": [
        ("registered", "DE", "1960-05-01"),
        ("registered", "AT", "1969-09-01T00:00:00Z"),
        ("exported", "DE", "1969-11-30T01:00:00Z"),
    ],
    "before 1970, ended later": [
        ("registered", "DE", "1960-05-01"),
        ("registered", "AT", "1969-09-01T00:00:00Z"),
        ("exported", "DE", "1969-12-01T01:00:00Z"),
    ],
    "registered again in the old stay": [
        ("registered", "DE", "2019-05-01"),
        ("registered", "AT", "2025-03-01"),
        ("registered", "DE", "2025-03-10"),
        ("deregistered", "DE", "2025-03-20"),
    ],
    "registered again in the old stay, no end": [
        ("registered", "DE", "2019-05-01"),
        ("registered", "AT", "2025-03-01"),
        ("registered", "DE", "2025-03-10"),
    ],
    "end logged in time": [
        ("registered", "CN", "2022-03-10", "2022-03-10T01:00:00Z"),
        ("registered", "DE", "2025-02-01", "2025-02-01T01:00:00Z"),
        ("exported", "CN", "2025-04-30", "2025-07-29T00:00:00Z"),
    ],
    "end logged late": [
        ("registered", "CN", "2022-03-10", "2022-03-10T01:00:00Z"),
        ("registered", "DE", "2025-02-01", "2025-02-01T01:00:00Z"),
        ("exported", "CN", "2025-04-30", "2025-07-30T00:00:00Z"),
    ],
    "end dated before, logged late": [
        ("registered", "DE", "2019-05-01", "2019-05-01T01:00:00Z"),
        ("registered", "AT", "2024-01-01", "2024-01-01T01:00:00Z"),
        ("exported", "DE", "2023-12-31", "2026-11-01T00:00:00Z"),
    ],
    "end logged late, before the registration elsewhere": [
        ("registered", "DE", "2019-05-01", "2019-05-01T01:00:00Z"),
        ("exported", "DE", "2023-01-01", "2023-06-01T00:00:00Z"),
        ("registered", "AT", "2024-01-01", "2024-01-01T01:00:00Z"),
    ],
    "end logged late, registered again there": [
        ("registered", "DE", "2019-05-01", "2019-05-01T01:00:00Z"),
        ("exported", "DE", "2023-01-01", "2026-11-01T00:00:00Z"),
        ("registered", "DE", "2023-06-01", "2023-06-01T01:00:00Z"),
        ("exported", "DE", "2023-12-01", "2023-12-01T01:00:00Z"),
        ("registered", "AT", "2024-01-01", "2024-01-01T01:00:00Z"),
    ],
    "three at once, out of log order": [
        ("registered", "JP", "2024-01-01"),
        ("registered", "CN", "2022-03-10"),
        ("registered", "DE", "2023-02-01"),
        ("exported", "CN", "2023-03-01"),
    ],
}


@pytest.fixture(scope="module")
def page():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM}")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        pg = browser.new_page()
        pg.set_content("<!doctype html><html><body></body></html>")
        pg.add_script_tag(content=SCRIPT.read_text())
        yield pg
        browser.close()


def _when(day: str) -> str:
    return day if "T" in day else f"{day}T00:00:00Z"


@pytest.mark.parametrize("name", list(HISTORIES))
def test_must_name_finds_the_pairs_python_raises(page, name):
    rows = HISTORIES[name]
    records = [reg(e, c, _when(d)) for e, c, d, *_ in rows]
    logged = {i: row[3] for i, row in enumerate(rows, start=10) if len(row) > 3}
    found = items(*records)
    for item in found:
        if item["index"] in logged:
            item["sequenced_at"] = logged[item["index"]]
    python = sorted(
        a["entries"] for a in analyse(found)["alerts"] if a["type"] == "registered_twice"
    )
    js = page.evaluate(
        """([recs, logged]) => window.vinledger.mustName(
              new Map(recs.map((r, i) => [i + 10, r])),
              new Map(logged.map(([i, at]) => [i, { at }])))
            .map((m) => m.names)""",
        [json.loads(json.dumps(records)), [[i, at] for i, at in logged.items()]],
    )
    assert sorted(js) == python


def test_an_end_dated_before_the_clone_but_logged_late_is_named(page):
    rows = HISTORIES["end dated before, logged late"]
    records = [reg(e, c, _when(d)) for e, c, d, _ in rows]
    js = page.evaluate(
        """([recs, logged]) => window.vinledger.mustName(
              new Map(recs.map((r, i) => [i + 10, r])),
              new Map(logged.map((at, i) => [i + 10, { at }])))
            .map((m) => m.names)""",
        [json.loads(json.dumps(records)), [row[3] for row in rows]],
    )
    assert js == [[10, 11]]
