"""Commission parameters in a currency's minor unit where it has more than two decimals
(plugins/builtin/commissions.py ``validate``): a flat fee of 10.125 Bahraini dinars
(fils), a cap of 100.500, a tier up to 5000.125 are taken, as a BHD price is; what was
stored before (cents) is stored and computed as it was."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core import dsse
from core.errors import InvalidInput
from core.keys import generate_private_key
from plugins.builtin.commissions import Flat, LimitedSlots, Percentage, Tiered, TwoLevel
from plugins.interfaces import Referral, SaleForCommission
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner


def referral(rule, params) -> Referral:
    return Referral("CODE", "amy", None, rule.id, rule.validate(params), "1HG/2003", "BH")


def sale(price: str, currency: str = "BHD") -> SaleForCommission:
    return SaleForCommission(7, VIN, "manama", Decimal(price), currency)


@pytest.mark.parametrize(
    ("rule", "params", "field", "stored"),
    [
        (Flat(), {"amount": "10.125", "currency": "BHD"}, "amount", "10.125"),
        (Flat(), {"amount": "0.005", "currency": "KWD"}, "amount", "0.005"),
        (LimitedSlots(), {"slots": 2, "amount": "7.250", "currency": "BHD"}, "amount", "7.25"),
        (Percentage(), {"percent": "1", "cap": "100.500", "cap_currency": "BHD"}, "cap", "100.50"),
        (
            TwoLevel(),
            {"percent": "1", "upline_percent": "1", "cap": "9.999", "cap_currency": "OMR"},
            "cap",
            "9.999",
        ),
    ],
)
def test_an_amount_in_fils_is_taken(rule, params, field, stored):
    assert rule.validate(params)[field] == stored


def test_tiers_in_fils_are_taken_and_paid():
    rule = Tiered()
    tiers = [
        {"up_to": "5000.000", "amount": "10.125"},
        {"up_to": "8750.125", "amount": "20"},
        {"up_to": None, "amount": "30.5"},
    ]
    r = referral(rule, {"tiers": tiers, "currency": "BHD"})
    assert r.params["tiers"] == [
        {"up_to": "5000.00", "amount": "10.125"},
        {"up_to": "8750.125", "amount": "20.00"},
        {"up_to": None, "amount": "30.50"},
    ]
    paid = [rule.compute(r, sale(p))[0].amount for p in ("5000", "8750.125", "8750.126")]
    assert [str(a) for a in paid] == ["10.125", "20.000", "30.500"]


def test_stored_forms_are_kept_so_a_retry_matches_what_is_stored():
    # Amounts in cents are stored as before ("10.12", "5000.00"): a referral's retry is
    # matched by its stored parameters, and the amounts paid are those paid before.
    flat = Flat()
    assert flat.validate({"amount": "10.12", "currency": "BHD"})["amount"] == "10.12"
    assert flat.validate({"amount": "10.120", "currency": "BHD"})["amount"] == "10.12"
    assert flat.validate({"amount": "5000", "currency": "JPY"})["amount"] == "5000.00"
    assert flat.validate({"amount": "12.5", "currency": "EUR"})["amount"] == "12.50"
    tiers = [{"up_to": "10000.50", "amount": "100"}, {"up_to": None, "amount": "250"}]
    made = Tiered().validate({"tiers": tiers, "currency": "JPY"})
    assert made["tiers"][0] == {"up_to": "10000.50", "amount": "100.00"}
    (paid,) = flat.compute(referral(flat, {"amount": "10.12", "currency": "BHD"}), sale("1"))
    assert str(paid.amount) == "10.120"


@pytest.mark.parametrize(
    ("rule", "params", "field", "says"),
    [
        (Flat(), {"amount": "10.1255", "currency": "BHD"}, "amount", "3 decimal places"),
        (Flat(), {"amount": "10.125", "currency": "EUR"}, "amount", "2 decimal places"),
        (Flat(), {"amount": "10.12345", "currency": "BHD"}, "amount", "such as"),
        (
            Tiered(),
            {"tiers": [{"up_to": "1.125", "amount": "1"}, {"up_to": None, "amount": "2"}],
             "currency": "EUR"},
            "tiers[0].up_to",
            "2 decimal places",
        ),
    ],
)  # fmt: skip
def test_an_amount_finer_than_its_currency_is_still_refused(rule, params, field, says):
    with pytest.raises(InvalidInput, match=says) as refusal:
        rule.validate(params)
    assert refusal.value.field == field


def test_a_referral_in_fils_through_the_ledger(ledger):
    amy = Partner("amy", "referrer", generate_private_key())
    ledger.add_actor("amy", "Amy", "referrer", amy.public_pem)
    body = {
        "code": "AMY-BH",
        "rule": "flat",
        "params": {"amount": "10.125", "currency": "BHD"},
        "model": "1HG/2003",
        "region": "BH",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    raw = dsse.encode_envelope(env)
    made = ledger.create_referral(raw)
    assert made["created"] and made["params"] == {"amount": "10.125", "currency": "BHD"}
    again = ledger.create_referral(raw)  # a retry is answered with the code it holds
    assert not again["created"] and again["params"] == made["params"]
