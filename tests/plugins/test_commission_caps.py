"""The built-in rules refuse an amount finer than its currency is paid in
(plugins/builtin/commissions.py ``validate``): a cap of 4,999.50 yen would be paid as
5,000, above what was agreed, and a fee of 0.40 yen never. Through the ledger's
referrals, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from core import dsse
from core.errors import InvalidInput
from core.keys import generate_private_key
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import Partner


def refer(ledger, amy, code: str, rule: str, params: dict):
    body = {"code": code, "rule": rule, "params": params, "model": "1HG/2003", "region": "JP"}
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    return ledger.create_referral(dsse.encode_envelope(env))


@pytest.fixture
def amy(ledger):
    amy = Partner("amy", "referrer", generate_private_key())
    ledger.add_actor("amy", "Amy", "referrer", amy.public_pem)
    return amy


@pytest.mark.parametrize(
    ("rule", "params", "field"),
    [
        ("percentage", {"percent": "1", "cap": "4999.50", "cap_currency": "JPY"}, "cap"),
        (
            "two-level",
            {"percent": "1", "upline_percent": "1", "cap": "0.5", "cap_currency": "KRW"},
            "cap",
        ),
        ("flat", {"amount": "0.40", "currency": "JPY"}, "amount"),
        ("limited-slots", {"slots": 3, "amount": "200.5", "currency": "JPY"}, "amount"),
        (
            "tiered",
            {"tiers": [{"up_to": None, "amount": "99.99"}], "currency": "KRW"},
            "tiers[0].amount",
        ),
    ],
)
def test_an_amount_finer_than_its_currency_is_refused(ledger, amy, rule, params, field):
    with pytest.raises(InvalidInput, match="finer than") as refusal:
        refer(ledger, amy, "AMY-1", rule, params)
    assert refusal.value.field == field


@pytest.mark.parametrize(
    "params",
    [
        {"percent": "1", "cap": "5000", "cap_currency": "JPY"},
        {"percent": "1", "cap": "4999.50", "cap_currency": "EUR"},
        {"percent": "1", "cap": "12.5", "cap_currency": "BHD"},
    ],
)
def test_an_amount_the_currency_pays_is_taken(ledger, amy, params):
    made = refer(ledger, amy, "AMY-1", "percentage", params)
    assert made["created"] and made["params"]["cap"] == f"{float(params['cap']):.2f}"
