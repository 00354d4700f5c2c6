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


def test_a_jurisdiction_is_free_text_so_a_logged_entry_always_parses():
    # "CA-DMV" is California's office under US, not a region of Canada: refusing it
    # would also make entries already logged fail `vinledger verify`.
    for country, region in [("US", "CA-DMV"), ("DE", "DE-BY"), ("DE", "AT-9"), ("DE", "KBA")]:
        rec = reg("registered", country, "2025-02-01T00:00:00Z", jurisdiction=region)
        assert parse_record(json.dumps(rec).encode()).jurisdiction == region


def test_registering_again_in_the_old_country_inside_its_stay_is_the_same_pair():
    move = [
        reg("registered", "DE", "2019-05-01T00:00:00Z"),
        reg("registered", "AT", "2025-03-01T00:00:00Z"),
        reg("registered", "DE", "2025-03-10T00:00:00Z"),  # inside DE's stay
    ]
    ended = [*move, reg("deregistered", "DE", "2025-03-20T00:00:00Z")]
    assert twice(analyse(items(*ended))) == []  # the handover covers it
    assert [a["entries"] for a in twice(analyse(items(*move)))] == [[10, 11]]  # once


@pytest.mark.parametrize(
    "records",
    [
        [  # the new country's stay registered twice; its first's date fixed inside it
            reg("registered", "CN", "2022-03-10T00:00:00Z"),
            reg("registered", "DE", "2025-02-01T00:00:00Z"),
            reg("registered", "DE", "2025-03-01T00:00:00Z"),
            _correction(11, occurred_at="2025-04-01T00:00:00Z"),
        ],
        [  # the old country's stay registered twice; its first's date fixed inside it
            reg("registered", "CN", "2022-03-10T00:00:00Z"),
            reg("registered", "CN", "2023-03-10T00:00:00Z"),
            reg("registered", "DE", "2025-02-01T00:00:00Z"),
            _correction(10, occurred_at="2023-06-01T00:00:00Z"),
        ],
    ],
)
def test_a_date_fixed_inside_a_stay_withdraws_nothing_and_the_alert_names_both(records):
    view = analyse(items(*records))
    assert not [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]
    assert [a["entries"] for a in twice(view)] == [[10, 11, 12]]  # as signed and in force


def _logged(records: list[dict], *sequenced_at: str) -> list[dict]:
    return [{**i, "sequenced_at": at} for i, at in zip(items(*records), sequenced_at, strict=True)]


def test_an_end_logged_long_after_its_date_clears_no_clone():
    records = [
        reg("registered", "CN", "2022-03-10T00:00:00Z"),
        reg("registered", "DE", "2025-02-01T00:00:00Z"),
        reg("exported", "CN", "2025-04-30T00:00:00Z"),  # 88 days after DE's
    ]
    on_time = ("2022-03-10T01:00:00Z", "2025-02-01T01:00:00Z", "2025-07-29T00:00:00Z")
    assert twice(analyse(_logged(records, *on_time))) == []  # logged 90 days after
    late = ("2022-03-10T01:00:00Z", "2025-02-01T01:00:00Z", "2028-01-25T00:00:00Z")
    found = twice(analyse(_logged(records, *late)))
    assert [(a["severity"], a["entries"]) for a in found] == [("high", [10, 11])]
    assert found[0]["facts"]["logged_days_later"] == 1000
    said = "the export from CN (entry 12) on 2025-04-30 was logged 1000 days after"
    assert said in found[0]["message"]
    from api.verdict import alert_text

    assert "1000" in alert_text(found[0], Words("en"))
    assert "1000" in alert_text(found[0], Words("zh"))


def test_an_end_dated_before_the_clone_but_logged_years_later_clears_nothing():
    records = [
        reg("registered", "DE", "2019-05-01T00:00:00Z"),
        reg("registered", "AT", "2024-01-01T00:00:00Z"),
        reg("exported", "DE", "2023-12-31T00:00:00Z"),  # a day before AT's
    ]
    found = twice(
        analyse(
            _logged(records, "2019-05-01T00:00:01Z", "2024-01-01T00:00:01Z", "2026-11-01T00:00:00Z")
        )
    )
    assert [(a["severity"], a["entries"]) for a in found] == [("high", [10, 11])]
    assert found[0]["facts"]["logged_days_later"] == 1036
    said = "the export from DE (entry 12) on 2023-12-31 was logged 1036 days after its date"
    assert said in found[0]["message"]
    # logged late, but before the car was registered elsewhere: an import
    on = _logged(records, "2019-05-01T00:00:01Z", "2024-01-01T00:00:01Z", "2023-12-31T12:00:00Z")
    assert twice(analyse(on)) == []
    early = [*records[:2], reg("exported", "DE", "2023-01-01T00:00:00Z")]
    logged = ("2019-05-01T00:00:01Z", "2024-01-01T00:00:01Z", "2023-12-01T00:00:00Z")
    assert twice(analyse(_logged(early, *logged))) == []  # logged 334 days late, still before


def test_a_late_correction_of_an_end_keeps_the_alert_and_withdraws_nothing():
    its = _logged(
        [
            reg("registered", "DE", "2019-05-01T00:00:00Z"),
            reg("registered", "AT", "2024-01-01T00:00:00Z"),
            reg("deregistered", "DE", "2024-01-10T00:00:00Z"),  # logged 112 days late
            {
                **_correction(12, occurred_at="2024-03-01T00:00:00Z"),
                "occurred_at": "2024-08-01T00:00:00Z",
            },
        ],
        "2019-05-01T00:00:01Z",
        "2024-01-01T00:00:01Z",
        "2024-05-01T00:00:00Z",
        "2024-08-01T00:00:00Z",  # 153 days after the date it gives the end
    )
    alerts = analyse(its)["alerts"]
    assert [a["entries"] for a in alerts if a["type"] == "registered_twice"] == [[10, 11]]
    assert [a for a in alerts if a["type"] == "finding_withdrawn"] == []


def test_the_page_says_how_much_later_the_old_country_ended():
    from api.verdict import alert_text

    found = twice(
        analyse(
            items(
                reg("registered", "DE", "2019-05-01T00:00:00Z"),
                reg("registered", "AT", "2025-03-01T00:00:00Z"),
                reg("exported", "DE", "2025-06-29T00:00:00Z"),
            )
        )
    )
    assert "120 days later, on 29 Jun 2025" in alert_text(found[0], Words("en"))
    assert "120 天后" in alert_text(found[0], Words("zh"))
    open_still = twice(analyse(items(*CLONE_TWO)))
    assert "days later" not in alert_text(open_still[0], Words("en"))


CLONE_TWO = (
    reg("registered", "CN", "2022-03-10T00:00:00Z"),
    reg("registered", "DE", "2025-02-01T00:00:00Z"),
)


def test_the_stated_local_date_wins_over_its_records_utc_date():
    rec = reg("registered", "CN", "2022-03-09T16:00:00Z", first_registered="2022-03-10")
    first = analyse(items(rec))["registrations"]["first_registered"]
    assert first == {"date": "2022-03-10", "index": 10, "stated": True}
