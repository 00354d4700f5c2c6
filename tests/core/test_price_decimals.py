"""A price has at most its currency's decimals (ISO 4217 minor unit, core.fields):
"1234.567" BHD is a price (thousandths of a dinar), "12350.50" JPY is not (yen have no
minor unit). New sales are refused; what a log already holds stays readable, so an old
yen price with cents still audits and verifies."""

from __future__ import annotations

import json

import pytest

from api import service_checks
from core.corrections import check_correction
from core.errors import InvalidRecord
from core.fields import MINOR_UNITS, minor_units
from core.records import check_amounts, parse_record
from ledger.audit import audit
from ledger.bundle import build_bundle, encode_bundle
from ledger.sequencer import Appended
from ledger.verify import verify_bundle_bytes
from plugins import currency, sale_order
from tests.conftest import VIN, onboard

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-01T10:00:00Z",
    "odometer_km": 48_000,
    "dealer": "bay-auto",
}


def priced(amount: str, currency: str, **extra) -> dict:
    return {**SALE, "price": {"amount": amount, "currency": currency}, **extra}


def parsed(record: dict):
    return parse_record(json.dumps(record).encode())


def test_one_table_of_minor_units():
    assert currency.MINOR_UNITS is MINOR_UNITS and currency.minor_units is minor_units
    assert [minor_units(c) for c in ("JPY", "BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD")] == [
        0,
        *[3] * 7,
    ]
    assert minor_units("EUR") == minor_units("CNY") == 2


@pytest.mark.parametrize(
    "amount, code",
    [("1234.567", "BHD"), ("1234.5", "KWD"), ("12350", "JPY"), ("18500.00", "EUR"), ("7", "EUR")],
)
def test_a_price_in_its_currencys_minor_unit_is_accepted(amount, code):
    check_amounts(parsed(priced(amount, code)))


@pytest.mark.parametrize(
    "amount, code, words",
    [
        ("12350.50", "JPY", ["12350.50", "JPY amounts are whole numbers"]),
        ("12350.5", "KRW", ["KRW amounts are whole numbers"]),
    ],
)
def test_a_new_price_finer_than_its_currency_is_refused_naming_field_and_decimals(
    amount, code, words
):
    record = parsed(priced(amount, code))  # readable, as an old entry must be
    with pytest.raises(InvalidRecord) as err:
        check_amounts(record)
    assert err.value.field == "$.price.amount" and err.value.status == 422
    assert all(w in err.value.detail for w in words), err.value.detail


@pytest.mark.parametrize(
    "amount, code, words",
    [
        ("18500.001", "EUR", "EUR amounts have up to 2 decimals"),
        ("1234.5678", "BHD", "BHD amounts have up to 3 decimals"),
    ],
)
def test_more_decimals_than_any_log_held_are_refused_as_they_always_were(amount, code, words):
    with pytest.raises(InvalidRecord) as err:
        parsed(priced(amount, code))
    assert err.value.field == "$.price.amount"
    assert words in err.value.detail and "regex" not in err.value.detail


SERVICE = {
    "kind": "maintenance",
    "vin": VIN,
    "occurred_at": "2026-05-04T09:30:00Z",
    "shop": "QuickLane",
    "items": [{"description": "oil change"}],
}


def test_a_correction_setting_an_amount_is_held_to_its_currency_too():
    # A sale's price is never corrected (core.corrections); a service's cost is.
    correction = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-06-02T10:00:00Z",
        "corrects": 9,
        "reason": "cost typed wrongly",
        "fields": {"cost": {"amount": "12350.50", "currency": "JPY"}},
    }
    check_correction(correction["fields"], SERVICE)  # a correction a log may hold
    with pytest.raises(InvalidRecord) as err:
        check_amounts(parsed(correction))
    assert err.value.field == "$.fields.cost.amount"
    fine = {**correction, "fields": {"cost": {"amount": "1234.567", "currency": "BHD"}}}
    check_amounts(parsed(fine))
    cost = {**SERVICE, "cost": {"amount": "12350.50", "currency": "JPY"}}
    with pytest.raises(InvalidRecord) as err:
        check_amounts(parsed(cost))
    assert err.value.field == "$.cost.amount"


def sell(ledger, dealer, amount: str, code: str):
    (outcome,) = ledger.submit_now([dealer.envelope(priced(amount, code))])
    return outcome


def test_the_ledger_refuses_fractional_yen_and_keeps_dinar_thousandths(ledger):
    dealer = onboard(ledger, "bay-auto", "dealer")
    refused = sell(ledger, dealer, "12350.50", "JPY")
    assert isinstance(refused, InvalidRecord), refused
    assert refused.field == "$.price.amount" and refused.status == 422
    assert "JPY amounts are whole numbers" in refused.detail
    kept = sell(ledger, dealer, "1234.567", "BHD")
    assert isinstance(kept, Appended), kept
    (sale,) = [e for e in ledger.history(VIN)["entries"] if e["kind"] == "sale"]
    assert sale["record"]["price"] == {"amount": "1234.567", "currency": "BHD"}


def test_an_old_yen_price_with_cents_still_audits_and_verifies(ledger, monkeypatch):
    dealer = onboard(ledger, "bay-auto", "dealer")
    with monkeypatch.context() as m:  # logged before prices kept their currency's unit
        for checker in (sale_order, service_checks):  # wherever new records are held to it
            m.setattr(checker, "check_amounts", lambda record: None, raising=False)
        old = sell(ledger, dealer, "12350.50", "JPY")
    assert isinstance(old, Appended), old
    audit(ledger.store, ledger.vkey)
    report = verify_bundle_bytes(encode_bundle(build_bundle(ledger.store, VIN)), ledger.vkey)
    assert report.ok, report.failures
    (sale,) = [e for e in ledger.history(VIN)["entries"] if e["kind"] == "sale"]
    assert sale["record"]["price"]["amount"] == "12350.50"
