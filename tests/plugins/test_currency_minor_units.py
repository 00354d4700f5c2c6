"""Commissions in the currency's minor unit (plugins/currency.py, applied by the
built-in rules and by plugins/referrals.py to every rule's amounts), and a commission
of nothing listed as "nothing to pay" (plugins/commission_settling.py). The ledger
parts run on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from core import dsse
from core.keys import generate_private_key
from ledger.sequencer import Appended
from plugins.builtin.commissions import Flat, Percentage, Tiered, TwoLevel
from plugins.currency import minor_units, round_to_minor_unit
from plugins.interfaces import Referral, SaleForCommission
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, onboard


@pytest.mark.parametrize(
    ("currency", "digits"), [("JPY", 0), ("KRW", 0), ("BHD", 3), ("KWD", 3), ("EUR", 2), ("CNY", 2)]
)
def test_minor_units_are_iso_4217s(currency, digits):
    assert minor_units(currency) == digits


@pytest.mark.parametrize(
    ("amount", "currency", "paid"),
    [
        ("4999.50", "JPY", "5000"),
        ("4999.49", "JPY", "4999"),
        ("12.3455", "BHD", "12.346"),
        ("12.3454", "KWD", "12.345"),
        ("0.005", "EUR", "0.01"),
    ],
)
def test_amounts_round_half_up_to_the_minor_unit(amount, currency, paid):
    rounded = round_to_minor_unit(Decimal(amount), currency)
    assert str(rounded) == paid


def referral(rule, params, upline=None):
    return Referral("CODE", "bob", upline, rule.id, rule.validate(params), "1HG/2003", "JP")


def stored(rule, params, upline=None):
    """A referral as stored before ``validate`` refused what it holds."""
    return Referral("CODE", "bob", upline, rule.id, params, "1HG/2003", "JP")


def sale(price: str, currency: str) -> SaleForCommission:
    return SaleForCommission(7, VIN, "bay", Decimal(price), currency)


def test_a_percentage_of_a_yen_price_is_whole_yen_rounded_once():
    rule = Percentage()
    (paid,) = rule.compute(referral(rule, {"percent": "0.3333"}), sale("1500000", "JPY"))
    assert str(paid.amount) == "5000"  # 4999.5, not 4999.50
    # 0.5 % of 999,899 is 4999.495: one rounding to yen, never via cents (4999.50) first.
    (paid,) = rule.compute(referral(rule, {"percent": "0.5"}), sale("999899", "JPY"))
    assert str(paid.amount) == "4999"


def test_every_built_in_rule_pays_in_the_minor_unit():
    two = TwoLevel()
    paid = two.compute(
        referral(two, {"percent": "1.25", "upline_percent": "0.5"}, upline="boss"),
        sale("12345.678", "BHD"),
    )
    assert [str(c.amount) for c in paid] == ["154.321", "61.728"]
    # Amounts finer than the currency's unit are refused now (test_commission_caps.py);
    # a referral stored before that is still paid in whole units.
    flat = Flat()
    (paid,) = flat.compute(stored(flat, {"amount": "200.50", "currency": "JPY"}), sale("1", "JPY"))
    assert str(paid.amount) == "201"
    tiered = Tiered()
    tiers = {"tiers": [{"up_to": None, "amount": "99.99"}], "currency": "KRW"}
    (paid,) = tiered.compute(stored(tiered, tiers), sale("1000000", "KRW"))
    assert str(paid.amount) == "100"


# ---- through the ledger --------------------------------------------------------------


@pytest.fixture
def bob_and_bay(ledger):
    bob = Partner("bob", "referrer", generate_private_key())
    ledger.add_actor("bob", "Bob", "referrer", bob.public_pem)
    body = {
        "code": "BOB-NOCAP",
        "rule": "percentage",
        "params": {"percent": "0.3333"},
        "model": "1HG/2003",
        "region": "JP",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), bob.key, payload_type=PAYLOAD_TYPE)
    ledger.create_referral(dsse.encode_envelope(env))
    return onboard(ledger, "bay-auto", "dealer")


def sell(ledger, dealer, amount: str, currency: str, day: int) -> int:
    record = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T10:00:00Z",
        "odometer_km": 1_000 + day,
        "dealer": "bay-auto",
        "price": {"amount": amount, "currency": currency},
        "referral_code": "BOB-NOCAP",
    }
    (outcome,) = ledger.submit_now([dealer.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def test_the_ledger_stores_whole_yen_and_lists_nothing_as_nothing_to_pay(ledger, bob_and_bay):
    yen = sell(ledger, bob_and_bay, "1500000", "JPY", 1)
    euro = sell(ledger, bob_and_bay, "1.00", "EUR", 2)  # 0.003333 EUR: nothing
    token = ledger.settings.admin_token()
    listed = {c["sale"]: c for c in ledger.commissions(token, date(2026, 7, 1))}
    assert (listed[yen]["amount"], listed[yen]["currency"]) == ("5000", "JPY")
    assert listed[yen]["status"] == "payable"
    assert (listed[euro]["amount"], listed[euro]["status"]) == ("0.00", "nothing to pay")
