"""The sequencer refuses a correction whose fields the corrected kind does not allow,
so no log can hold one that breaks a vehicle's history (core.corrections.check_correction)."""

from __future__ import annotations

import pytest

from core.errors import AuditError, InvalidRecord
from ledger.storage import log_size
from tests.conftest import VIN, inspection, onboard


def correction(corrects: int, fields: dict) -> dict:
    return {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-06T09:00:00Z",
        "corrects": corrects,
        "reason": "typo",
        "fields": fields,
    }


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"odometer_km": "lots"}, "$.fields.odometer_km"),
        ({"odometer_km": -5_000_000}, "$.fields.odometer_km"),
        ({"colour": "red"}, "$.fields.colour"),
        ({"occurred_at": "yesterday"}, "$.fields.occurred_at"),
        ({"flags": {"accident": "maybe"}}, "$.fields.flags"),
        ({"vin": "LSVAU218XN2183294"}, "$.fields"),  # refused as it is parsed
    ],
)
def test_a_correction_its_kind_does_not_allow_is_refused_and_not_logged(ledger, fields, path):
    inspector = onboard(ledger, "acme", "inspector")
    [inspected] = ledger.submit_now([inspector.envelope(inspection())])
    with ledger.store.reader() as s:
        before = log_size(s)
    [refused] = ledger.submit_now([inspector.envelope(correction(inspected.index, fields))])
    assert isinstance(refused, InvalidRecord), refused
    assert refused.field is not None and refused.field.startswith(path), refused.field
    with ledger.store.reader() as s:
        assert log_size(s) == before


def test_a_correction_of_an_entry_in_the_same_batch_is_checked_too(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    with ledger.store.reader() as s:
        first = log_size(s)
    good, bad = correction(first, {"odometer_km": 48_120}), correction(first, {"grade": ""})
    placed, fixed, refused = ledger.submit_now(
        [inspector.envelope(inspection()), inspector.envelope(good), inspector.envelope(bad)]
    )
    assert (placed.index, fixed.index) == (first, first + 1)
    assert isinstance(refused, InvalidRecord) and refused.field.startswith("$.fields.grade")
    history = ledger.history(VIN)
    assert history["view"]["odometer"]["last_km"] == 48_120


def test_a_correction_value_the_kind_refuses_fails_every_python_checker(tmp_path):
    """verify.js checks which fields a correction names; the Python checkers also check
    each value against the corrected kind's schema, as the sequencer does."""
    from ledger.audit import audit
    from ledger.monitor import Monitor, MonitorAlert
    from ledger.storage import Store
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_audit_trust import write_log
    from tests.ledger.test_monitor_defects import served
    from tests.ledger.test_verify_references import ACME, FIRST, INSPECTION, PARTIES, fix
    from tests.ledger.test_verify_trust import LOG, make_bundle

    items = [*PARTIES, INSPECTION, (fix(FIRST, odometer_km="lots"), ACME, "acme")]
    says = "correction of an inspection: `odometer_km`"
    report = verify_bundle_bytes(make_bundle(items), LOG.vkey)
    assert any(says in f.detail and f.index == FIRST + 1 for f in report.failures)
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_schema()
    write_log(store, items)
    with pytest.raises(AuditError, match=f"entry {FIRST + 1}: {says}"):
        audit(store, LOG.vkey)
    store.dispose()
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    with pytest.raises(MonitorAlert, match=f"entry {FIRST + 1}: {says}"):
        monitor.poll(served(items))
    monitor.close()
