"""The buyer page says a rollback may be a reading in miles when core.odometer says so."""

from __future__ import annotations

import pytest

from api.i18n import Words
from api.verdict import alert_text
from core.odometer import rollback_alerts


def rollback(lower_km: int) -> dict:
    readings = [
        {"index": 1, "occurred_at": "2024-10-01T09:00:00Z", "km": 60_000, "signer": "cn-shop"},
        {"index": 2, "occurred_at": "2025-01-29T09:00:00Z", "km": lower_km, "signer": "tuv"},
    ]
    [found] = rollback_alerts(readings)
    return found


@pytest.mark.parametrize(
    "lang, said",
    [
        ("en", "Odometer went back from 60,000 km to 37,400 km; a reading in miles? "
         "37,400 mi is 60,189 km"),
        ("zh", "里程从 60,000 公里回退到 37,400 公里；是否为英里读数？37,400 英里即 60,189 公里"),
    ],
)  # fmt: skip
def test_the_page_asks_whether_the_lower_reading_was_in_miles(lang, said):
    assert alert_text(rollback(37_400), Words(lang)) == said


def test_a_rollback_no_unit_explains_is_said_plainly():
    said = alert_text(rollback(20_000), Words("en"))
    assert said == "Odometer went back from 60,000 km to 20,000 km"
