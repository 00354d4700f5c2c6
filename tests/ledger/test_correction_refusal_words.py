"""A correction refused for its own fault says only that; one refused because of what an
earlier correction of the entry did says which (ledger/trust.py)."""

from __future__ import annotations

import pytest

from core.errors import InvalidRecord
from tests.conftest import onboard

VIN = "LSVAU218XN2183294"


def registration(**extra) -> dict:
    return {
        "kind": "registration",
        "vin": VIN,
        "occurred_at": "2025-02-01T00:00:00Z",
        "event": "registered",
        "country": "DE",
        "first_registered": "2022-03-10",
        **extra,
    }


def fix(index: int, fields: dict, day: int) -> dict:
    return {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": f"2025-03-{day:02d}T00:00:00Z",
        "corrects": index,
        "reason": "typed wrong",
        "fields": fields,
    }


def refusal(ledger, partner, record) -> str:
    (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, InvalidRecord), outcome
    return str(outcome)


@pytest.fixture
def corrected_once(sqlite_ledger):
    dmv = onboard(sqlite_ledger, "kba", "registry")
    (entry,) = sqlite_ledger.submit_now([dmv.envelope(registration())])
    (first,) = sqlite_ledger.submit_now(
        [dmv.envelope(fix(entry.index, {"first_registered": "2024-06-01"}, 1))]
    )
    return sqlite_ledger, dmv, entry.index, first.index


def test_its_own_bad_value_is_not_blamed_on_the_earlier_correction(corrected_once):
    ledger, dmv, entry, _ = corrected_once
    said = refusal(ledger, dmv, fix(entry, {"country": "Germany"}, 2))
    assert "earlier corrections" not in said and "country" in said


def test_a_refusal_the_earlier_correction_causes_names_it(corrected_once):
    ledger, dmv, entry, first = corrected_once
    said = refusal(ledger, dmv, fix(entry, {"occurred_at": "2024-01-01T00:00:00Z"}, 2))
    assert f"as its earlier corrections, entry {first}, leave it" in said
