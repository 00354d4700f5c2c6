"""Referrals and commissions through the API: private, held, payable or voided."""

from __future__ import annotations

import json
from datetime import date

import pytest

from core import dsse
from core.keys import generate_private_key
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, filed_when_dated, onboard


def referrer(ledger, actor_id, upline=None) -> Partner:
    p = Partner(actor_id, "referrer", generate_private_key())
    ledger.add_actor(actor_id, actor_id.title(), "referrer", p.public_pem, upline)
    return p


def refer(client, who: Partner, code, rule, params, model="1HG/2003", region="US-CA"):
    body = {"code": code, "rule": rule, "params": params, "model": model, "region": region}
    env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
    return client.post("/referrals", content=dsse.encode_envelope(env))


def sale(code=None, amount="20000.00"):
    rec = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "price": {"amount": amount, "currency": "EUR"},
        "policies": [{"id": "return-7d"}],
    }
    if code:
        rec["referral_code"] = code
    return rec


def commissions(client, token, as_of):
    r = client.get(
        "/commissions", params={"as_of": as_of}, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"  # private: never in a shared cache
    return r.json()["commissions"]


def test_two_level_commission_is_held_then_payable_and_private(client, sqlite_ledger):
    referrer(sqlite_ledger, "ref-boss")
    ref = referrer(sqlite_ledger, "ref-amy", upline="ref-boss")
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    r = refer(client, ref, "AMY-26", "two-level", {"percent": "2", "upline_percent": "0.5"})
    assert r.status_code == 201, r.text
    assert r.json()["upline"] == "ref-boss" and r.json()["rule_version"]
    r = client.post("/records", content=dealer.envelope(sale("AMY-26")))
    assert r.status_code == 201, r.text
    sold = r.json()["index"]

    admin = sqlite_ledger.settings.admin_token()
    held = commissions(client, admin, "2026-06-05")
    assert [(c["beneficiary"], c["level"], c["amount"], c["status"]) for c in held] == [
        ("ref-amy", 1, "400.00", "held"),
        ("ref-boss", 2, "100.00", "held"),
    ]
    assert all(c["sale"] == sold and c["rule"] == "two-level" for c in held)
    # The return window's last day (June 8), plus the 72 hours a return dated that day
    # may take to be filed: until then an approved return could still void it.
    assert held[0]["held_until"] == "2026-06-11"
    assert commissions(client, admin, "2026-06-11")[0]["status"] == "held"
    assert commissions(client, admin, "2026-06-12")[0]["status"] == "payable"

    # Each party sees its own; nobody else sees any.
    amy = sqlite_ledger.issue_token("ref-amy")
    assert [c["beneficiary"] for c in commissions(client, amy, "2026-06-12")] == ["ref-amy"]
    bay = sqlite_ledger.issue_token("bay-auto")
    assert len(commissions(client, bay, "2026-06-12")) == 2
    onboard(sqlite_ledger, "rival", "dealer")
    assert commissions(client, sqlite_ledger.issue_token("rival"), "2026-06-12") == []
    r = client.get("/commissions")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem")
    assert client.get("/commissions", headers={"Authorization": "Bearer nope"}).status_code == 401

    # Nothing of it is public.
    public = [
        client.get(f"/vehicles/{VIN}").text,
        client.get(f"/vehicles/{VIN}/history").text,
        client.get(f"/vehicles/{VIN}/bundle").text,
    ]
    for text in public:
        assert "400.00" not in text and "ref-amy" not in text and "two-level" not in text


def test_a_returned_car_voids_the_commission(client, sqlite_ledger):
    ref = referrer(sqlite_ledger, "ref-amy")
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    refer(client, ref, "AMY-26", "flat", {"amount": "150", "currency": "EUR"})
    sold = client.post("/records", content=dealer.envelope(sale("AMY-26"))).json()["index"]
    back = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-04T09:00:00Z",
        "odometer_km": 48_100,
        "sale": sold,
        "policy": "return-7d",
    }
    with filed_when_dated(sqlite_ledger, back):
        assert client.post("/records", content=dealer.envelope(back)).status_code == 201
    admin = sqlite_ledger.settings.admin_token()
    assert commissions(client, admin, "2026-06-03")[0]["status"] == "held"
    assert commissions(client, admin, "2026-06-30")[0]["status"] == "voided"


def test_a_sale_with_an_unknown_code_is_refused(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    r = client.post("/records", content=dealer.envelope(sale("NOBODY")))
    assert r.status_code == 422 and r.json()["field"] == "$.referral_code"


def test_limited_slots_refuse_a_referrer_too_many(client, sqlite_ledger):
    params = {"slots": 2, "amount": "100", "currency": "EUR"}
    people = [referrer(sqlite_ledger, f"ref-{n}") for n in "abc"]
    assert refer(client, people[0], "A-1", "limited-slots", params).status_code == 201
    assert refer(client, people[1], "B-1", "limited-slots", params).status_code == 201
    r = refer(client, people[2], "C-1", "limited-slots", params)
    assert r.status_code == 409, r.text
    assert "1HG/2003" in r.json()["detail"] and "US-CA" in r.json()["detail"]
    # The same referrer again, or another region, still fits.
    assert refer(client, people[0], "A-2", "limited-slots", params).status_code == 201
    assert (
        refer(client, people[2], "C-2", "limited-slots", params, region="US-NV").status_code == 201
    )
    # The same region spelled another way is no way round the limit.
    for spelled in ("us-ca", "US-CA ", "US_CA", "California"):
        r = refer(client, people[2], "C-3", "limited-slots", params, region=spelled)
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "region" and '"DE-BE"' in r.json()["detail"]


def test_a_referral_stored_before_regions_were_checked_counts_in_its_region(client, sqlite_ledger):
    from ledger.schema import ReferralRow

    params = {"slots": 1, "amount": "100", "currency": "EUR"}
    first, second = referrer(sqlite_ledger, "ref-a"), referrer(sqlite_ledger, "ref-b")
    assert refer(client, first, "A-1", "limited-slots", params).status_code == 201
    with sqlite_ledger.store.writer.begin() as s:  # as the release before stored it
        s.get(ReferralRow, "A-1").region = "us-ca "
    r = refer(client, second, "B-1", "limited-slots", params)
    assert r.status_code == 409 and "taken" in r.json()["detail"], r.text


def test_only_referrers_create_codes_and_codes_are_unique(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    r = refer(client, dealer, "SELF", "flat", {"amount": "1", "currency": "EUR"})
    assert r.status_code == 403
    ref = referrer(sqlite_ledger, "ref-amy")
    assert refer(client, ref, "X-1", "flat", {"amount": "1", "currency": "EUR"}).status_code == 201
    # Another referrer cannot take it; its own holder asking again with other terms is told so.
    other = referrer(sqlite_ledger, "ref-bob")
    r = refer(client, other, "X-1", "flat", {"amount": "1", "currency": "EUR"})
    assert r.status_code == 409 and "is taken; choose another" in r.json()["detail"], r.text
    r = refer(client, ref, "X-1", "flat", {"amount": "2", "currency": "EUR"})
    assert r.status_code == 409 and "already yours, with other terms" in r.json()["detail"]
    r = refer(client, ref, "X-1", "flat", {"amount": "1", "currency": "EUR"}, region="US-NV")
    assert r.status_code == 409 and "already yours" in r.json()["detail"], r.text
    r = refer(client, ref, "X-2", "flat", {"amount": "-1", "currency": "EUR"})
    assert r.status_code in (400, 422) and r.json().get("field") == "amount"
    r = refer(client, ref, "X-3", "no-such-rule", {})
    assert r.status_code == 422 and "flat" in r.json()["detail"]


def test_commissions_are_recomputable_from_the_ledger(client, sqlite_ledger):
    """An auditor with the referral recomputes the amount from the public sale entry."""
    from decimal import Decimal

    from plugins.builtin.commissions import register_commission_rules
    from plugins.interfaces import Referral, SaleForCommission

    ref = referrer(sqlite_ledger, "ref-amy")
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    refer(
        client, ref, "AMY-26", "percentage", {"percent": "1.5", "cap": "250", "cap_currency": "EUR"}
    )
    sold = client.post("/records", content=dealer.envelope(sale("AMY-26", "12345.67")))
    entry = next(
        e
        for e in client.get(f"/vehicles/{VIN}/history").json()["entries"]
        if e["index"] == sold.json()["index"]
    )
    stored = commissions(client, sqlite_ledger.settings.admin_token(), date.today().isoformat())
    rule = next(r for r in register_commission_rules() if r.id == stored[0]["rule"])
    assert rule.version == stored[0]["rule_version"]
    price = entry["record"]["price"]
    again = rule.compute(
        Referral(
            "AMY-26",
            "ref-amy",
            None,
            rule.id,
            rule.validate({"percent": "1.5", "cap": "250", "cap_currency": "EUR"}),
            "1HG/2003",
            "US-CA",
        ),
        SaleForCommission(
            entry["index"], VIN, "bay-auto", Decimal(price["amount"]), price["currency"]
        ),
    )
    assert [f"{c.amount:.2f}" for c in again] == [c["amount"] for c in stored] == ["185.19"]


def test_tokens_are_for_dealers_and_referrers(sqlite_ledger):
    from core.errors import InvalidInput

    onboard(sqlite_ledger, "acme", "inspector")
    with pytest.raises(InvalidInput, match="an inspector; API tokens are for dealers and"):
        sqlite_ledger.issue_token("acme")
    onboard(sqlite_ledger, "bay-auto", "dealer")
    assert sqlite_ledger.issue_token("bay-auto")


def test_a_token_revoked_reads_nothing_more(client, sqlite_ledger):
    from core.errors import NotFound

    onboard(sqlite_ledger, "bay-auto", "dealer")
    lost, kept = sqlite_ledger.issue_token("bay-auto"), sqlite_ledger.issue_token("bay-auto")
    assert commissions(client, lost, "2026-06-01") == []
    assert sqlite_ledger.revoke_tokens("bay-auto") == 2
    for token in (lost, kept):
        r = client.get("/commissions", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401 and "not known" in r.json()["detail"]
    assert commissions(client, sqlite_ledger.issue_token("bay-auto"), "2026-06-01") == []
    with pytest.raises(NotFound):
        sqlite_ledger.revoke_tokens("nobody")


def test_a_referral_is_signed_once_and_by_a_key_valid_when_it_is_stored(client, sqlite_ledger):
    ref = referrer(sqlite_ledger, "ref-amy")
    body = {
        "code": "TWO",
        "rule": "flat",
        "params": {"amount": "1", "currency": "EUR"},
        "model": "1HG/2003",
        "region": "US-CA",
    }
    env = json.loads(
        dsse.encode_envelope(
            dsse.sign_envelope(json.dumps(body).encode(), ref.key, payload_type=PAYLOAD_TYPE)
        )
    )
    env["signatures"].append(env["signatures"][0])
    r = client.post("/referrals", json=env)
    assert r.status_code == 400 and r.json()["field"] == "signatures", r.text
    sqlite_ledger.revoke_key(ref.keyid, "lost")
    r = refer(client, ref, "AFTER", "flat", {"amount": "1", "currency": "EUR"})
    assert r.status_code == 403 and "revoked" in r.json()["detail"]


def test_a_referral_asked_for_again_answers_with_the_code_it_made(client, sqlite_ledger):
    """A referrer whose answer was lost on the way asks again: it gets its code back
    (200, not created), and nothing is stored twice; even a limited slot it fills itself
    does not refuse it."""
    from ledger.schema import ReferralRow

    params = {"slots": 1, "amount": "100", "currency": "EUR"}
    amy = referrer(sqlite_ledger, "ref-amy")
    first = refer(client, amy, "AMY-26", "limited-slots", params)
    assert first.status_code == 201 and first.json()["created"] is True, first.text
    again = refer(client, amy, "AMY-26", "limited-slots", params)
    assert again.status_code == 200, again.text
    assert again.json() == first.json() | {"created": False}
    with sqlite_ledger.store.reader() as s:
        assert s.query(ReferralRow).count() == 1


@pytest.mark.parametrize("lookalike", ["amy-26", "AMY_26", "Amy_26"])
def test_a_code_that_reads_as_a_taken_one_is_refused(client, sqlite_ledger, lookalike):
    """Read out to a buyer, "amy-26" is AMY-26: another referrer taking it would divert
    Amy's commissions."""
    amy, bob = referrer(sqlite_ledger, "ref-amy"), referrer(sqlite_ledger, "ref-bob")
    terms = {"amount": "200", "currency": "EUR"}
    assert refer(client, amy, "AMY-26", "flat", terms).status_code == 201
    r = refer(client, bob, lookalike, "flat", terms)
    assert r.status_code == 409, r.text
    assert "reads as 'AMY-26', which is taken" in r.json()["detail"]
    assert refer(client, bob, "BOB-26", "flat", terms).status_code == 201
