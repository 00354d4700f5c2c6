"""plugins/referrals.py through the API: what a referral may be used for, who is paid,
and how amounts are stored, whatever the rule plugins compute."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from litestar.testing import TestClient
from sqlalchemy import delete

from api.app import create_app
from api.config import create_data_dir
from api.service import Ledger
from core import dsse
from core.keys import generate_private_key
from ledger.schema import ActorRow, CommissionRow, CommissionSaleRow, ReferralRow
from ledger.storage import Store, log_size
from plugins import referrals
from plugins.hookspecs import hookimpl
from plugins.interfaces import Commission, CommissionRule
from plugins.manager import create_plugin_manager
from plugins.referrals import PAYLOAD_TYPE
from plugins.registry import Registry
from tests.conftest import VIN, VIN2, Partner, onboard

# ---- third-party rules that do what the built-ins never do ------------------------------


class _Odd(CommissionRule):
    version = "1"

    def validate(self, params):
        return {}


class HalfCents(_Odd):
    """Amounts exactly half a cent from a boundary: half-even and half-up differ."""

    id = "half-cents"

    def compute(self, referral, sale):
        paid = [Commission(referral.referrer, Decimal("1.005"), "EUR", 1, self.id, self.version)]
        if referral.upline:
            paid.append(Commission(referral.upline, Decimal("0.125"), "EUR", 2, self.id, "1"))
        return paid


class Floaty(_Odd):
    id = "floaty"

    def compute(self, referral, sale):
        return [Commission(referral.referrer, 12.5, "EUR", 1, self.id, self.version)]


class FloatyLater(_Odd):
    """Decimal while the sale is checked, a float once it is in the log."""

    id = "floaty-later"

    def compute(self, referral, sale):
        amount = Decimal("12.50") if sale.index == -1 else 12.5
        return [Commission(referral.referrer, amount, "EUR", 1, self.id, self.version)]


class Naive(_Odd):
    """Pays the upline whoever it is, the selling dealer included."""

    id = "naive"

    def compute(self, referral, sale):
        paid = [Commission(referral.referrer, Decimal("10"), "EUR", 1, self.id, self.version)]
        if referral.upline:
            paid.append(Commission(referral.upline, Decimal("5"), "EUR", 2, self.id, "1"))
        return paid


class OddRules:
    @hookimpl
    def register_commission_rules(self):
        return [HalfCents(), Floaty(), FloatyLater(), Naive()]


@pytest.fixture
def ledger(tmp_path):
    """The built-ins and ``OddRules`` on SQLite."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    settings = create_data_dir(
        tmp_path / "data", origin="test.vinledger.localhost/log", database_url=url
    )
    store = Store(url)
    store.create_schema()
    pm = create_plugin_manager(load_entry_points=False)
    pm.register(OddRules(), name="odd-rules")
    lg = Ledger(settings, store, registry=Registry(pm))
    lg.genesis()
    yield lg
    lg.close()


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


def referrer(ledger, actor_id, upline=None) -> Partner:
    p = Partner(actor_id, "referrer", generate_private_key())
    ledger.add_actor(actor_id, actor_id.title(), "referrer", p.public_pem, upline)
    return p


def refer(client, who, code, rule, params=None, model="1HG/2003", region="US-CA"):
    body = {"code": code, "rule": rule, "params": params or {}, "model": model, "region": region}
    env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
    return client.post("/referrals", content=dsse.encode_envelope(env))


def sell(client, dealer, code, vin=VIN, amount="20000.00"):
    rec = {
        "kind": "sale",
        "vin": vin,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": 48_000,
        "dealer": dealer.actor_id,
        "price": {"amount": amount, "currency": "EUR"},
        "referral_code": code,
    }
    return client.post("/records", content=dealer.envelope(rec))


def paid(client, ledger):
    r = client.get(
        "/commissions",
        params={"as_of": "2026-06-05"},
        headers={"Authorization": f"Bearer {ledger.settings.admin_token()}"},
    )
    assert r.status_code == 200, r.text
    return [(c["beneficiary"], c["level"], c["amount"]) for c in r.json()["commissions"]]


def logged(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def set_upline(ledger, actor_id, upline):
    """What ``add_actor`` refuses, as an older ledger or a replayed log may hold it."""
    with ledger.store.writer.begin() as s:
        s.get(ActorRow, actor_id).upline = upline


# ---- limited slots ------------------------------------------------------------------------

SLOTS = {"amount": "100", "currency": "EUR"}


def test_a_referrer_cannot_take_a_slot_by_asking_for_more_slots(client, ledger):
    a, b, c = (referrer(ledger, f"ref-{n}") for n in "abc")
    assert refer(client, a, "A-1", "limited-slots", SLOTS | {"slots": 2}).status_code == 201
    assert refer(client, b, "B-1", "limited-slots", SLOTS | {"slots": 2}).status_code == 201
    assert refer(client, c, "C-1", "limited-slots", SLOTS | {"slots": 2}).status_code == 409
    r = refer(client, c, "C-2", "limited-slots", SLOTS | {"slots": 3})
    assert r.status_code == 409, r.text
    assert "fixed at 2" in r.json()["detail"]


def test_slots_count_only_referrals_under_the_limited_slots_rule(client, ledger):
    x, y, a, b, c = (referrer(ledger, f"ref-{n}") for n in "xyabc")
    assert refer(client, x, "X-1", "flat", {"amount": "1", "currency": "EUR"}).status_code == 201
    assert refer(client, y, "Y-1", "percentage", {"percent": "1"}).status_code == 201
    r = refer(client, a, "A-1", "limited-slots", SLOTS | {"slots": 2})
    assert r.status_code == 201, r.text
    assert refer(client, b, "B-1", "limited-slots", SLOTS | {"slots": 2}).status_code == 201
    assert refer(client, c, "C-1", "limited-slots", SLOTS | {"slots": 2}).status_code == 409


# ---- the car model -------------------------------------------------------------------------


def test_a_code_for_another_model_is_refused_on_the_sale(client, ledger):
    ref = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    assert refer(client, ref, "HONDA-03", "flat", {"amount": "150", "currency": "EUR"}).is_success
    r = sell(client, dealer, "HONDA-03", vin=VIN2)  # an LSV… car of model year 2022
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "$.referral_code"
    assert "1HG/2003" in r.json()["detail"] and "LSV/2022" in r.json()["detail"]
    assert paid(client, ledger) == []
    assert sell(client, dealer, "HONDA-03").status_code == 201  # 1HGCM82633A004352: 1HG/2003
    assert paid(client, ledger) == [("ref-amy", 1, "150.00")]


def test_the_model_year_must_match_too(client, ledger):
    ref = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    flat = {"amount": "150", "currency": "EUR"}
    assert refer(client, ref, "HONDA-04", "flat", flat, model="1HG/2004").is_success
    assert sell(client, dealer, "HONDA-04").status_code == 422


@pytest.mark.parametrize("model", ["Accord", "1HG2003", "1hg/2003", "1HO/2003", "1HG/03"])
def test_a_model_that_no_vin_could_match_is_refused_at_creation(client, ledger, model):
    ref = referrer(ledger, "ref-amy")
    r = refer(client, ref, "BAD-1", "flat", {"amount": "1", "currency": "EUR"}, model=model)
    assert r.status_code == 422 and r.json()["field"] == "model"


def test_a_logged_sale_of_another_model_earns_nothing(client, ledger):
    """A sale logged before the model was checked (and before commissions were
    computed at the sale, so it has none stored) is never paid."""
    ref = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    refer(client, ref, "HONDA-03", "flat", {"amount": "150", "currency": "EUR"})
    sold = sell(client, dealer, "HONDA-03")
    assert sold.status_code == 201
    with ledger.store.writer.begin() as s:
        s.get(ReferralRow, "HONDA-03").model = "LSV/2022"
        for table in (CommissionRow, CommissionSaleRow):
            s.execute(delete(table).where(table.sale_idx == sold.json()["index"]))
    assert paid(client, ledger) == []


# ---- who is paid ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["two-level", "naive"])
def test_the_selling_dealer_earns_nothing_as_the_upline(client, ledger, rule):
    dealer = onboard(ledger, "bay-auto", "dealer")
    ref = referrer(ledger, "ref-amy")
    set_upline(ledger, "ref-amy", "bay-auto")  # refused now; an older ledger may hold it
    params = {"percent": "2", "upline_percent": "1"} if rule == "two-level" else {}
    assert refer(client, ref, "AMY-1", rule, params).status_code == 201
    assert sell(client, dealer, "AMY-1").status_code == 201
    assert [who for who, _, _ in paid(client, ledger)] == ["ref-amy"]


def test_another_dealer_as_the_upline_on_an_older_ledger_is_paid_as_it_was_recorded(
    client, ledger, monkeypatch
):
    onboard(ledger, "uptown", "dealer")
    dealer = onboard(ledger, "bay-auto", "dealer")
    ref = referrer(ledger, "ref-amy")
    set_upline(ledger, "ref-amy", "uptown")  # refused now (tests/plugins/test_upline_role.py)
    with monkeypatch.context() as older:  # a referral made by an older release
        older.setattr(referrals, "_paid_upline", lambda s, actor, **_: actor.upline)
        refer(client, ref, "AMY-1", "two-level", {"percent": "2", "upline_percent": "1"})
    assert sell(client, dealer, "AMY-1").status_code == 201
    assert paid(client, ledger) == [("ref-amy", 1, "400.00"), ("uptown", 2, "200.00")]


def test_a_referrer_that_is_its_own_upline_cannot_create_a_code(client, ledger):
    ref = referrer(ledger, "ref-amy")
    set_upline(ledger, "ref-amy", "ref-amy")
    r = refer(client, ref, "AMY-1", "two-level", {"percent": "2", "upline_percent": "1"})
    assert r.status_code == 409, r.text
    assert "ref-amy → ref-amy" in r.json()["detail"]


def test_an_upline_cycle_is_refused(client, ledger):
    b = referrer(ledger, "ref-b")
    a = referrer(ledger, "ref-a", upline="ref-b")
    c = referrer(ledger, "ref-c", upline="ref-a")
    set_upline(ledger, "ref-b", "ref-a")
    for who in (a, b, c):
        r = refer(client, who, f"{who.actor_id}-1", "flat", {"amount": "1", "currency": "EUR"})
        assert r.status_code == 409, r.text
        assert "comes back on itself" in r.json()["detail"]


# ---- amounts -------------------------------------------------------------------------------


def test_amounts_are_stored_rounded_half_up(client, ledger):
    referrer(ledger, "ref-boss")
    ref = referrer(ledger, "ref-amy", upline="ref-boss")
    dealer = onboard(ledger, "bay-auto", "dealer")
    assert refer(client, ref, "HALF-1", "half-cents").status_code == 201
    assert sell(client, dealer, "HALF-1").status_code == 201
    assert paid(client, ledger) == [("ref-amy", 1, "1.01"), ("ref-boss", 2, "0.13")]


def test_a_rule_that_computes_a_float_as_the_sale_is_checked_leaves_it_pending(client, ledger):
    # The rule's fault, not the dealer's: the sale is logged with its commission pending,
    # as when the rule fails as the sale is logged (it was refused with a 500 before).
    ref = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    assert refer(client, ref, "FLOAT-1", "floaty").status_code == 201
    size = logged(ledger)
    r = sell(client, dealer, "FLOAT-1")
    assert r.status_code == 201, r.text
    assert logged(ledger) == size + 1
    assert paid(client, ledger) == [(None, None, None)]  # pending, with why
    r = client.get(
        "/commissions",
        params={"as_of": "2026-06-05"},
        headers={"Authorization": f"Bearer {ledger.settings.admin_token()}"},
    )
    (pending,) = r.json()["commissions"]
    assert pending["status"] == "pending" and pending["rule"] == "floaty"
    assert "'odd-rules'" in pending["reason"] and "float" in pending["reason"]


def test_a_float_computed_as_the_sale_is_logged_is_not_stored_and_the_sale_is_kept(client, ledger):
    ref = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    refer(client, ref, "LATER-1", "floaty-later")
    assert sell(client, dealer, "LATER-1").status_code == 201
    assert paid(client, ledger) == [(None, None, None)]  # pending, with why
    r = client.get(
        "/commissions",
        params={"as_of": "2026-06-05"},
        headers={"Authorization": f"Bearer {ledger.settings.admin_token()}"},
    )
    (pending,) = r.json()["commissions"]
    assert pending["status"] == "pending" and pending["rule"] == "floaty-later"
    assert "'odd-rules'" in pending["reason"] and "float" in pending["reason"]
