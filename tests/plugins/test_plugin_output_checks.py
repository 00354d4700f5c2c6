"""What the ledger checks in a plugin's output before it keeps it (``plugins.claims``,
``plugins.submissions``): a provider's record, a policy's terms and its decisions.

A plugin's own mistake is a plugin failure (500 ``plugin-failed`` naming the plugin,
nothing appended), never something the ledger reinterprets, cuts or signs as it is;
terms no claim could be decided from refuse the sale (422) naming the policy.
"""

from __future__ import annotations

import json

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core import dsse
from plugins.hookspecs import hookimpl
from plugins.interfaces import Decision, InspectionProvider, Policy, Terms
from tests.conftest import VIN, onboard, with_plugin

OTHER_VIN = "1M8GDM9AXKP042788"  # valid, and not the car the report is about
REPORT_TYPE = "application/vnd.loose.report+json"
PLUGIN = "loose-plugin"
FAILED = "https://vinledger.dev/problems/plugin-failed"
SOLD_KM = 48_000


class LooseProvider(InspectionProvider):
    """A third party's provider whose record is whatever ``make`` makes of the report."""

    id = "loose"
    version = "1"
    payload_type = REPORT_TYPE

    def __init__(self):
        self.make = record_of

    def normalise(self, payload: bytes):
        return self.make(json.loads(payload))


class LoosePolicy(Policy):
    """A third party's warranty whose terms and decisions are whatever the test says."""

    id = "loose"
    version = "1"
    kind = "warranty"

    def __init__(self):
        self.changes: dict = {}
        self.decision: object = Decision(True, "covered")

    def terms(self, params, sale):
        return Terms(
            **{
                "policy": self.id,
                "version": self.version,
                "kind": self.kind,
                "starts": sale.sold_at.date().isoformat(),
                "ends": None,
                "km_limit": None,
                "components": ["engine"],
                "summary": "Engine repairs.",
                **self.changes,
            }
        )

    def decide(self, terms, claim):
        return self.decision


class LoosePlugin:
    def __init__(self):
        self.provider = LooseProvider()
        self.policy = LoosePolicy()

    @hookimpl
    def register_inspection_providers(self):
        return [self.provider]

    @hookimpl
    def register_policies(self):
        return [self.policy]


def record_of(report: dict) -> dict:
    """The provider's honest mapping of a report onto an inspection record."""
    return {
        "kind": "inspection",
        "vin": report["vin"].upper(),
        "occurred_at": report["date"],
        "provider": "Loose Inspections",
        "inspector": "L-1",
        "grade": "B",
        "items": [],
        "flags": dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False),
    }


def odometer_of(report: dict) -> dict:
    """A valid record, of a kind the provider was not asked for."""
    return {
        "kind": "odometer",
        "vin": report["vin"],
        "occurred_at": report["date"],
        "odometer_km": 48_210,
        "source": "inspection",
    }


REPORT = {"vin": VIN, "date": "2026-05-04T09:30:00Z"}


@pytest.fixture
def plugin():
    return LoosePlugin()


@pytest.fixture
def ledger(sqlite_ledger, plugin):
    return with_plugin(sqlite_ledger, plugin, PLUGIN)


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.splitlines()[1])


def history(client, vin: str = VIN) -> list[dict]:
    r = client.get(f"/vehicles/{vin}/history")
    return r.json()["entries"] if r.status_code == 200 else []


def assert_plugin_failed(r, before: int, client) -> dict:
    assert r.status_code == 500, r.text
    problem = r.json()
    assert problem["type"] == FAILED and problem["plugin"] == PLUGIN
    assert "field" not in problem  # nothing the submitter sent is at fault
    assert size(client) == before
    return problem


# ---- providers: the record must be a valid inspection of the signed report's car ----------


def submit_report(client, inspector, report: dict = REPORT):
    payload = json.dumps(report).encode()
    env = dsse.sign_envelope(payload, inspector.key, REPORT_TYPE)
    return client.post("/records", content=dsse.encode_envelope(env))


def test_a_report_normalised_about_its_own_car_goes_in(client, ledger):
    inspector = onboard(ledger, "loose-leeds", "inspector")
    r = submit_report(client, inspector)
    assert r.status_code == 201, r.text
    (entry,) = history(client)
    assert entry["derived"] == {"provider": "loose/1"} and entry["record"]["vin"] == VIN


def test_a_provider_that_files_a_signed_report_under_another_car_fails(client, ledger, plugin):
    plugin.provider.make = lambda report: {**record_of(report), "vin": OTHER_VIN}
    inspector = onboard(ledger, "loose-leeds", "inspector")
    before = size(client)
    problem = assert_plugin_failed(submit_report(client, inspector), before, client)
    assert OTHER_VIN in problem["detail"] and "'loose'" in problem["detail"]
    assert "not in the signed report" in problem["detail"]
    assert history(client, OTHER_VIN) == [] and history(client, VIN) == []


def test_the_vin_is_bound_in_its_normal_form_as_the_report_writes_it(client, ledger):
    """A report that spells the VIN in lowercase does not name the record's VIN: the
    binding looks for the 17 characters exactly as the record carries them."""
    inspector = onboard(ledger, "loose-leeds", "inspector")
    before = size(client)
    lowercase = {**REPORT, "vin": VIN.lower()}
    problem = assert_plugin_failed(submit_report(client, inspector, lowercase), before, client)
    assert f"VIN {VIN}" in problem["detail"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda report: {**record_of(report), "grade": "EXCELLENT!"}, "`$.grade`"),
        (lambda report: {**record_of(report), "vin": "1HGCM82633A00435"}, "`$.vin`"),
        (lambda report: {**record_of(report), "occurred_at": "2026-05-04"}, "`$.occurred_at`"),
        (lambda report: {**record_of(report), "colour": "red"}, "`$.colour`"),
        (lambda report: odometer_of(report), "an 'odometer', not an inspection"),
        (lambda report: [record_of(report)], "returned list"),
        (lambda report: {**record_of(report), "note": object()}, "not JSON"),
    ],
)
def test_a_record_the_provider_got_wrong_is_a_plugin_failure_naming_it(
    client, ledger, plugin, make, words
):
    plugin.provider.make = make
    inspector = onboard(ledger, "loose-leeds", "inspector")
    before = size(client)
    problem = assert_plugin_failed(submit_report(client, inspector), before, client)
    assert "provider 'loose'" in problem["detail"] and words in problem["detail"]
    assert "not in the signed report" in problem["detail"]


def test_a_report_the_provider_refuses_is_still_the_submitters_422(client, ledger, plugin):
    from core.errors import InvalidRecord

    def refuse(report):
        raise InvalidRecord("date is missing", field="$.date")

    plugin.provider.make = refuse
    inspector = onboard(ledger, "loose-leeds", "inspector")
    r = submit_report(client, inspector)
    assert r.status_code == 422 and r.json()["field"] == "$.date"


# ---- policies: terms a claim could be decided from ---------------------------------------


def sale() -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": SOLD_KM,
        "dealer": "bay-auto",
        "policies": [{"id": "loose"}],
    }


def claim(sale_index: int) -> dict:
    return {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": "2026-06-04T09:00:00Z",
        "odometer_km": SOLD_KM + 100,
        "sale": sale_index,
        "policy": "loose",
        "component": "engine",
        "description": "oil leak",
    }


def refused_sale(client, dealer) -> str:
    before = size(client)
    r = client.post("/records", content=dealer.envelope(sale()))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "$.policies[0].id" and f"'{PLUGIN}'" in r.json()["detail"]
    assert size(client) == before
    return r.json()["detail"]


@pytest.mark.parametrize("km_limit", [0, SOLD_KM - 1])
def test_a_km_limit_below_the_sales_own_reading_refuses_the_sale(client, ledger, plugin, km_limit):
    plugin.policy.changes = {"km_limit": km_limit}
    detail = refused_sale(client, onboard(ledger, "bay-auto", "dealer"))
    assert "`km_limit`" in detail and "below the sale's own reading of 48,000 km" in detail
    assert "the sale's reading plus the allowance" in detail


def test_a_km_limit_at_the_sales_reading_is_kept(client, ledger, plugin):
    """Inclusive, like ``ends``: it covers a claim at the very reading of the sale."""
    plugin.policy.changes = {"km_limit": SOLD_KM}
    r = client.post("/records", content=onboard(ledger, "bay-auto", "dealer").envelope(sale()))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "components, at",
    [
        (["Engine Block!!", ""], "`components[0]` is 'Engine Block!!'"),
        (["engine", ""], "`components[1]` is ''"),
        (["engine", "Engine"], "`components[1]` is 'Engine'"),
    ],
)
def test_components_no_claim_could_name_refuse_the_sale(client, ledger, plugin, components, at):
    plugin.policy.changes = {"components": components}
    detail = refused_sale(client, onboard(ledger, "bay-auto", "dealer"))
    assert at in detail and "lowercase letters, digits" in detail


# ---- policies: decisions are signed as decided, or not at all -----------------------------


@pytest.fixture
def sold(client, ledger):
    dealer = onboard(ledger, "bay-auto", "dealer")
    r = client.post("/records", content=dealer.envelope(sale()))
    assert r.status_code == 201, r.text
    return dealer, r.json()["index"]


@pytest.mark.parametrize(
    "decision, words",
    [
        (Decision("yes", ""), "approved='yes'"),
        (Decision(None, None), "approved=None"),
        (Decision(1, "covered"), "approved=1"),
        (Decision(True, ""), "reason=''"),
        (Decision(False, "   "), "reason='   '"),
        (Decision(True, None), "reason=None"),
        (Decision(True, 42), "reason=42"),
        (Decision(True, "x" * 2001), "2,001 characters"),
        ({"approved": True, "reason": "covered"}, "returned dict"),
    ],
)
def test_a_decision_that_is_not_a_bool_and_a_reason_is_a_plugin_failure(
    client, plugin, sold, decision, words
):
    dealer, index = sold
    plugin.policy.decision = decision
    before = size(client)
    r = client.post("/records", content=dealer.envelope(claim(index)))
    problem = assert_plugin_failed(r, before, client)
    assert "loose.decide" in problem["detail"] and words in problem["detail"]


@pytest.mark.parametrize("approved", [True, False])
def test_a_well_formed_decision_is_signed_exactly_as_decided(client, plugin, sold, approved):
    dealer, index = sold
    plugin.policy.decision = Decision(approved, "y" * 2000)  # the longest reason there is
    r = client.post("/records", content=dealer.envelope(claim(index)))
    assert r.is_success, r.text
    decided = history(client)[-1]["record"]
    assert decided["approved"] is approved and decided["reason"] == "y" * 2000
