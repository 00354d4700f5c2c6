"""A VIN as a Chinese buyer types or pastes it (full-width characters from the input
method, full-width or Unicode dashes, invisible characters from a phone's clipboard)
reaches the vehicle through the form, the page URL, the JSON route and the CLI."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from api.cli_read import _vehicle_url
from api.i18n import Words
from api.routes.vehicles import vin_hint
from tests.api.test_page_errors import BROWSER
from tests.conftest import VIN, maintenance, onboard

FULL_WIDTH = str.maketrans(
    "0123456789ABCDEFGHJKLMNPRSTUVWXYZabcdefghjklmnprstuvwxyz",
    "０１２３４５６７８９ＡＢＣＤＥＦＧＨＪＫＬＭＮＰＲＳＴＵＶＷＸＹＺ"
    "ａｂｃｄｅｆｇｈｊｋｌｍｎｐｒｓｔｕｖｗｘｙｚ",
)
TYPED = [
    VIN.translate(FULL_WIDTH),
    VIN.lower().translate(FULL_WIDTH),
    f"{VIN[:3]}－{VIN[3:8]}－{VIN[8:]}",  # full-width dash
    f"{VIN[:3]}–{VIN[3:8]}—{VIN[8:]}",  # en and em dash
    f"{VIN[:9]}\u200b{VIN[9:]}",  # zero-width space
    f"\ufeff{VIN}\u2060",
    f"{VIN[:9]}\u3000{VIN[9:]}",  # ideographic space
]


@pytest.fixture
def serviced(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    outs = sqlite_ledger.submit_now([shop.envelope(maintenance(km=20_000))])
    assert not isinstance(outs[0], Exception), outs


@pytest.mark.parametrize("typed", TYPED)
def test_the_form_takes_a_vin_as_typed_on_a_chinese_phone(client, serviced, typed):
    r = client.get(
        "/vehicles", params={"vin": typed, "lang": "zh"}, headers=BROWSER, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == f"/vehicles/{VIN}?lang=zh"


@pytest.mark.parametrize("typed", TYPED)
def test_the_page_url_redirects_a_vin_as_typed_on_a_chinese_phone(client, serviced, typed):
    path = f"/vehicles/{quote(typed, safe='')}"
    r = client.get(path, headers=BROWSER, follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/vehicles/{VIN}"
    badge = client.get(f"{path}/badge.svg", follow_redirects=False)
    assert badge.status_code == 308 and badge.headers["location"] == f"/vehicles/{VIN}/badge.svg"


@pytest.mark.parametrize("typed", TYPED)
def test_the_json_route_names_the_vin_to_send(client, serviced, typed):
    """A program is told the normal form, as for lowercase (it should send what it means)."""
    r = client.get(f"/vehicles/{quote(typed, safe='')}/history")
    assert r.status_code == 422
    assert f"send it as '{VIN}'" in r.json()["detail"]


@pytest.mark.parametrize("typed", TYPED)
def test_the_cli_reads_a_vehicle_url_with_a_vin_as_typed(typed):
    url, vin = _vehicle_url(f"https://ledger.example/vehicles/{quote(typed, safe='')}")
    assert (url, vin) == (f"https://ledger.example/vehicles/{VIN}", VIN)


@pytest.mark.parametrize(
    "typed, lang, said",
    [
        ("ＬＧＢＨ５２Ｅ０５ＭＹ００７７７", "zh", "它有 16 个字符"),  # one digit short
        ("LGBH52E05\u200bMY00077", "en", "It has 16 characters"),
        ("ＬＧＢＨ５２Ｅ０５ＭＹ０００７７７\u200b７", "en", "It has 18 characters"),
        ("ＬＧＢＨ５２ＥＯ５ＭＹ０００７７７", "zh", "第 8 个字符是字母 O"),
    ],
)
def test_the_hint_counts_what_is_left_after_folding(client, typed, lang, said):
    assert said in vin_hint(typed, Words(lang))
    r = client.get("/vehicles", params={"vin": typed, "lang": lang}, headers=BROWSER)
    assert r.status_code == 422
    note = re.search(r'<p id="error-note">([^<]*)</p>', r.text)
    assert note and said in note.group(1), r.text
