"""Refusals of what people type by hand say what to change: a file saved with a
byte-order mark, a reading in 万公里 or with decimals, text too long, and the field
that holds a control character."""

from __future__ import annotations

import json

import pytest

from core.errors import InvalidRecord
from core.records import parse_record
from tests.conftest import VIN, inspection, maintenance, onboard


def refusal(payload: bytes) -> InvalidRecord:
    with pytest.raises(InvalidRecord) as err:
        parse_record(payload)
    return err.value


def test_a_byte_order_mark_is_named_with_how_to_save_without_it():
    err = refusal(b"\xef\xbb\xbf" + json.dumps(inspection()).encode())
    assert "byte-order mark" in str(err) and "UTF-8 without BOM" in str(err)


@pytest.mark.parametrize("km", [4.54, 45400.0, 45400.5])
def test_a_reading_with_decimals_asks_for_whole_kilometres(km):
    err = refusal(json.dumps(inspection() | {"odometer_km": km}).encode())
    assert err.field == "$.odometer_km"
    assert "whole number of kilometres" in str(err) and "万公里" in str(err)


def test_text_too_long_says_how_long_it_is_and_may_be():
    err = refusal(json.dumps(inspection() | {"provider": "名" * 201}).encode())
    assert err.field == "$.provider"
    assert "has 201 characters; at most 200 are allowed" in str(err)
    items = [{"description": "oil"}] * 201
    err = refusal(json.dumps(maintenance() | {"items": items}).encode())
    assert err.field == "$.items" and "has 201 items; at most 200" in str(err)


def test_the_field_holding_a_control_character_is_named(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    record = maintenance() | {"items": [{"description": "oil"}, {"description": "pads\x1b[2K"}]}
    r = client.post("/records", content=shop.envelope(record))
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["field"] == "$.items[1].description"
    assert "`$.items[1].description` holds a control character U+001B" in problem["detail"]
    assert VIN in json.dumps(record)  # the record was otherwise fine


def test_an_envelope_or_batch_saved_with_a_byte_order_mark_says_so(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    envelope = b"\xef\xbb\xbf" + shop.envelope(maintenance())
    r = client.post("/records", content=envelope)
    assert r.status_code == 400 and "byte-order mark" in r.json()["detail"], r.text
    r = client.post("/records/batch", content=b'\xef\xbb\xbf{"envelopes": []}')
    assert r.status_code == 400 and "byte-order mark" in r.json()["detail"], r.text
