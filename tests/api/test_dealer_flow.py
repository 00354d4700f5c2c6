"""A dealer's sale with guarantees, claims decided by the policy plugins, end to end."""

from __future__ import annotations

import json

import pluggy
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.service import Ledger
from core.errors import Conflict, Forbidden
from ledger.bundle import build_bundle
from ledger.verify import verify_bundle
from plugins import hookspecs
from plugins.builtin import policies
from plugins.hookspecs import hookimpl
from plugins.interfaces import Policy, Terms
from plugins.manager import create_plugin_manager
from plugins.registry import Registry
from tests.conftest import VIN, filed_when_dated, inspection, onboard


def sale(dealer="bay-auto", policies=None, km=48_000, day="01"):
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": f"2026-06-{day}T10:00:00Z",
        "odometer_km": km,
        "dealer": dealer,
        "price": {"amount": "18500.00", "currency": "EUR"},
        "policies": policies
        if policies is not None
        else [
            {"id": "return-7d", "params": {"max_km": 300}},
            {"id": "powertrain-30d"},
        ],
    }


def warranty(sale_index, day, km, component="engine", policy="powertrain-30d"):
    return {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T09:00:00Z",
        "odometer_km": km,
        "sale": sale_index,
        "policy": policy,
        "component": component,
        "description": "oil leak at the rear main seal",
    }


def return_request(sale_index, day, km):
    return {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T09:00:00Z",
        "odometer_km": km,
        "sale": sale_index,
        "policy": "return-7d",
    }


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.splitlines()[1])


def post(client, partner, record):
    with filed_when_dated(client.app.state.ledger, record):
        return client.post("/records", content=partner.envelope(record))


@pytest.fixture
def dealer(sqlite_ledger):
    return onboard(sqlite_ledger, "bay-auto", "dealer")


def test_sale_terms_claims_and_decisions(client, dealer, sqlite_ledger):
    r = post(client, dealer, sale())
    assert r.status_code == 201, r.text
    sold = r.json()["index"]
    history = client.get(f"/vehicles/{VIN}/history").json()
    terms = history["entries"][-1]["derived"]["terms"]
    assert [(t["policy"], t["ends"], t["km_limit"]) for t in terms] == [
        ("return-7d", "2026-06-08", 48_300),
        ("powertrain-30d", "2026-07-01", None),
    ]
    page = client.get(f"/vehicles/{VIN}").text
    assert "Return the car within 7 days and 300 km" in page

    r = post(client, dealer, warranty(sold, day=10, km=48_900))
    assert r.status_code == 201, r.text
    claim = r.json()["index"]
    r = post(client, dealer, return_request(sold, day=9, km=48_950))
    assert r.status_code == 201
    late = r.json()["index"]
    entries = {e["index"]: e for e in client.get(f"/vehicles/{VIN}/history").json()["entries"]}
    decided = entries[claim + 1]
    assert decided["kind"] == "claim_decision" and decided["signer"]["role"] == "operator"
    assert decided["record"]["claim"] == claim and decided["record"]["approved"] is True
    assert decided["record"]["days_since_sale"] == 9 and decided["record"]["km_since_sale"] == 900
    refused = entries[late + 1]["record"]
    assert refused["approved"] is False and "2026-06-08" in refused["reason"]
    assert verify_bundle(build_bundle(sqlite_ledger.store, VIN), sqlite_ledger.vkey).ok

    # Nobody submits a decision, not even the operator: only the ledger appends one,
    # right after the claim its policy decided.
    forged = {**decided["record"], "approved": False, "reason": "changed our mind"}
    with pytest.raises(Forbidden, match="appended by the ledger right after the claim"):
        sqlite_ledger.operator_submit(json.dumps(forged).encode())


def test_return_on_day_7_within_the_cap_is_approved(client, dealer):
    sold = post(client, dealer, sale()).json()["index"]
    r = post(client, dealer, return_request(sold, day=8, km=48_250))  # June 8 is day 7
    assert r.status_code == 201
    decision = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]["record"]
    assert decision["approved"] is True and decision["days_since_sale"] == 7
    # The sale is undone: a second return is the filer's mistake, refused and not logged.
    before = size(client)
    r = post(client, dealer, {**return_request(sold, day=8, km=48_260), "reason": "again"})
    assert r.status_code == 409, r.text
    assert f"entry {sold + 2} approved its return" in r.json()["detail"]
    assert size(client) == before


def test_the_km_since_sale_comes_from_the_ledger_when_the_claim_has_none(
    client, dealer, sqlite_ledger
):
    sold = post(client, dealer, sale()).json()["index"]
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    post(client, inspector, {**inspection(km=48_700), "occurred_at": "2026-06-05T08:00:00Z"})
    claim = warranty(sold, day=6, km=None)
    del claim["odometer_km"]
    assert post(client, dealer, claim).status_code == 201
    decision = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]["record"]
    assert decision["km_since_sale"] == 700 and decision["odometer_km"] == 48_700


def test_only_the_selling_dealer_files_claims_on_a_sale(client, dealer, sqlite_ledger):
    sold = post(client, dealer, sale()).json()["index"]
    other = onboard(sqlite_ledger, "rival-cars", "dealer")
    before = size(client)
    r = post(client, other, warranty(sold, day=3, km=48_100))
    assert r.status_code == 403 and "bay-auto" in r.json()["detail"]
    # Nor may a dealer attach guarantees to another dealer's sale.
    r = post(client, other, sale(dealer="bay-auto"))
    assert r.status_code == 403
    assert size(client) == before


@pytest.mark.parametrize(
    "record, field, words",
    [
        (
            sale(policies=[{"id": "return-7d", "params": {"max_km": 99_999}}]),
            "$.policies[0].params.max_km",
            "max_km",
        ),
        (sale(policies=[{"id": "lifetime-everything"}]), "$.policies[0].id", "return-7d"),
        (sale(policies=[{"id": "return-7d"}, {"id": "return-7d"}]), "$.policies[1].id", "twice"),
        ({**sale(), "odometer_km": None}, "$.odometer_km", "odometer"),
    ],
)
def test_bad_terms_are_refused_naming_the_field(client, dealer, record, field, words):
    record = {k: v for k, v in record.items() if v is not None}
    before = size(client)
    r = post(client, dealer, record)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and words in r.json()["detail"]
    assert size(client) == before


def test_a_claim_on_a_policy_the_sale_lacks(client, dealer):
    sold = post(client, dealer, sale(policies=[{"id": "return-7d"}])).json()["index"]
    r = post(client, dealer, warranty(sold, day=3, km=48_100))
    assert r.status_code == 422 and r.json()["field"] == "$.policy"
    assert "return-7d" in r.json()["detail"]


class Exploding(Policy):
    id = "exploding"
    version = "0.1"
    kind = "warranty"

    def terms(self, params, sale):
        return Terms(
            policy=self.id,
            version=self.version,
            kind="warranty",
            starts="2026-06-01",
            ends=None,
            km_limit=None,
            components=["engine"],
            summary="explodes on claims",
        )

    def decide(self, terms, claim):
        raise ZeroDivisionError("division by zero in the claims table")


class ExplodingPlugin:
    @hookimpl
    def register_policies(self):
        return [Exploding()]


def test_a_failing_plugin_is_a_problem_naming_it_and_appends_nothing(sqlite_ledger):
    pm = create_plugin_manager(load_entry_points=False)
    pm.register(ExplodingPlugin(), name="exploding-plugin")
    ledger = Ledger(sqlite_ledger.settings, sqlite_ledger.store, registry=Registry(pm))
    dealer = onboard(ledger, "bay-auto", "dealer")
    with TestClient(create_app(ledger)) as client:
        sold = post(client, dealer, sale(policies=[{"id": "exploding"}])).json()["index"]
        before = size(client)
        r = post(client, dealer, warranty(sold, day=3, km=48_100, policy="exploding"))
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("application/problem+json")
        body = r.json()
        assert body["plugin"] == "exploding-plugin" and "exploding-plugin" in body["detail"]
        assert "ZeroDivisionError" in body["detail"]
        assert size(client) == before
        assert client.get("/healthz").status_code == 200  # the server is still up


def test_an_operator_can_disable_a_plugin(sqlite_ledger):
    settings = sqlite_ledger.settings
    settings.disabled_plugins = ["plugins.builtin.policies"]
    ledger = Ledger(settings, sqlite_ledger.store)
    assert "return-7d" not in ledger.plugins.policies
    dealer = onboard(ledger, "bay-auto", "dealer")
    with TestClient(create_app(ledger)) as client:
        r = post(client, dealer, sale())
        assert r.status_code == 422 and "no policy 'return-7d'" in r.json()["detail"]
        assert post(client, dealer, sale(policies=[])).status_code == 201


def test_registry_refuses_two_plugins_claiming_one_id():
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(hookspecs)
    pm.register(policies, name="a")

    class Again:
        @hookimpl
        def register_policies(self):
            return [policies.SevenDayReturn()]

    pm.register(Again(), name="b")
    with pytest.raises(Conflict, match="'return-7d' is registered by both"):
        Registry(pm)


def test_dealer_reputation_and_operator_complaints_and_disputes(client, dealer, sqlite_ledger):
    sold = post(client, dealer, sale()).json()["index"]
    claim = post(client, dealer, warranty(sold, day=5, km=48_300)).json()["index"]
    admin = {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}
    complaint = {
        "kind": "complaint",
        "vin": VIN,
        "occurred_at": "2026-06-20T00:00:00Z",
        "dealer": "bay-auto",
        "sale": sold,
        "summary": "late refund, confirmed",
    }
    r = client.post("/admin/records", content=json.dumps(complaint), headers=admin)
    assert r.status_code == 201, r.text
    assert client.post("/admin/records", content=json.dumps(complaint)).status_code == 401
    dispute = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-06-21T00:00:00Z",
        "disputes": sold,
        "reason": "buyer disputes the sale mileage",
    }
    assert (
        client.post("/admin/records", content=json.dumps(dispute), headers=admin).status_code == 201
    )
    r = client.get("/dealers/bay-auto")
    assert r.status_code == 200
    f = r.json()
    assert f["sales"] == {"count": 1, "entries": [sold]}
    assert f["warranty_claims"]["honoured"] == [claim]
    assert f["complaints_upheld"]["count"] == 1 and f["rank"] is None
    assert "ranked by upheld complaints" in f["ranking_rule"]
    assert client.get("/dealers/nobody").status_code == 404
    view = client.get(f"/vehicles/{VIN}/history").json()["view"]
    assert view["disputed"][0]["index"] == sold
    assert "disputed" in client.get(f"/vehicles/{VIN}").text
    # A complaint must name a dealer's own sale of this vehicle.
    bad = {**complaint, "sale": claim}
    assert client.post("/admin/records", content=json.dumps(bad), headers=admin).status_code == 403


def test_a_returned_sale_shows_none_of_its_guarantees_in_force(client, dealer):
    policies = [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "reinspection-lifetime"}]
    sold = post(client, dealer, sale(policies=policies)).json()["index"]
    assert 'class="active"' in client.get(f"/vehicles/{VIN}?lang=en").text  # the lifetime one
    r = post(client, dealer, return_request(sold, day=3, km=48_100))
    assert r.status_code == 201, r.text
    page = client.get(f"/vehicles/{VIN}?lang=en").text
    assert page.count(f"the car was returned, entry {sold + 2}") == 2  # both policies
    assert 'class="active"' not in page
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "车辆已退回" in zh


def test_the_page_shows_the_guarantees_the_ledger_would_honour(client, dealer, sqlite_ledger):
    """A sale disputed and recorded again, and a car sold again: the page must not show
    as in force what a claim would be refused under (409)."""
    admin = {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}
    policies = [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "reinspection-lifetime"}]
    first = post(client, dealer, sale(policies=policies)).json()["index"]
    dispute = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-06-01T12:00:00Z",
        "disputes": first,
        "reason": "recorded with the wrong price",
    }
    r = client.post("/admin/records", content=json.dumps(dispute), headers=admin)
    assert r.status_code == 201, r.text
    post(client, dealer, sale(policies=policies, km=48_001))  # recorded again, the same day
    page = client.get(f"/vehicles/{VIN}?lang=en").text
    assert page.count("the sale was disputed and recorded again") == 2  # both policies
    other = onboard(sqlite_ledger, "city-cars", "dealer")
    post(client, other, sale(dealer="city-cars", policies=[], km=48_050, day="02"))
    page = client.get(f"/vehicles/{VIN}?lang=en").text
    assert "the car was sold again" in page  # the second sale's return, not its lifetime one
    assert page.count('class="active"') == 1
    assert "车辆已再次售出" in client.get(f"/vehicles/{VIN}?lang=zh").text


def test_a_sale_logged_before_terms_were_stated_says_so_on_its_claims_and_page(
    client, dealer, sqlite_ledger
):
    """The first release logged sales with no stated terms: their policies are named in
    the signed record only. A claim under one is refused saying why (not "it carries
    none"), and the page lists the policy as named but deciding nothing, instead of
    "no policy attached" above a timeline that shows it."""
    from core import dsse
    from core.records import parse_record
    from ledger.sequencer import Submission

    record = sale()
    env = dsse.decode_envelope(dealer.envelope(record))
    parsed = parse_record(json.dumps(record).encode())
    sub = Submission(env, parsed, dsse.envelope_digest(env), dealer.keyid, None)  # no terms
    [logged] = sqlite_ledger.sequencer.sequence([sub])
    r = post(client, dealer, return_request(logged.index, 2, 48_100))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "names policy 'return-7d' in its signed record" in detail, detail
    assert "logged before this ledger stated a policy's terms" in detail
    assert "it carries: none" not in detail
    page = client.get(f"/vehicles/{VIN}?lang=en").text
    assert "No warranty or return policy is attached" not in page
    assert page.count("named at sale, but logged before this ledger stated") == 2, page
