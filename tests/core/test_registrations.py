"""Registrations: where a car is registered, and a car on two countries' registers."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.corrections import check_correction
from core.errors import Forbidden, InvalidRecord
from core.history import analyse
from core.records import parse_record
from core.roles import check_role_may_submit

VIN = "LSVAU218XN2183294"


def reg(event: str, country: str, at: str, **extra) -> dict:
    return {
        "kind": "registration",
        "vin": VIN,
        "occurred_at": at,
        "event": event,
        "country": country,
        **extra,
    }


def items(*records: dict) -> list[dict]:
    return [
        {
            "index": i,
            "kind": r["kind"],
            "signer": {"id": "reg", "name": "Registry", "role": "registry"},
            "record": r,
        }
        for i, r in enumerate(records, start=10)
    ]


def twice(view: dict) -> list[dict]:
    return [a for a in view["alerts"] if a["type"] == "registered_twice"]


def test_a_registration_parses_and_a_registry_may_submit_it():
    rec = parse_record(
        json.dumps(
            reg("registered", "DE", "2025-02-01T00:00:00Z", first_registered="2022-03-10")
        ).encode()
    )
    assert rec.kind == "registration" and rec.country == "DE"
    assert check_role_may_submit("registry", "registration") is None
    with pytest.raises(Forbidden):
        check_role_may_submit("inspector", "registration")


@pytest.mark.parametrize(
    ("extra", "field", "words"),
    [
        ({"country": "ZZ"}, "$.country", "ISO 3166-1"),
        ({"country": "de"}, "$.country", 'did you mean "DE"'),
        ({"country": "UK"}, "$.country", '"GB"'),
        ({"event": "imported"}, "$.event", "registered, deregistered, exported"),
        ({"first_registered": "2022-13-01"}, "$.first_registered", "YYYY-MM-DD"),
        ({"first_registered": "2026-01-01"}, "$.first_registered", "after the record's own date"),
        ({"plate": "B-XY 123"}, "$.plate", "unknown field"),
    ],
)
def test_a_bad_registration_is_refused_naming_the_field(extra, field, words):
    with pytest.raises(InvalidRecord) as err:
        parse_record(
            json.dumps({**reg("registered", "DE", "2025-02-01T00:00:00Z"), **extra}).encode()
        )
    assert err.value.field == field and words in str(err.value)


def test_country_and_event_are_correctable_and_checked():
    signed = reg("registered", "DE", "2025-02-01T00:00:00Z")
    check_correction({"country": "AT", "event": "exported"}, signed)
    with pytest.raises(InvalidRecord) as err:
        check_correction({"country": "ZZ"}, signed)
    assert err.value.field == "$.fields.country"
    with pytest.raises(InvalidRecord) as err:
        check_correction({"event": "moved"}, signed)
    assert err.value.field == "$.fields.event"


CLONE = (
    reg("registered", "CN", "2022-03-10T00:00:00Z"),
    reg("registered", "DE", "2025-02-01T00:00:00Z"),
    reg("registered", "CN", "2025-06-01T00:00:00Z"),
    {
        "kind": "maintenance",
        "vin": VIN,
        "occurred_at": "2025-06-02T00:00:00Z",
        "shop": "Shanghai",
        "items": [{"description": "oil"}],
    },
    {
        "kind": "maintenance",
        "vin": VIN,
        "occurred_at": "2025-06-03T00:00:00Z",
        "shop": "Hamburg",
        "items": [{"description": "oil"}],
    },
)


def test_a_car_registered_in_two_countries_at_once_is_flagged_once_per_pair_of_stays():
    # CN registering it again inside its own stay (entry 12) is the same pair of stays.
    found = twice(analyse(items(*CLONE)))
    assert [(a["severity"], a["entries"]) for a in found] == [("high", [10, 11])]
    assert found[0]["message"].startswith(
        "registered in DE on 2025-02-01 (entry 11) while still registered in CN since 2022-03-10"
    )
    assert (
        "no export from CN on record: a cloned VIN or an unrecorded export" in found[0]["message"]
    )
    assert found[0]["facts"] == {
        "country": "DE",
        "on": "2025-02-01",
        "still_in": "CN",
        "since": "2022-03-10",
        "ended_on": None,
        "ended_entry": None,
        "days_later": None,
        "logged_days_later": None,
    }


def test_an_export_and_then_an_import_is_no_alert_and_makes_the_periods():
    view = analyse(
        items(
            reg("registered", "CN", "2022-03-10T00:00:00Z"),
            reg("exported", "CN", "2025-01-20T00:00:00Z"),
            reg("registered", "DE", "2025-02-01T00:00:00Z", first_registered="2022-03-10"),
        )
    )
    assert twice(view) == []
    r = view["registrations"]
    assert [(p["country"], p["from"], p["until"], p["ended"]) for p in r["periods"]] == [
        ("CN", "2022-03-10", "2025-01-20", "exported"),
        ("DE", "2025-02-01", None, None),
    ]
    assert r["first_registered"]["date"] == "2022-03-10"
    assert r["first_in"]["DE"] == {"date": "2025-02-01", "index": 12}


def test_an_export_on_the_same_instant_as_the_import_counts_first():
    view = analyse(
        items(
            reg("registered", "CN", "2022-03-10T00:00:00Z"),
            reg("registered", "DE", "2025-02-01T00:00:00Z"),
            reg("exported", "CN", "2025-02-01T00:00:00Z"),
        )
    )
    assert twice(view) == []


def test_a_correction_that_says_it_was_an_export_clears_the_alert():
    records = [*CLONE[:2], reg("exported", "DE", "2025-05-01T00:00:00Z")]
    assert twice(analyse(items(*records)))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2025-07-01T00:00:00Z",
        "corrects": 10,
        "reason": "it was deregistered for export",
        "fields": {"event": "exported", "occurred_at": "2025-01-20T00:00:00Z"},
    }
    view = analyse(items(*records, fix))
    assert twice(view) == []
    # Cleared in force, but what was signed stays in the verdict: both entries, the fix.
    withdrawn = [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]
    assert [(a["severity"], a["entries"], a["facts"]["corrections"]) for a in withdrawn] == [
        ("high", [10, 11, 13], [13])
    ]
    assert withdrawn[0]["facts"]["withdrawn"][0]["field"] == "registered_twice"
    assert "registered in DE on 2025-02-01 (entry 11)" in withdrawn[0]["message"]


_EVENTS = st.sampled_from(["registered", "deregistered", "exported"])


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_EVENTS, st.integers(0, 3000)), max_size=12),
    st.sampled_from(["CN", "DE", "US"]),
)
def test_events_in_one_country_never_raise_registered_twice(events, country):
    records = [reg(e, country, f"{2020 + d // 365}-01-01T00:00:00Z") for e, d in events]
    view = analyse(items(*records))
    assert twice(view) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["CN", "DE", "JP", "AT"]), min_size=1, max_size=8))
def test_moving_with_an_export_each_time_never_raises_it(countries):
    records, year = [], 2001
    for here, there in zip(countries, [*countries[1:], None], strict=True):
        records.append(reg("registered", here, f"{year}-03-01T00:00:00Z"))
        if there is not None:
            records.append(reg("exported", here, f"{year}-09-01T00:00:00Z"))
        year += 1
    assert twice(analyse(items(*records))) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["CN", "DE", "JP"]), min_size=2, max_size=6, unique=True))
def test_moving_without_an_export_always_raises_it(countries):
    records = [reg("registered", c, f"{2001 + i}-03-01T00:00:00Z") for i, c in enumerate(countries)]
    found = twice(analyse(items(*records)))
    assert len(found) == sum(range(1, len(countries)))  # each against every one still open
