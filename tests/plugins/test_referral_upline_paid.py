"""A new referral pays level 2 only to an upline that is a referrer
(plugins/referrals.py ``read_market``, which reads the upline it pays): a referrer
added before uplines were checked may have a dealer as its upline, which would earn
level 2 on its competitors' sales. On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from datetime import date

from core import dsse
from core.keys import generate_private_key, key_id, public_key_raw
from ledger import trust
from ledger.schema import ReferralRow
from ledger.sequencer import Appended
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, onboard

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-20T10:00:00Z",
    "odometer_km": 40_000,
    "dealer": "rival",
    "price": {"amount": "15000.00", "currency": "EUR"},
    "referral_code": "BOB-2L",
}


def added_before_uplines_were_checked(ledger, monkeypatch, upline: str) -> Partner:
    bob = Partner("bob", "referrer", generate_private_key())
    with monkeypatch.context() as older:  # an older release appended what it was given
        older.setattr(trust, "_check_upline", lambda *args: None)
        actor = {"kind": "actor", "actor_id": "bob", "name": "Bob", "role": "referrer"}
        actor |= {"upline": upline, "occurred_at": "2026-06-01T00:00:00Z"}
        ledger.operator_submit(json.dumps(actor).encode())
    public = bob.key.public_key()
    grant = {
        "kind": "key_grant",
        "actor_id": "bob",
        "public_key": base64.b64encode(public_key_raw(public)).decode(),
        "key_id": key_id(public),
        "occurred_at": "2026-06-01T00:00:00Z",
    }
    ledger.operator_submit(json.dumps(grant).encode())
    return bob


def test_a_dealer_upline_of_an_older_referrer_earns_nothing_on_its_new_codes(ledger, monkeypatch):
    onboard(ledger, "bay-auto", "dealer")
    rival = onboard(ledger, "rival", "dealer")
    bob = added_before_uplines_were_checked(ledger, monkeypatch, "bay-auto")
    body = {
        "code": "BOB-2L",
        "rule": "two-level",
        "params": {"percent": "1", "upline_percent": "1"},
        "model": "1HG/2003",
        "region": "DE",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), bob.key, payload_type=PAYLOAD_TYPE)
    made = ledger.create_referral(dsse.encode_envelope(env))
    assert made["created"] and made["upline"] is None
    with ledger.store.reader() as s:
        assert s.get(ReferralRow, "BOB-2L").upline is None
    (sold,) = ledger.submit_now([rival.envelope(SALE)])
    assert isinstance(sold, Appended), sold
    token = ledger.settings.admin_token()
    paid = [(c["beneficiary"], c["level"]) for c in ledger.commissions(token, date(2026, 11, 30))]
    assert paid == [("bob", 1)]
