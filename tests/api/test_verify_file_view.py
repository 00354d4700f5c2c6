"""`vinledger verify FILE`: a saved bundle says what its entries imply about the car, as
a URL's does, so that a verified rollback or flood does not read as a clean history."""

from __future__ import annotations

from click.testing import CliRunner

from api.cli_read import verify
from ledger.bundle import encode_bundle
from tests.conftest import VIN, inspection, maintenance, onboard


def test_a_saved_bundle_names_the_rollback_its_entries_prove(sqlite_ledger, tmp_path):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=90_000))])  # March
    sqlite_ledger.submit_now([inspector.envelope(inspection(km=48_210))])  # May: lower
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(encode_bundle(sqlite_ledger.bundle(VIN)))
    out = CliRunner().invoke(verify, [str(bundle), "--vkey", sqlite_ledger.vkey]).output
    assert "VERIFIED" in out
    [view] = [line for line in out.splitlines() if " view " in line]
    assert "ok" in view and "1 alert: odometer went back from 90,000 km" in view
    assert "to 48,210 km" in view


def test_a_saved_clean_bundle_says_no_alerts(sqlite_ledger, tmp_path):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.submit_now([inspector.envelope(inspection())])
    bundle = tmp_path / "bundle.json"
    bundle.write_bytes(encode_bundle(sqlite_ledger.bundle(VIN)))
    out = CliRunner().invoke(verify, [str(bundle), "--vkey", sqlite_ledger.vkey]).output
    assert "VERIFIED" in out
    assert "recomputed from the entries: no alerts" in out
