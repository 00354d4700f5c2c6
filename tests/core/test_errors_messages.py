"""Refusals of a record say, in a sentence, what is expected, with an example: never
msgspec's regex or a bare "Invalid enum value". ``field`` keeps the JSON path."""

from __future__ import annotations

import json

import pytest

from core.corrections import check_correction
from core.errors import InvalidRecord
from core.fields import actor_id_problem, key_id_problem
from core.records import parse_record
from tests.conftest import VIN, inspection

AT = "2026-05-04T09:30:00Z"
SALE = {"kind": "sale", "vin": VIN, "occurred_at": AT, "dealer": "bay-auto"}


def refusal(record: dict) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as err:
        parse_record(json.dumps(record).encode())
    assert "regex" not in err.value.detail and "\\Z" not in err.value.detail
    return err.value


@pytest.mark.parametrize(
    "record, field, words",
    [
        (
            {**SALE, "price": {"amount": "-5", "currency": "EUR"}},
            "$.price.amount",
            ['"-5"', 'an amount is a decimal string with up to 2 decimals, e.g. "18500.00"'],
        ),
        (
            {**SALE, "price": {"amount": 18500, "currency": "EUR"}},
            "$.price.amount",
            ["must be a string", '"18500.00"'],
        ),
        (
            {**SALE, "price": {"amount": "18500.00", "currency": "euro"}},
            "$.price.currency",
            ['"euro"', "a currency is a 3-letter ISO 4217 code", '"EUR"'],
        ),
        (
            {**SALE, "price": {"amount": "18500.00", "currency": "eur"}},
            "$.price.currency",
            ['did you mean "EUR"?'],
        ),
        (
            {"kind": "key_revoke", "occurred_at": AT, "key_id": "nothex", "reason": "lost"},
            "$.key_id",
            ["a key id is 64 lowercase hex characters", "vinledger keygen"],
        ),
        (
            {"kind": "actor", "occurred_at": AT, "actor_id": "x", "name": "X", "role": "dealer"},
            "$.actor_id",
            ["an actor id is 2 to 63 lowercase letters", '"acme-inspections"'],
        ),
        (
            inspection(items=[{"code": "x", "result": "good"}]),
            "$.items[0].result",
            ['"good"', "one of: ok, minor, major, fail, not_checked"],
        ),
        (
            inspection(items=[{"code": "Engine", "result": "ok"}]),
            "$.items[0].code",
            ["lowercase letters", 'did you mean "engine"?'],
        ),
        (
            {"kind": "actor", "occurred_at": AT, "actor_id": "ab", "name": "A", "role": "mech"},
            "$.role",
            ["one of: operator, inspector, workshop, insurer, registry, dealer, referrer"],
        ),
        (
            inspection(attachments=[{"sha256": "ab", "size": 1, "media_type": "pdf"}]),
            "$.attachments[0].sha256",
            ["64 lowercase hex characters", "sha256sum"],
        ),
        (
            inspection(occurred_at="4 May 2026"),
            "$.occurred_at",
            ['"4 May 2026", not an RFC 3339 time', "2026-05-04T09:30:00Z"],
        ),
    ],
)
def test_a_refusal_says_what_is_expected(record, field, words):
    err = refusal(record)
    assert err.field == field
    assert field in err.detail
    for w in words:
        assert w in err.detail, err.detail


def test_a_time_without_a_timezone_gets_the_utc_hint_an_offset_gets():
    offset = refusal(inspection(occurred_at="2026-05-04T11:30:00+02:00"))
    naive = refusal(inspection(occurred_at="2026-05-04T09:30:00"))
    assert offset.field == naive.field == "$.occurred_at"
    for err in (offset, naive):
        assert "must be in UTC (offset 0, written with Z)" in err.detail
        assert "2026-05-04T09:30:00Z" in err.detail, err.detail


SERVICE = {
    "kind": "maintenance",
    "vin": "1HGCM82633A004352",
    "occurred_at": "2026-05-04T09:30:00Z",
    "shop": "QuickLane",
    "items": [{"description": "oil change"}],
}


def test_a_correction_gets_the_same_sentences():
    with pytest.raises(InvalidRecord) as err:
        check_correction({"cost": {"amount": "1.234", "currency": "EUR"}}, SERVICE)
    assert err.value.field == "$.fields.cost.amount"
    assert "up to 2 decimals" in err.value.detail and "regex" not in err.value.detail


@pytest.mark.parametrize(
    "data, words",
    [
        (b"", ["it is empty"]),
        (b"  \n", ["it is empty"]),
        (b'{"kind": "odometer", ', ["ends before the JSON does"]),
        (b'{\n  "kind": "odometer",\n  vin: 1\n}', ["line 3, column 3"]),
    ],
)
def test_json_that_does_not_parse_says_where(data, words):
    with pytest.raises(InvalidRecord) as err:
        parse_record(data)
    assert "not valid JSON" in err.value.detail
    assert "truncated" not in err.value.detail and "(byte" not in err.value.detail
    for w in words:
        assert w in err.value.detail


def test_key_ids_given_outside_a_record():
    good = "ab" * 32
    assert key_id_problem(good) is None
    assert key_id_problem(good.upper()) == f"key ids are lowercase hex: write {good}"
    assert "64 lowercase hex characters" in key_id_problem("nothex")
    assert "64 lowercase hex" in key_id_problem("\u212a" * 64)  # Kelvin sign: no ASCII


def test_actor_ids_given_outside_a_record():
    assert actor_id_problem("acme-inspections") is None
    assert "2 to 63 lowercase letters" in actor_id_problem("x")
