"""A corrected entry on the buyer's page reads as the view reads it: logged late against
the date a correction gives it (back-dating by correction is back-dating), its header's
reading the one in force with the signed one beside it, and what a correction changed
under the timeline's own labels (api.pages)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

import msgspec
import pytest

from api.i18n import Words
from api.pages import page_model
from core.history import analyse
from core.vin import decode_vin
from tests.api.test_pages import entry_block
from tests.api.test_pages_details import page, submitted
from tests.conftest import VIN, onboard

SHOP = {"id": "quicklane", "name": "Quicklane", "role": "workshop"}
BRANDS = {"id": "dmv", "name": "DMV", "role": "registry"}
NOON = "2026-06-04T12:00:00Z"


def service(when: str, km: int | None = None) -> dict:
    record = {
        "kind": "maintenance",
        "vin": VIN,
        "occurred_at": when,
        "shop": "quicklane",
        "items": [{"description": "oil and filter"}],
    }
    return record if km is None else {**record, "odometer_km": km}


def entry(index: int, record: dict, signer: dict = SHOP, logged: str = NOON) -> dict:
    return {
        "index": index,
        "kind": record["kind"],
        "sequenced_at": logged,
        "signer": signer,
        "record": record,
    }


def correction(index: int, corrects: int, fields: dict, signer: dict = SHOP) -> dict:
    record = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": NOON,
        "corrects": corrects,
        "reason": "typo",
        "fields": fields,
    }
    return entry(index, record, signer)


def model(items: list[dict], lang: str = "en") -> dict:
    history = {
        "vin": VIN,
        "vehicle": msgspec.to_builtins(decode_vin(VIN)),
        "entries": items,
        "view": analyse(copy.deepcopy(items)),
    }
    return page_model(history, Words(lang), as_of=datetime(2026, 6, 4, 12, tzinfo=UTC))


def timeline(m: dict) -> dict[int, dict]:
    return {e["index"]: e for e in m["timeline"]}


# ---- back-dated by a correction -----------------------------------------------------------


@pytest.fixture
def june_4(sqlite_ledger):
    sqlite_ledger.clock = lambda: datetime(2026, 6, 4, 12, 0, tzinfo=UTC)


def test_services_back_dated_by_corrections_are_noted_like_ones_signed_back_dated(
    client, sqlite_ledger, june_4
):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    made = submitted(
        sqlite_ledger, *(shop.envelope(service(f"2026-06-04T0{h}:00:00Z")) for h in range(1, 6))
    )
    fixes = [
        {
            "kind": "correction",
            "vin": VIN,
            "occurred_at": "2026-06-04T11:00:00Z",
            "corrects": o.index,
            "reason": "date",
            "fields": {"occurred_at": f"{year}-03-15T09:00:00Z"},
        }
        for o, year in zip(made, range(2021, 2026), strict=True)
    ]
    dated = submitted(sqlite_ledger, *(shop.envelope(f) for f in fixes))
    html = page(client)
    notes = re.search(r'<ul class="notes".*?</ul>', html, re.S)
    assert notes and "5 entries were logged more than 90 days after their date" in notes.group(0)
    # 15 March 2021 to 4 June 2026, said of the date the correction gave.
    assert f"Logged 1,907 days after the date correction {dated[0].index} gives it" in entry_block(
        html, made[0].index
    )
    zh = entry_block(page(client, "zh"), made[0].index)
    assert f"在更正记录 {dated[0].index} 所给日期 1,907 天之后才录入" in zh


def test_the_date_in_force_is_the_last_applied_correction_s():
    items = [
        entry(2, service("2026-06-04T09:00:00Z")),
        correction(3, 2, {"occurred_at": "2021-03-15T09:00:00Z"}),
        correction(4, 2, {"occurred_at": "2026-06-03T09:00:00Z"}),  # put right again
        entry(5, service("2026-06-04T09:00:00Z")),
        # Refused by the view (a correction may not move a VIN): its date is not in force.
        correction(6, 5, {"occurred_at": "2021-03-15T09:00:00Z", "vin": "1G1ZD5STXLF000002"}),
    ]
    m = model(items)
    assert m["notes"] == []
    assert all(e["logged"]["late"] is None for e in m["timeline"])
    assert any(
        a["type"] == "correction_not_applied" for a in analyse(copy.deepcopy(items))["alerts"]
    )


def test_an_entry_signed_back_dated_and_corrected_forward_is_judged_by_the_date_in_force():
    items = [
        entry(2, service("2021-03-15T09:00:00Z")),
        correction(3, 2, {"occurred_at": "2026-06-01T09:00:00Z"}),
    ]
    assert timeline(model(items))[2]["logged"]["late"] is None


# ---- the header's reading -----------------------------------------------------------------


def test_a_corrected_reading_shows_the_one_in_force_and_the_signed_one():
    items = [
        entry(2, service("2026-05-01T09:00:00Z", km=16_871)),
        entry(3, service("2026-05-20T09:00:00Z", km=60_000)),
        correction(4, 2, {"odometer_km": 61_871}),
        entry(5, service("2026-05-25T09:00:00Z", km=70_000)),
        correction(6, 5, {"odometer_km": None}),
    ]
    en, zh = timeline(model(items)), timeline(model(items, "zh"))
    assert en[2]["km"] == "61,871 km (corrected from 16,871 km)"
    assert en[3]["km"] == "60,000 km" and en[3]["backwards"]  # lower than 61,871 km
    assert en[3]["backwards_note"].startswith("This reading is lower than 61,871 km")
    assert en[5]["km"] == "70,000 km (removed by a correction)"
    assert zh[2]["km"] == "61,871 公里（由 16,871 公里 更正）"
    assert en[4]["km"] == ""


def test_the_page_prints_the_corrected_reading_in_the_entry_header(client, sqlite_ledger, june_4):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    (signed,) = submitted(sqlite_ledger, shop.envelope(service("2026-06-01T09:00:00Z", 16_871)))
    fixed = {**correction(0, signed.index, {"odometer_km": 61_871})["record"]}
    submitted(sqlite_ledger, shop.envelope(fixed))
    block = entry_block(page(client), signed.index)
    assert "· 61,871 km (corrected from 16,871 km)" in block


# ---- what a correction changed, under the timeline's labels -------------------------------


def test_a_corrected_brand_is_labelled_as_the_timeline_labels_it():
    brand = {
        "kind": "title_brand",
        "vin": VIN,
        "occurred_at": "2026-05-01T09:00:00Z",
        "brand": "rebuilt",
        "jurisdiction": "US-CA",
    }
    items = [entry(2, brand, BRANDS), correction(3, 2, {"brand": "salvage"}, BRANDS)]
    for lang, label, value in (("en", "Title brand", "salvage"), ("zh", "产权标记", "残值车")):
        by = timeline(model(items, lang))
        changes = dict((k, v) for k, v, _ in by[3]["details"])
        assert f"{label} → {value}" in changes[Words(lang)("field_fields")]
        assert by[2]["corrected_by"][0].endswith(
            Words(lang)("field_set").format(field=label, value=value)
        )


def test_a_corrected_grade_is_isolated_in_the_changes_line():
    acme = {"id": "acme", "name": "Acme", "role": "inspector"}
    inspection = {
        "kind": "inspection",
        "vin": VIN,
        "occurred_at": "2026-05-01T09:00:00Z",
        "provider": "acme",
        "inspector": "INS-1",
        "grade": "C",
        "flags": {f: False for f in ("accident", "flood", "fire", "structural", "airbag")},
    }
    items = [entry(2, inspection, acme), correction(3, 2, {"grade": "B\u202e"}, acme)]
    (line,) = timeline(model(items))[2]["corrected_by"]
    assert line.endswith("Grade: \u2068B\u202e\u2069")
