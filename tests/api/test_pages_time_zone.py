"""The buyer's page in the ledger's time zone, and in the order things happened: a
guarantee's last day ends at 23:59 where its terms count days (Beijing for a Beijing
ledger), and a history loaded out of order (a registry's migration) reads newest first
by date, not by when it was logged."""

from __future__ import annotations

import re

from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import VIN, onboard
from tests.plugins.test_time_zone import ledger_in, sale, submit


def test_a_beijing_ledgers_guarantees_end_at_midnight_in_beijing(tmp_path, sqlite_url):
    ledger = ledger_in(tmp_path, sqlite_url, "Asia/Shanghai")
    try:
        dealer = onboard(ledger, "hz-motors", "dealer")
        submit(ledger, dealer, sale())
        with TestClient(create_app(ledger)) as c:
            en = c.get(f"/vehicles/{VIN}").text
            zh = c.get(f"/vehicles/{VIN}?lang=zh").text
        assert "until 2 Dec 2026, 23:59 Beijing time (UTC+8)" in en
        assert "至 2026年12月2日 23:59（北京时间，UTC+8）" in zh
        assert "23:59 UTC" not in en and "（UTC）" not in zh
    finally:
        ledger.close()


def test_the_timeline_reads_newest_first_by_date_whatever_the_log_order(client, sqlite_ledger):
    registry = onboard(sqlite_ledger, "kba", "registry")
    days = ["2024-03-01", "2016-12-05", "2020-06-30", "2018-01-15"]  # logged in this order
    for i, day in enumerate(days):
        reading = {"kind": "odometer", "vin": VIN, "occurred_at": f"{day}T10:00:00Z",
                   "odometer_km": 10_000 + 1_000 * i, "source": "registry"}  # fmt: skip
        r = client.post("/records", content=registry.envelope(reading))
        assert r.status_code == 201, r.text
    html = client.get(f"/vehicles/{VIN}").text
    timeline = html[html.index('id="timeline"') :]
    shown = re.findall(r"(\d{4}-\d\d-\d\d)", timeline)
    dated = [d for d in shown if d in days]
    assert dated[: len(days)] == sorted(days, reverse=True), dated


def test_offsets_are_written_in_hours_and_minutes():
    from api.guarantees import _zone_said
    from api.i18n import Words

    en = Words("en")
    said = {
        zone: _zone_said({"ends": "2026-12-02", "time_zone": zone}, en)
        for zone in ("Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "UTC")
    }
    assert said["Asia/Kolkata"] == "Asia/Kolkata time (UTC+5:30)"
    assert said["Asia/Kathmandu"] == "Asia/Kathmandu time (UTC+5:45)"
    assert said["America/St_Johns"] == "America/St_Johns time (UTC-3:30)"
    assert said["UTC"] == "UTC"
