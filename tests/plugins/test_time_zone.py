"""Guarantees count days where the ledger's buyers live (config.json's time_zone): a
car sold at 00:30 in Beijing is sold on that Beijing day, and a return on the seventh
Beijing day after it is in time, as the buyer's calendar says. The zone is stated in
each sale's terms, so a decision reads the same from the log wherever it is checked,
and sales stated before (no zone) keep counting UTC days."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from api.config import create_data_dir, load_settings
from api.service import Ledger
from core.errors import InvalidInput
from ledger.sequencer import Appended
from ledger.storage import Store
from plugins.interfaces import Terms
from tests.conftest import VIN, filed_when_dated, onboard

SOLD_AT = "2026-11-24T16:30:00Z"  # 00:30 on 25 November in Beijing


def ledger_in(tmp_path, url: str, time_zone: str) -> Ledger:
    settings = create_data_dir(
        tmp_path / time_zone.replace("/", "-"), origin="test.vinledger.localhost/log",
        database_url=url, time_zone=time_zone,
    )  # fmt: skip
    store = Store(url)
    store.create_schema()
    ledger = Ledger(settings, store)
    ledger.genesis()
    return ledger


@pytest.fixture
def beijing(tmp_path, database_url):
    lg = ledger_in(tmp_path, database_url, "Asia/Shanghai")
    yield lg
    lg.close()


def submit(ledger, partner, record: dict) -> int:
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def sale() -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": SOLD_AT,
        "odometer_km": 48_000,
        "dealer": "hz-motors",
        "policies": [{"id": "return-7d"}, {"id": "powertrain-30d"}],
    }


def claim(sold: int, kind: str, at: str, **extra) -> dict:
    policy = "return-7d" if kind == "return_request" else "powertrain-30d"
    return {"kind": kind, "vin": VIN, "occurred_at": at, "odometer_km": 48_100,
            "sale": sold, "policy": policy, **extra}  # fmt: skip


def decided(ledger, claim_index: int) -> dict:
    (e,) = [e for e in ledger.history(VIN)["entries"] if e["index"] == claim_index + 1]
    return e["record"]


def terms_of(ledger, sold: int) -> dict:
    (e,) = [e for e in ledger.history(VIN)["entries"] if e["index"] == sold]
    return {t["policy"]: t for t in e["derived"]["terms"]}


def test_a_beijing_ledger_counts_beijing_days(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    sold = submit(beijing, dealer, sale())
    terms = terms_of(beijing, sold)
    assert terms["return-7d"]["starts"] == "2026-11-25"
    assert terms["return-7d"]["ends"] == "2026-12-02"
    assert terms["return-7d"]["time_zone"] == "Asia/Shanghai"
    assert terms["powertrain-30d"]["ends"] == "2026-12-25"
    # 10:34 on 2 December in Beijing (02:34 UTC): the seventh Beijing day, in time.
    back = submit(beijing, dealer, claim(sold, "return_request", "2026-12-02T02:34:00Z"))
    record = decided(beijing, back)
    assert record["approved"] is True, record["reason"]
    assert record["days_since_sale"] == 7


def test_the_eighth_beijing_day_is_late_though_utc_says_seventh(beijing):
    dealer = onboard(beijing, "hz-motors", "dealer")
    sold = submit(beijing, dealer, sale())
    # 00:10 on 3 December in Beijing, still 2 December in UTC.
    late = submit(beijing, dealer, claim(sold, "return_request", "2026-12-02T16:10:00Z"))
    record = decided(beijing, late)
    assert record["approved"] is False and record["days_since_sale"] == 8
    assert "ended on 2026-12-02" in record["reason"]


def test_a_utc_ledger_is_as_before(tmp_path, database_url):
    lg = ledger_in(tmp_path, database_url, "UTC")
    try:
        dealer = onboard(lg, "hz-motors", "dealer")
        sold = submit(lg, dealer, sale())
        terms = terms_of(lg, sold)["return-7d"]
        assert terms["starts"] == "2026-11-24"
        assert "time_zone" not in terms  # stored as before zones were stated
        back = submit(lg, dealer, claim(sold, "return_request", "2026-12-02T02:34:00Z"))
        record = decided(lg, back)
        assert record["approved"] is False and record["days_since_sale"] == 8
    finally:
        lg.close()


def test_terms_stated_without_a_zone_count_utc_days():
    """A sale logged before terms stated their zone is judged as it was then."""
    old = Terms(policy="return-7d", version="1", kind="return", starts="2026-11-24",
                ends="2026-12-01", km_limit=48_500, summary="Return within 7 days.")  # fmt: skip
    assert old.time_zone == "UTC"
    assert old.day_of(datetime(2026, 12, 1, 20, 0, tzinfo=UTC)).isoformat() == "2026-12-01"


def test_an_unknown_zone_is_refused_in_one_line(tmp_path):
    with pytest.raises(InvalidInput, match=r"^the time zone 'Beijing' is no IANA time zone"):
        create_data_dir(tmp_path / "d", origin="o", database_url=None, time_zone="Beijing")
    settings = create_data_dir(tmp_path / "e", origin="o", database_url=None)
    config = tmp_path / "e" / "config.json"
    raw = json.loads(config.read_text())
    assert raw["time_zone"] == "UTC"
    config.write_text(json.dumps(raw | {"time_zone": "Mars/Olympus"}))
    with pytest.raises(InvalidInput, match=r"config\.json's time_zone 'Mars/Olympus'"):
        load_settings(settings.data_dir)
