"""A firm's own report format through the API: signed as is, normalised, verifiable."""

from __future__ import annotations

import json
from pathlib import Path

from litestar.testing import TestClient

from api.app import create_app
from core import dsse
from ledger.bundle import build_bundle
from ledger.verify import verify_bundle
from tests.conftest import onboard

REPORT = json.loads(
    (Path(__file__).parents[1] / "plugins" / "data" / "checklist-report.json").read_text()
)
TYPE = "application/vnd.checklist.inspection-report+json"


def signed(partner, report: dict) -> bytes:
    payload = json.dumps(report, ensure_ascii=False).encode()
    return dsse.encode_envelope(dsse.sign_envelope(payload, partner.key, TYPE))


def test_a_checklist_report_goes_in_signed_as_is_and_verifies(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "huacheng", "inspector")
    vin = REPORT["vin"]
    with TestClient(create_app(sqlite_ledger)) as client:
        r = client.post("/records", content=signed(inspector, REPORT))
        assert r.status_code == 201, r.text
        (entry,) = client.get(f"/vehicles/{vin}/history").json()["entries"]
        assert entry["derived"] == {"provider": "checklist/1"}
        assert entry["record"]["kind"] == "inspection" and entry["record"]["grade"] == "B+"
        assert entry["record"]["odometer_km"] == 48_210
        page = client.get(f"/vehicles/{vin}").text
        assert "body-rear-left-door" in page and "repainted, 184 µm" in page
        # The grade and items are the plugin's reading of the report, and the page says so.
        assert "plugin checklist/1 reads it" in page
        zh = client.get(f"/vehicles/{vin}?lang=zh").text
        assert "本账本插件 checklist/1 对该报告的解读" in zh
        # The partner's signature covers the report exactly as the firm wrote it.
        bundle = build_bundle(sqlite_ledger.store, vin)
        assert verify_bundle(bundle, sqlite_ledger.vkey).ok
        assert client.post("/records", content=signed(inspector, REPORT)).status_code == 200

        bad = {**REPORT, "sections": {k: v for k, v in REPORT["sections"].items() if k != "fire"}}
        before = client.get("/log/checkpoint").text
        r = client.post("/records", content=signed(inspector, bad))
        assert r.status_code == 422 and r.json()["field"] == "$.sections.fire"
        assert client.get("/log/checkpoint").text == before


def test_a_report_signed_by_another_role_is_refused_before_its_provider_reads_it(
    sqlite_ledger, monkeypatch
):
    """A dealer's key on an inspection report: 403 for the signer's role, and the
    provider's plugin never runs (a bug of its own there would answer a 500)."""
    from plugins.builtin.checklist_inspection import ChecklistInspection

    def must_not_run(self, payload):
        raise AssertionError("the provider read a report its signer may not submit")

    monkeypatch.setattr(ChecklistInspection, "normalise", must_not_run)
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    with TestClient(create_app(sqlite_ledger)) as client:
        before = client.get("/log/checkpoint").text
        r = client.post("/records", content=signed(dealer, REPORT))
        assert r.status_code == 403, r.text
        assert "dealer" in r.json()["detail"] and "inspection" in r.json()["detail"]
        assert client.get("/log/checkpoint").text == before


def test_a_payload_type_no_provider_reads_is_refused_as_such_for_every_role(sqlite_ledger):
    """An insurer's `application/json` (or a typo) is about the payloadType: 400 naming
    it and what is accepted, not a 403 saying insurers may not submit inspections."""
    insurer = onboard(sqlite_ledger, "pacific-mutual", "insurer")
    inspector = onboard(sqlite_ledger, "huacheng", "inspector")
    claim = {"kind": "insurance_claim", "vin": REPORT["vin"], "occurred_at": "2026-05-04T09:30:00Z",
             "claim_ref": "CLM-1", "severity": "minor", "areas": ["front"],
             "total_loss": False}  # fmt: skip
    payload = json.dumps(claim).encode()
    with TestClient(create_app(sqlite_ledger)) as client:
        before = client.get("/log/checkpoint").text
        for who in (insurer, inspector):
            for wrong in ("application/json", dsse.PAYLOAD_TYPE[:-1], dsse.PAYLOAD_TYPE + "; v=1"):
                env = dsse.sign_envelope(payload, who.key, wrong)
                r = client.post("/records", content=dsse.encode_envelope(env))
                assert r.status_code == 400, (who.role, wrong, r.text)
                assert r.json()["field"] == "payloadType"
                assert dsse.PAYLOAD_TYPE in r.json()["detail"] and TYPE in r.json()["detail"]
        assert client.get("/log/checkpoint").text == before
        env = dsse.sign_envelope(payload, insurer.key)
        assert client.post("/records", content=dsse.encode_envelope(env)).status_code == 201
