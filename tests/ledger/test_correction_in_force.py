"""A correction is checked against the record as the earlier corrections of its entry
leave it (in force), as the history view applies it: whatever the ledger appends, the
view and the buyer's page apply."""

from __future__ import annotations

from core.errors import InvalidRecord
from ledger.sequencer import Appended
from tests.conftest import VIN, onboard

REGISTERED = {
    "kind": "registration",
    "vin": VIN,
    "occurred_at": "2025-02-01T00:00:00Z",
    "event": "registered",
    "country": "DE",
    "first_registered": "2022-03-10",
}


def fix(index: int, day: int, fields: dict) -> dict:
    return {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": f"2025-03-{day:02d}T00:00:00Z",
        "corrects": index,
        "reason": "papers",
        "fields": fields,
    }


FIRST_LATER = {"first_registered": "2024-06-01"}
DATE_EARLIER = {"occurred_at": "2024-01-01T00:00:00Z"}


def registered(ledger):
    registry = onboard(ledger, "kba", "registry")
    (reg,) = ledger.submit_now([registry.envelope(REGISTERED)])
    assert isinstance(reg, Appended), reg
    return registry, reg.index


def not_applied(ledger) -> list:
    alerts = ledger.history(VIN)["view"]["alerts"]
    return [a for a in alerts if a["type"] == "correction_not_applied"]


def test_a_correction_that_breaks_a_rule_with_an_earlier_one_is_refused(sqlite_ledger):
    registry, reg = registered(sqlite_ledger)
    (a,) = sqlite_ledger.submit_now([registry.envelope(fix(reg, 1, FIRST_LATER))])
    assert isinstance(a, Appended), a
    (b,) = sqlite_ledger.submit_now([registry.envelope(fix(reg, 2, DATE_EARLIER))])
    assert isinstance(b, InvalidRecord), b
    assert "first_registered" in str(b) and f"entry {a.index}" in str(b)
    assert b.field == "$.fields"
    # Everything appended applies.
    assert not not_applied(sqlite_ledger)
    entry = next(e for e in sqlite_ledger.history(VIN)["entries"] if e["index"] == reg)
    assert entry["in_force"]["first_registered"] == "2024-06-01"


def test_in_one_batch_too(sqlite_ledger):
    registry, reg = registered(sqlite_ledger)
    a, b = sqlite_ledger.submit_now(
        [registry.envelope(fix(reg, 1, FIRST_LATER)), registry.envelope(fix(reg, 2, DATE_EARLIER))]
    )
    assert isinstance(a, Appended), a
    assert isinstance(b, InvalidRecord), b
    assert not not_applied(sqlite_ledger)


def test_each_alone_still_applies_and_a_later_one_may_mend_the_pair(sqlite_ledger):
    registry, reg = registered(sqlite_ledger)
    (b,) = sqlite_ledger.submit_now([registry.envelope(fix(reg, 2, DATE_EARLIER))])
    assert isinstance(b, Appended), b
    # first_registered 2024-06-01 would now be after the corrected date: refused.
    (a,) = sqlite_ledger.submit_now([registry.envelope(fix(reg, 3, FIRST_LATER))])
    assert isinstance(a, InvalidRecord), a
    # Given with the date it goes with, it applies.
    both = fix(reg, 4, FIRST_LATER | {"occurred_at": "2024-07-01T00:00:00Z"})
    (c,) = sqlite_ledger.submit_now([registry.envelope(both)])
    assert isinstance(c, Appended), c
    assert not not_applied(sqlite_ledger)
