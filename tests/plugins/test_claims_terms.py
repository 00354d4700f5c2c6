"""The terms claims are decided from: checked when the sale is, so that a policy's
terms that no claim could be decided from are refused at the sale, naming it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.service import Ledger
from core import dsse
from core.records import parse_record
from ledger.sequencer import Submission
from plugins.hookspecs import hookimpl
from plugins.interfaces import Decision, Policy, Terms
from plugins.manager import create_plugin_manager
from plugins.registry import Registry
from tests.conftest import VIN, onboard

GOOD = {
    "policy": "sloppy",
    "version": "1",
    "kind": "warranty",
    "starts": "2026-06-01",
    "ends": "2026-07-01",
    "km_limit": None,
    "components": ["engine"],
    "summary": "Engine repairs for a month.",
}


class Sloppy(Policy):
    """A third party's policy whose terms are whatever the test says."""

    id = "sloppy"
    version = "1"
    kind = "warranty"
    stated: object = None

    def terms(self, params, sale):
        return self.stated

    def decide(self, terms, claim):
        return Decision(True, "covered")


class SloppyPlugin:
    def __init__(self, policy):
        self.policy = policy

    @hookimpl
    def register_policies(self):
        return [self.policy]


def sale(policies, at="2026-06-01T10:00:00Z"):
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": at,
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "policies": policies,
    }


def claim(sale_index, policy="sloppy"):
    return {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": "2026-06-04T09:00:00Z",
        "odometer_km": 48_100,
        "sale": sale_index,
        "policy": policy,
        "component": "engine",
        "description": "oil leak",
    }


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.splitlines()[1])


@pytest.fixture
def policy():
    return Sloppy()


@pytest.fixture
def ledger(sqlite_ledger, policy):
    pm = create_plugin_manager(load_entry_points=False)
    pm.register(SloppyPlugin(policy), name="sloppy-plugin")
    ledger = Ledger(
        sqlite_ledger.settings,
        sqlite_ledger.store,
        registry=Registry(pm),
        clock=lambda: datetime(2026, 6, 4, 12, 0, tzinfo=UTC),
    )
    return ledger


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


# ---- 7. a sale too close to the calendar's end -----------------------------------------


@pytest.mark.parametrize(
    "policies", [[{"id": "return-7d"}], [{"id": "powertrain-30d"}], [{"id": "limited-90d"}]]
)
def test_a_far_future_sale_is_refused_naming_its_date_not_a_500(sqlite_ledger, policies):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    with TestClient(create_app(sqlite_ledger)) as client:
        before = size(client)
        r = client.post(
            "/records", content=dealer.envelope(sale(policies, at="9999-12-28T10:00:00Z"))
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "$.occurred_at" and "9999-12-28" in r.json()["detail"]
        assert size(client) == before


# ---- 8. terms a claim could not be decided from --------------------------------------------


@pytest.mark.parametrize(
    "stated, words",
    [
        (Terms(**{**GOOD, "starts": "01/06/2026"}), "starts"),
        (Terms(**{**GOOD, "starts": "2026-05-01"}), "the sale's day 2026-06-01"),
        (Terms(**{**GOOD, "ends": "2026-02-30"}), "ends"),
        (Terms(**{**GOOD, "ends": "2026-05-31"}), "before `starts`"),
        (Terms(**{**GOOD, "policy": "other"}), "policy"),
        (Terms(**{**GOOD, "version": "2"}), "version"),
        (Terms(**{**GOOD, "kind": "return"}), "kind"),
        (Terms(**{**GOOD, "km_limit": -1}), "km_limit"),
        (Terms(**{**GOOD, "summary": " "}), "summary"),
    ],
)
def test_malformed_terms_refuse_the_sale_naming_the_policy_and_plugin(
    client, ledger, policy, stated, words
):
    policy.stated = stated
    dealer = onboard(ledger, "bay-auto", "dealer")
    before = size(client)
    r = client.post("/records", content=dealer.envelope(sale([{"id": "sloppy"}])))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "$.policies[0].id"
    assert "'sloppy'" in problem["detail"] and "'sloppy-plugin'" in problem["detail"]
    assert words in problem["detail"]
    assert size(client) == before


@pytest.mark.parametrize(
    "stated, words",
    [
        (Terms(**{**GOOD, "kind": "lifetime"}), "kind"),
        (Terms(**{**GOOD, "km_limit": "500"}), "km_limit"),
        ({**GOOD, "colour": "red"}, "sloppy.terms returned dict, not Terms"),
        (dict(GOOD), "sloppy.terms returned dict, not Terms"),  # as decide's Decision
        (None, "returned NoneType, not Terms"),
        (object(), "returned object, not Terms"),
    ],
)
def test_terms_of_the_wrong_type_are_the_plugins_failure_not_the_dealers(
    client, ledger, policy, stated, words
):
    # Anything but well-typed Terms is the plugin's fault, as decide returning anything
    # but a Decision is: 500 plugin-failed naming the plugin and the hook, not a 422.
    policy.stated = stated
    dealer = onboard(ledger, "bay-auto", "dealer")
    before = size(client)
    r = client.post("/records", content=dealer.envelope(sale([{"id": "sloppy"}])))
    assert r.status_code == 500, r.text
    problem = r.json()
    assert problem["type"].endswith("/plugin-failed") and problem["plugin"] == "sloppy-plugin"
    assert problem.get("field") is None
    assert "sloppy.terms" in problem["detail"] and words in problem["detail"]
    assert '"disabled_plugins": ["sloppy-plugin"]' in problem["detail"]
    assert size(client) == before


def test_well_formed_terms_are_stored_and_decide_claims(client, ledger, policy):
    policy.stated = Terms(**GOOD)
    dealer = onboard(ledger, "bay-auto", "dealer")
    sold = client.post("/records", content=dealer.envelope(sale([{"id": "sloppy"}])))
    assert sold.status_code == 201, sold.text
    assert client.post("/records", content=dealer.envelope(claim(sold.json()["index"]))).is_success
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    assert entries[-3]["derived"]["terms"] == [{**GOOD, "exclusions": []}]
    assert entries[-1]["record"]["approved"] is True


def test_malformed_terms_stored_before_the_check_fail_a_claim_naming_the_plugin(client, ledger):
    dealer = onboard(ledger, "bay-auto", "dealer")
    payload = json.dumps(sale([{"id": "sloppy"}])).encode()
    env = dsse.sign_envelope(payload, dealer.key)
    bad = {**GOOD, "kind": "lifetime"}
    (placed,) = ledger.sequencer.sequence(
        [
            Submission(
                env,
                parse_record(payload),
                dsse.envelope_digest(env),
                dealer.keyid,
                {"terms": [bad]},
            )
        ]
    )
    before = size(client)
    r = client.post("/records", content=dealer.envelope(claim(placed.index)))
    assert r.status_code == 500, r.text
    assert r.json()["plugin"] == "sloppy-plugin" and "malformed" in r.json()["detail"]
    assert size(client) == before
