"""A claim's receipt tells the dealer the decision the ledger appended right after it."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import VIN, inspection, onboard

SALE = {
    "kind": "sale",
    "vin": VIN,
    "occurred_at": "2026-06-01T10:00:00Z",
    "odometer_km": 48_000,
    "dealer": "bay-auto",
    "policies": [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "powertrain-30d"}],
}


def returned(sale: int, km: int) -> dict:
    return {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-05T10:00:00Z",
        "odometer_km": km,
        "sale": sale,
        "policy": "return-7d",
    }


def warranty(sale: int) -> dict:
    return {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": "2026-06-05T10:00:00Z",
        "sale": sale,
        "policy": "powertrain-30d",
        "component": "engine",
        "description": "oil leak at the rear main seal",
    }


@pytest.fixture
def client(sqlite_ledger):
    sqlite_ledger.clock = lambda: datetime(2026, 6, 5, 11, 0, tzinfo=UTC)
    with TestClient(create_app(sqlite_ledger)) as c:
        yield c


@pytest.fixture
def dealer(sqlite_ledger):
    return onboard(sqlite_ledger, "bay-auto", "dealer")


@pytest.fixture
def sale(client, dealer) -> int:
    r = client.post("/records", content=dealer.envelope(SALE))
    assert r.status_code == 201, r.text
    assert "decision" not in r.json()  # only a claim's receipt has one
    return r.json()["index"]


def decision_entry(client, index: int) -> dict:
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    (entry,) = [e for e in entries if e["index"] == index]
    return entry


def test_a_return_request_receipt_carries_the_decision(client, dealer, sale):
    r = client.post("/records", content=dealer.envelope(returned(sale, km=48_100)))
    assert r.status_code == 201, r.text
    receipt = r.json()
    decision = receipt["decision"]
    assert decision["index"] == receipt["index"] + 1
    assert decision["approved"] is True and decision["policy"] == "return-7d"
    entry = decision_entry(client, decision["index"])
    assert entry["kind"] == "claim_decision"
    assert entry["record"]["claim"] == receipt["index"]
    assert entry["record"]["reason"] == decision["reason"]
    # The receipt's entry is the claim's, and the decision is in its checkpoint.
    claim = json.loads(base64.b64decode(receipt["entry"]))
    assert claim["kind"] == "return_request"
    assert receipt["size"] > decision["index"]

    again = client.post("/records", content=dealer.envelope(returned(sale, km=48_100)))
    assert again.status_code == 200 and again.json()["decision"] == decision


def test_a_refused_claim_says_why(client, dealer, sale):
    r = client.post("/records", content=dealer.envelope(returned(sale, km=49_000)))
    assert r.status_code == 201, r.text
    decision = r.json()["decision"]
    assert decision["approved"] is False and decision["reason"]
    assert decision_entry(client, decision["index"])["record"]["approved"] is False


def test_batch_receipts_carry_each_claims_decision(client, sqlite_ledger, dealer, sale):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    envs = [
        inspector.envelope(inspection(day=5)),
        dealer.envelope(warranty(sale)),
    ]
    r = client.post("/records/batch", content=b'{"envelopes":[' + b",".join(envs) + b"]}")
    assert r.status_code == 200, r.text
    first, claim = r.json()["results"]
    assert "decision" not in first
    assert claim["decision"]["index"] == claim["index"] + 1
    assert claim["decision"]["policy"] == "powertrain-30d"


def test_a_claim_the_operator_files_answers_its_decision(client, sqlite_ledger, sale):
    token = {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}
    r = client.post("/admin/records", content=json.dumps(returned(sale, 48_050)), headers=token)
    assert r.status_code == 201, r.text
    assert r.json()["decision"]["index"] == r.json()["index"] + 1


def test_the_field_is_documented(client):
    schema = client.get("/schema/openapi.json").json()
    post = schema["paths"]["/records"]["post"]
    assert "decision" in post["description"] and "claim_decision" in post["description"]
