"""A verifier recomputes the history view from a bundle and catches a server that lies."""

from __future__ import annotations

import copy

from ledger.bundle import build_bundle
from ledger.verify import compare_view, recompute_view, verify_bundle
from tests.conftest import VIN, inspection, maintenance, onboard


def test_the_served_view_is_the_one_the_entries_imply(ledger):
    shop = onboard(ledger, "quicklane", "workshop")
    inspector = onboard(ledger, "acme", "inspector")
    ledger.submit_now(
        [
            shop.envelope(maintenance(km=30_000, day=1)),
            inspector.envelope(inspection(km=9_000, day=9)),
        ]
    )
    served = ledger.history(VIN)["view"]
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    assert report.ok
    assert recompute_view(report)["alerts"] == served["alerts"]
    compare_view(report, served)
    assert report.ok and report.findings[-1].check == "view"
    # It says what the alert is, not only how many there are.
    assert "1 alert: odometer went back from 30,000 km" in report.findings[-1].detail

    # A server that hides the rollback alert is caught.
    hiding = copy.deepcopy(served)
    hiding["alerts"] = []
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    compare_view(report, hiding)
    assert not report.ok
    assert report.failures[0].check == "view" and "alerts" in report.failures[0].detail
