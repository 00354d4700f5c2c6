"""The sequencer refuses a correction dated before what it corrects (or before an
earlier correction of it), so the correction in force is the latest dated; a log that
already holds one still verifies and audits; and what a correction withdrew is in the
view a verifier recomputes as in the served one."""

from __future__ import annotations

import pytest

from core.errors import InvalidRecord
from ledger.bundle import build_bundle
from ledger.storage import log_size
from ledger.verify import compare_view, verify_bundle
from tests.conftest import VIN, inspection, onboard

CLEAN = {"accident": False, "flood": False, "fire": False, "structural": False, "airbag": False}


def correction(corrects: int, when: str, fields: dict) -> dict:
    return {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": when,
        "corrects": corrects,
        "reason": "flags were set by mistake",
        "fields": fields,
    }


def flooded() -> dict:
    return inspection(day=4, flags={**CLEAN, "flood": True, "accident": True})  # 2026-05-04


@pytest.mark.parametrize(
    ("when", "fields", "names"),
    [
        ("2026-05-01T09:00:00Z", {"flags": CLEAN}, "before the entry it corrects"),
        ("2026-05-05T09:00:00Z", {"occurred_at": "2026-05-06T09:00:00Z"}, "the date it gives"),
    ],
)
def test_a_correction_dated_before_what_it_corrects_is_refused(ledger, when, fields, names):
    inspector = onboard(ledger, "acme", "inspector")
    [inspected] = ledger.submit_now([inspector.envelope(flooded())])
    with ledger.store.reader() as s:
        before = log_size(s)
    [refused] = ledger.submit_now([inspector.envelope(correction(inspected.index, when, fields))])
    assert isinstance(refused, InvalidRecord), refused
    assert refused.field == "$.occurred_at" and names in str(refused)
    assert "Date it when it was made" in str(refused)
    with ledger.store.reader() as s:
        assert log_size(s) == before


def test_a_correction_dated_before_an_earlier_one_of_the_entry_is_refused(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    [inspected] = ledger.submit_now([inspector.envelope(flooded())])
    confirm = correction(inspected.index, "2026-05-20T09:00:00Z", {"grade": "D"})
    [confirmed] = ledger.submit_now([inspector.envelope(confirm)])
    earlier = correction(inspected.index, "2026-05-10T09:00:00Z", {"flags": CLEAN})
    [refused] = ledger.submit_now([inspector.envelope(earlier)])
    assert isinstance(refused, InvalidRecord) and refused.field == "$.occurred_at"
    assert f"entry {confirmed.index}, an earlier correction of it" in str(refused)
    # Dated after both, it is accepted, and what it withdrew is said.
    later = correction(inspected.index, "2026-05-21T09:00:00Z", {"flags": CLEAN})
    [fixed] = ledger.submit_now([inspector.envelope(later)])
    assert not isinstance(fixed, Exception), fixed
    view = ledger.history(VIN)["view"]
    assert [a["type"] for a in view["alerts"]] == ["finding_withdrawn"]
    (alert,) = view["alerts"]
    assert alert["entries"] == [inspected.index, fixed.index]
    # `vinledger verify` recomputes the same view from the bundle, finding_withdrawn too.
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    compare_view(report, view)
    assert report.ok, report.failures
    assert "withdrew what inspection entry" in report.findings[-1].detail


def test_a_log_that_already_holds_a_backdated_correction_verifies_and_audits(tmp_path):
    from ledger.audit import audit
    from ledger.storage import Store
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_audit_trust import write_log
    from tests.ledger.test_verify_references import ACME, FIRST, PARTIES, fix
    from tests.ledger.test_verify_trust import LOG, make_bundle

    # fix() dates its correction 2026-05-01, before the inspection's 2026-05-04.
    backdated = (fix(FIRST, flags=CLEAN), ACME, "acme")
    items = [*PARTIES, (flooded(), ACME, "acme"), backdated]
    assert backdated[0]["occurred_at"] < items[FIRST][0]["occurred_at"]
    report = verify_bundle_bytes(make_bundle(items), LOG.vkey)
    assert report.ok, report.failures
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_schema()
    write_log(store, items)
    audit(store, LOG.vkey)  # raises on a failure
    store.dispose()
