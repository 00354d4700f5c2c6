"""The personal details the ledger recognises in free text are refused before they
become public for good; what only looks like numbers (VINs, hashes, dates, part
numbers, readings) never is."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidRecord
from core.keys import generate_private_key, public_key_pem
from core.personal_data import found_in, personal_data
from ledger.storage import log_size
from tests.conftest import VIN, inspection, maintenance, onboard

FOUND = [
    ("call the owner on +49 171 5550123", "a phone number"),
    ("owner +86 (138) 0013-8000", "a phone number"),
    ("send the report to max.mustermann@example.de", "an e-mail address"),
    ("车主手机13800138000", "a mobile phone number"),
    ("车主身份证 11010519491231002X", "a resident identity card number"),
    ("refund to DE89 3704 0044 0532 0130 00", "a bank account number (IBAN)"),
    ("refund to GB82WEST12345698765432", "a bank account number (IBAN)"),
    ("refund (DE89 3704 0044 0532 0130 00)", "a bank account number (IBAN)"),
    ("owner's mobile 138 0013 8000", "a mobile phone number"),
    ("回电 138-0013-8000", "a mobile phone number"),
    ("车主手机１３８００１３８０００", "a mobile phone number"),
    ("ｍａｘ＠ｅｘａｍｐｌｅ．ｄｅ", "an e-mail address"),
    ("owner Tel.13800138000", "a mobile phone number"),
    ("owner tel 138-0013-8000", "a mobile phone number"),
]
NOT_FOUND = [
    "part 04152-YZZA1, 2 pcs",
    f"VIN {VIN} checked",
    "10,000 km service; next at 20000 km",
    "temperature +5 degrees",
    "logged 2026-11-24T16:30:00Z",
    "sha256 " + hashlib.sha256(b"x").hexdigest(),
    "11010519491231002Y",  # an identity number's shape with a wrong check digit
    "DE89 3704 0044 0532 0130 01",  # an IBAN's shape with wrong check digits
    "campaign 13800138000A",  # digits inside a code
    "Luftfiltereinsatz 13717532754",  # BMW part numbers are eleven digits
    "更换燃油滤清器 16127233840",
    "HOTEL13912345678 invoice",  # "tel" inside a word says nothing
    "RECALL-15012345678 done",  # nor "call"
    "+125 000.00 JPY",
    "+125 000 000.00 JPY",
    "clock set to GMT +8 2026-06-04",
    "online order 110105201913310021",  # an identity number's shape, no birth date
    "temperature +5 degrees, pressure +2.5 bar",
]


@pytest.mark.parametrize(("text", "what"), FOUND)
def test_each_kind_is_found(text, what):
    assert found_in(text) == what


@pytest.mark.parametrize("text", NOT_FOUND)
def test_what_only_looks_like_numbers_is_not(text):
    assert found_in(text) is None


@pytest.mark.parametrize(("text", "what"), FOUND)
@pytest.mark.parametrize("ascii_only", [True, False])
def test_found_in_any_free_text_field_and_named(text, what, ascii_only):
    cases = [
        (inspection() | {"provider": text}, "$.provider"),
        (inspection() | {"items": [{"code": "brakes", "result": "ok", "note": text}]},
         "$.items[0].note"),
        (maintenance() | {"items": [{"description": "oil"}, {"description": text}]},
         "$.items[1].description"),
    ]  # fmt: skip
    for record, path in cases:
        payload = json.dumps(record, ensure_ascii=ascii_only).encode()
        assert personal_data(payload) == (path, what)


def test_an_escaped_at_sign_is_still_seen():
    payload = json.dumps(inspection() | {"provider": "PLACEHOLDER"}).encode()
    payload = payload.replace(b"PLACEHOLDER", b"max\\u0040example.de")
    assert json.loads(payload)["provider"] == "max@example.de"
    assert personal_data(payload) == ("$.provider", "an e-mail address")


def test_a_long_field_is_searched_in_linear_time():
    """An e-mail-like pattern over 2,000 letters ending in "@" must not backtrack."""
    import time

    text = "a" * 2000 + "@"
    start = time.perf_counter()
    for _ in range(20):
        found_in(text)
    assert time.perf_counter() - start < 0.5  # quadratic took ~11 ms each, linear ~0.1


def test_structured_fields_are_not_searched():
    """An insurer's claim reference and a part number are the partner's own codes."""
    record = maintenance() | {"parts": [{"name": "filter", "part_number": "13800138000"}]}
    assert personal_data(json.dumps(record).encode()) is None


_HEX = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
_NUMBERS = st.integers(min_value=0, max_value=10**12).map(str)
_VINS = st.sampled_from([VIN, "LSVAU218XN2183294", "WDB1240821A123456", "SB164ABN10E082986"])
_PARTS = st.from_regex(r"[0-9A-Z]{3,6}-[0-9A-Z]{3,6}", fullmatch=True)


@given(st.lists(st.one_of(_HEX, _NUMBERS, _VINS, _PARTS), min_size=1, max_size=6))
def test_hashes_vins_numbers_and_part_numbers_are_never_taken_for_a_person(words):
    note = "; ".join(f"{w} km" if w.isdigit() else w for w in words)
    payload = json.dumps(maintenance() | {"items": [{"description": note}]}).encode()
    assert personal_data(payload) is None


def test_a_submission_holding_one_is_refused_and_logs_nothing(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    with sqlite_ledger.store.reader() as s:
        before = log_size(s)
    record = maintenance() | {"items": [{"description": "owner called, tel. 13800138000"}]}
    r = client.post("/records", content=shop.envelope(record))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem")
    problem = r.json()
    assert problem["field"] == "$.items[0].description"
    assert "looks like a mobile phone number" in problem["detail"]
    assert "can never be erased" in problem["detail"]
    with sqlite_ledger.store.reader() as s:
        assert log_size(s) == before


def test_the_operator_is_held_to_it_too(sqlite_ledger):
    pem = public_key_pem(generate_private_key().public_key())
    with pytest.raises(InvalidRecord, match="looks like a phone number") as err:
        sqlite_ledger.add_actor("amy-chen", "Amy Chen, +86 138 0013 8000", "referrer", pem)
    assert err.value.field == "$.name"
