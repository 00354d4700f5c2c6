"""Commissions count days where the ledger counts them (config.json's time_zone), as
the sale's terms do (plugins/commission_settling.py): on a Beijing ledger a dispute
filed at 01:00 on 1 December Beijing time is not open as of 30 November, a sale at
04:00 on 30 November Beijing time is held until 3 December, and the default day is
today in Beijing. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from core import dsse
from core.keys import generate_private_key
from ledger.sequencer import Appended
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, filed_when_dated, onboard
from tests.plugins.test_time_zone import ledger_in

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-11-29T20:00:00Z",  # 04:00 on 30 November in Beijing
    "odometer_km": 48_000,
    "dealer": "hz-motors",
    "price": {"amount": "150000.00", "currency": "CNY"},
    "referral_code": "AMY-CN",
}


@pytest.fixture
def beijing(tmp_path, database_url):
    lg = ledger_in(tmp_path, database_url, "Asia/Shanghai")
    amy = Partner("amy", "referrer", generate_private_key())
    lg.add_actor("amy", "Amy", "referrer", amy.public_pem)
    body = {
        "code": "AMY-CN",
        "rule": "flat",
        "params": {"amount": "800", "currency": "CNY"},
        "model": "1HG/2003",
        "region": "CN-SH",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    lg.create_referral(dsse.encode_envelope(env))
    yield lg
    lg.close()


def submit(ledger, partner, record: dict) -> int:
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def status(ledger, as_of: str | None) -> tuple[str, str]:
    day = None if as_of is None else date.fromisoformat(as_of)
    (c,) = ledger.commissions(ledger.settings.admin_token(), day)
    return c["status"], c["held_until"]


def test_a_sale_without_return_terms_is_held_from_its_beijing_day(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    submit(beijing, dealer, SALE)
    # Sold on 30 November in Beijing (29 November in UTC): a claim dated that day may
    # be filed 3 days later, so it is held until 3 December, not 2 December.
    assert status(beijing, "2026-12-03") == ("held", "2026-12-03")
    assert status(beijing, "2026-12-04") == ("payable", "2026-12-03")


def test_a_dispute_counts_from_its_beijing_day(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    sold = submit(beijing, dealer, SALE)
    record = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-11-30T17:00:00Z",  # 01:00 on 1 December in Beijing
        "disputes": sold,
        "reason": "the price was recorded wrongly",
    }
    beijing.operator_submit(json.dumps(record).encode())
    assert status(beijing, "2026-11-30")[0] == "held"
    assert status(beijing, "2026-12-01")[0] == "disputed"


def test_a_return_voids_from_its_beijing_day(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    sold = submit(beijing, dealer, {**SALE, "policies": [{"id": "return-7d"}]})
    back = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-11-30T17:00:00Z",  # 01:00 on 1 December in Beijing
        "odometer_km": 48_100,
        "sale": sold,
        "policy": "return-7d",
    }
    submit(beijing, dealer, back)
    assert status(beijing, "2026-11-30")[0] == "held"
    assert status(beijing, "2026-12-01")[0] == "voided"


def test_the_default_day_is_today_in_beijing(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    submit(beijing, dealer, SALE)
    # 17:00 UTC on 3 December is 01:00 on 4 December in Beijing: past held_until.
    beijing.clock = lambda: datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
    assert status(beijing, None) == ("payable", "2026-12-03")
