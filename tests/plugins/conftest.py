"""Fixtures shared by the sale-rule tests (test_sale_order*.py)."""

from __future__ import annotations

import json

import pytest

from core import dsse
from core.keys import generate_private_key
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import Partner, onboard


@pytest.fixture
def partners(ledger):
    """bay-auto and rival (dealers), and amy's flat EUR 200 code AMY-26."""
    amy = Partner("amy", "referrer", generate_private_key())
    ledger.add_actor("amy", "Amy", "referrer", amy.public_pem)
    body = {
        "code": "AMY-26",
        "rule": "flat",
        "params": {"amount": "200.00", "currency": "EUR"},
        "model": "1HG/2003",
        "region": "DE",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    ledger.create_referral(dsse.encode_envelope(env))
    return onboard(ledger, "bay-auto", "dealer"), onboard(ledger, "rival", "dealer")
