"""Registrations, as a move between registers really goes: the new country registers
first, the old one ends the registration days or weeks later; and a correction that
takes a car off one of two registers stays in the verdict."""

from __future__ import annotations

import json

import pytest

from api.i18n import Words
from api.pages import registrations_text
from core.errors import InvalidRecord
from core.history import analyse
from core.records import parse_record
from core.registrations import HANDOVER_DAYS
from tests.core.test_registrations import VIN, items, reg, twice


def _correction(corrects: int, **fields) -> dict:
    return {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2025-07-01T00:00:00Z",
        "corrects": corrects,
        "reason": "typed wrong",
        "fields": fields,
    }


def test_the_old_country_ending_within_the_handover_raises_nothing():
    view = analyse(
        items(
            reg("registered", "DE", "2019-05-01T00:00:00Z"),
            reg("registered", "AT", "2025-03-01T00:00:00Z"),
            reg("exported", "DE", "2025-03-05T00:00:00Z"),
        )
    )
    assert twice(view) == [] and HANDOVER_DAYS == 90


@pytest.mark.parametrize(
    ("ended", "word"), [("exported", "export from"), ("deregistered", "deregistration in")]
)
def test_an_end_later_than_the_handover_is_high_and_says_when_it_came(ended, word):
    found = twice(
        analyse(
            items(
                reg("registered", "DE", "2019-05-01T00:00:00Z"),
                reg("registered", "AT", "2025-03-01T00:00:00Z"),
                reg(ended, "DE", "2025-06-09T00:00:00Z"),  # 100 days later
            )
        )
    )
    assert [(a["severity"], a["entries"]) for a in found] == [("high", [10, 11])]
    assert "no export" not in found[0]["message"]
    assert f"the {word} DE (entry 12) came 100 days later" in found[0]["message"]
    assert found[0]["facts"]["days_later"] == 100 and found[0]["facts"]["ended_entry"] == 12


def test_the_same_stay_registered_again_raises_one_alert():
    found = twice(
        analyse(
            items(
                reg("registered", "CN", "2022-03-10T00:00:00Z"),
                reg("registered", "DE", "2025-02-01T00:00:00Z"),
                reg("registered", "DE", "2025-02-01T00:00:00Z"),
            )
        )
    )
    assert [a["entries"] for a in found] == [[10, 11]]


@pytest.mark.parametrize("fields", [{"country": "CN"}, {"event": "deregistered"}])
def test_a_correction_that_hides_a_clone_raises_finding_withdrawn(fields):
    records = [
        reg("registered", "CN", "2022-03-10T00:00:00Z"),
        reg("registered", "DE", "2025-02-01T00:00:00Z"),
    ]
    view = analyse(items(*records, _correction(11, **fields)))
    assert twice(view) == []
    found = [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]
    assert [(a["severity"], a["entries"], a["facts"]["corrects"]) for a in found] == [
        ("high", [10, 11, 12], 11)
    ]
    for lang in ("en", "zh"):  # the verdict words it
        from api.verdict import alert_text

        assert alert_text(found[0], Words(lang))


def test_a_correction_that_keeps_the_clone_shown_raises_no_withdrawal():
    records = [
        reg("registered", "CN", "2022-03-10T00:00:00Z"),
        reg("registered", "DE", "2025-02-01T00:00:00Z"),
    ]
    view = analyse(items(*records, _correction(10, occurred_at="2025-03-01T00:00:00Z")))
    assert [a["entries"] for a in twice(view)] == [[10, 11]]
    assert not [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]


def test_a_registry_in_china_may_state_its_local_date():
    rec = reg("registered", "CN", "2022-03-09T16:00:00Z", first_registered="2022-03-10")
    assert parse_record(json.dumps(rec).encode()).first_registered.isoformat() == "2022-03-10"
    with pytest.raises(InvalidRecord) as err:
        parse_record(json.dumps({**rec, "first_registered": "2022-03-11"}).encode())
    assert err.value.field == "$.first_registered"


def test_a_period_with_no_recorded_start_means_no_first_date():
    view = analyse(
        items(
            reg("deregistered", "FR", "2020-01-01T00:00:00Z"),
            reg("registered", "CN", "2022-03-10T00:00:00Z"),
        )
    )
    first = view["registrations"]["first_registered"]
    assert first == {"date": None, "before": "2020-01-01", "index": 10, "stated": False}
    assert registrations_text(view["registrations"], Words("en")).startswith(
        "first registered before 1 Jan 2020"
    )
    stated = analyse(
        items(
            reg("deregistered", "FR", "2020-01-01T00:00:00Z"),
            reg("registered", "CN", "2022-03-10T00:00:00Z", first_registered="2016-05-02"),
        )
    )
    assert stated["registrations"]["first_registered"]["date"] == "2016-05-02"


def test_a_subdivision_of_another_country_is_refused_naming_the_field():
    ok = reg("registered", "DE", "2025-02-01T00:00:00Z", jurisdiction="DE-BY")
    assert parse_record(json.dumps(ok).encode()).jurisdiction == "DE-BY"
    assert parse_record(json.dumps({**ok, "jurisdiction": "KBA Flensburg"}).encode())
    with pytest.raises(InvalidRecord) as err:
        parse_record(json.dumps({**ok, "jurisdiction": "AT-9"}).encode())
    assert err.value.field == "$.jurisdiction" and "DE" in str(err.value)
