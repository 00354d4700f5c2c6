"""examples/vinledger-autoscope, installed as a third party would install it, end to end.

The package is its own distribution; CI installs it (``pip install -e
examples/vinledger-autoscope``) before the suite, and these tests fail there without it.
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, distribution

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.service import Ledger
from core import dsse
from ledger.bundle import build_bundle
from ledger.verify import verify_bundle
from plugins.manager import create_plugin_manager, list_plugins
from tests.conftest import VIN, filed_when_dated, onboard

PAYLOAD_TYPE = "application/vnd.autoscope.report+json"
REPORT = {
    "ref": "AS-2026-004187",
    "vin": VIN,
    "date": "2026-05-04T09:30:00Z",
    "km": 48_210,
    "inspector": "AS-117",
    "score": 82,
    "checks": {
        "frame": "ok",
        "water": False,
        "fire": False,
        "airbags": "ok",
        "paint": [{"panel": "hood", "microns": 118}, {"panel": "roof", "microns": 410}],
    },
}


@pytest.fixture(autouse=True)
def installed():
    try:
        distribution("vinledger-autoscope")
    except PackageNotFoundError:
        from tests.conftest import need

        need("pip install -e examples/vinledger-autoscope")


def signed(partner, report: dict) -> bytes:
    payload = json.dumps(report).encode()
    return dsse.encode_envelope(dsse.sign_envelope(payload, partner.key, PAYLOAD_TYPE))


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.splitlines()[1])


def test_the_manager_finds_it_through_its_entry_point():
    (info,) = [i for i in list_plugins(create_plugin_manager()) if i.name == "autoscope"]
    assert info.version == "0.1.0" and not info.builtin
    assert info.hooks == ("register_inspection_providers", "register_policies")


def test_a_signed_autoscope_report_is_normalised_and_verifies(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "autoscope-leeds", "inspector")
    with TestClient(create_app(sqlite_ledger)) as client:
        r = client.post("/records", content=signed(inspector, REPORT))
        assert r.status_code == 201, r.text
        entry = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]
    assert entry["index"] == r.json()["index"]
    # The history shows the normalised inspection as the entry's record; the entry itself
    # keeps AutoScope's signed report and the record in ``derived`` beside it.
    assert entry["derived"] == {"provider": "autoscope/1"}
    record = entry["record"]
    assert (record["kind"], record["provider"], record["grade"]) == ("inspection", "AutoScope", "B")
    assert (record["occurred_at"], record["odometer_km"]) == ("2026-05-04T09:30:00Z", 48_210)
    assert record["flags"]["accident"] is True and record["flags"]["structural"] is False
    assert {
        "code": "paint-roof",
        "result": "major",
        "note": "410 µm: body filler under the paint",
    } in record["items"]
    assert verify_bundle(build_bundle(sqlite_ledger.store, VIN), sqlite_ledger.vkey).ok


def test_a_bad_report_is_refused_naming_the_field(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "autoscope-leeds", "inspector")
    with TestClient(create_app(sqlite_ledger)) as client:
        before = size(client)
        bad = {**REPORT, "checks": {**REPORT["checks"], "fire": True}}  # score 82 with fire
        r = client.post("/records", content=signed(inspector, bad))
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "$.score" and "fire damage" in r.json()["detail"]
        assert size(client) == before


def test_its_reinspection_policy_decides_claims(sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": 48_300,
        "dealer": "bay-auto",
        "policies": [{"id": "autoscope-reinspection-14d"}],
    }
    with TestClient(create_app(sqlite_ledger)) as client:
        r = client.post("/records", content=dealer.envelope(sale))
        assert r.status_code == 201, r.text
        sold = r.json()["index"]
        claim = {
            "kind": "warranty_claim",
            "vin": VIN,
            "occurred_at": "2026-06-15T09:00:00Z",
            "sale": sold,
            "policy": "autoscope-reinspection-14d",
            "component": "reinspection",
            "description": "buyer asks for the free re-inspection",
        }
        with filed_when_dated(sqlite_ledger, claim):
            assert client.post("/records", content=dealer.envelope(claim)).status_code == 201
        entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    (terms,) = entries[-3]["derived"]["terms"]
    assert (terms["policy"], terms["version"], terms["ends"]) == (
        "autoscope-reinspection-14d",
        "1",
        "2026-06-15",
    )
    decision = entries[-1]["record"]
    assert decision["kind"] == "claim_decision" and decision["approved"] is True
    assert (decision["policy"], decision["policy_version"]) == ("autoscope-reinspection-14d", "1")


def test_disabled_in_config_its_payload_type_is_refused(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "autoscope-leeds", "inspector")
    settings = sqlite_ledger.settings
    settings.disabled_plugins = ["autoscope"]
    ledger = Ledger(settings, sqlite_ledger.store)
    assert PAYLOAD_TYPE not in ledger.plugins.providers
    assert "autoscope-reinspection-14d" not in ledger.plugins.policies
    with TestClient(create_app(ledger)) as client:
        before = size(client)
        r = client.post("/records", content=signed(inspector, REPORT))
        assert r.status_code == 400, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["field"] == "payloadType" and PAYLOAD_TYPE in r.json()["detail"]
        assert size(client) == before
