"""Errors on the pages a person reads: a page for a browser, problem+json for the rest."""

from __future__ import annotations

import asyncio

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import VIN, maintenance, onboard

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
UNKNOWN = "5YJSA1E27HF000337"  # a valid VIN this ledger has no entry for


@pytest.fixture
def client(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=1_000))])
    with TestClient(create_app(sqlite_ledger)) as c:
        yield c


@pytest.mark.parametrize("path", [f"/vehicles/{UNKNOWN}", f"/vehicles/{UNKNOWN}/sticker"])
def test_no_entries_is_a_page_that_says_it_is_not_a_clean_history(client, path):
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-language"] == "en"
    assert f"No records for {UNKNOWN} in this ledger" in r.text
    assert "This is not a clean history" in r.text
    assert "only what its partners" in r.text and "inspected before you buy" in r.text
    zh = client.get(path, headers={**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 404 and zh.headers["content-language"] == "zh"
    assert "这并不代表车况清白" in zh.text and '<html lang="zh-Hans">' in zh.text
    assert "这并不代表车况清白" in client.get(f"{path}?lang=zh", headers=BROWSER).text


def test_an_invalid_vin_is_a_page_that_says_what_a_vin_is(client):
    r = client.get("/vehicles/<B>NOTAVIN", headers=BROWSER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "is not a valid VIN" in r.text and "17 characters" in r.text
    assert "<B>" not in r.text and "&lt;B&gt;NOTAVIN" in r.text


@pytest.mark.parametrize(
    "path",
    [
        f"/vehicles/{UNKNOWN}",
        f"/vehicles/{UNKNOWN}/sticker",
        "/vehicles/NOTAVIN",
        f"/vehicles/{UNKNOWN}/history",
        f"/vehicles/{UNKNOWN}/bundle",
    ],
)
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_other_clients_still_get_problem_json(client, path, accept):
    r = client.get(path, headers={"Accept": accept} if accept else {})
    assert r.status_code in (404, 422)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["status"] == r.status_code


@pytest.mark.parametrize("path", [f"/vehicles/{UNKNOWN}/history", f"/vehicles/{UNKNOWN}/bundle"])
def test_json_routes_answer_problem_json_even_to_a_browser(client, path):
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "typed, canonical",
    [
        (VIN.lower(), f"/vehicles/{VIN}"),
        (f"{VIN[:8].lower()}%20{VIN[8:]}", f"/vehicles/{VIN}"),
        (f"{VIN[:3]}-{VIN[3:]}/sticker", f"/vehicles/{VIN}/sticker"),
    ],
)
def test_a_vin_as_people_type_it_redirects_to_its_page(client, typed, canonical):
    r = client.get(f"/vehicles/{typed}?lang=zh", follow_redirects=False)
    assert r.status_code == 308
    assert r.headers["location"] == f"{canonical}?lang=zh"
    bare = client.get(f"/vehicles/{typed}", follow_redirects=False)
    assert bare.headers["location"] == canonical  # no stray "?"
    assert client.get(f"/vehicles/{typed}", headers=BROWSER).status_code == 200


def test_the_json_routes_keep_refusing_a_vin_out_of_normal_form(client):
    r = client.get(f"/vehicles/{VIN.lower()}/history", follow_redirects=False)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_qr_code_of_a_vin_as_people_type_it_redirects(client):
    r = client.get(f"/vehicles/{VIN.lower()}/qr.svg", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/vehicles/{VIN}/qr.svg"


@pytest.mark.parametrize(
    "path, media_type",
    [
        (f"/vehicles/{VIN}", "text/html"),
        (f"/vehicles/{VIN}/badge.svg", "image/svg+xml"),
        (f"/vehicles/{VIN}/history", "application/json"),
        ("/log/checkpoint", "text/plain"),
        ("/static/verify.js", "text/javascript"),
    ],
)
def test_head_answers_as_get_does_without_the_body(client, path, media_type):
    got = client.get(path)
    head = client.head(path)
    assert got.status_code == head.status_code == 200
    assert head.headers["content-type"].startswith(media_type)
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers.get("content-encoding") == got.headers.get("content-encoding")
    if "content-encoding" not in got.headers:  # else the length is of the gzipped bytes
        assert got.headers["content-length"] == str(len(got.content))


def test_head_of_a_missing_vehicle_is_its_404_and_post_routes_still_refuse_it(client):
    assert client.head(f"/vehicles/{UNKNOWN}/history").status_code == 404
    r = client.head("/records")
    assert r.status_code == 405 and set(r.headers["allow"].split(", ")) == {"POST", "OPTIONS"}
    r = client.post("/static/verify.js")  # a route that names HEAD itself: once
    assert r.status_code == 405 and r.headers["allow"].split(", ").count("HEAD") == 1
    r = client.post("/log/checkpoint")
    assert r.status_code == 405
    assert set(r.headers["allow"].split(", ")) == {"GET", "OPTIONS", "HEAD"}


def test_head_sends_no_body_bytes_at_all(client):
    """The test client drops a HEAD answer's body itself; the server must not send one."""
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "HEAD",
        "scheme": "http",
        "path": f"/vehicles/{VIN}/history",
        "raw_path": f"/vehicles/{VIN}/history".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
        "state": {},
    }
    asyncio.run(client.app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 200
    length = dict(start["headers"])[b"content-length"]
    assert int(length) > 100
    bodies = [m for m in sent if m["type"] == "http.response.body"]
    assert b"".join(m.get("body", b"") for m in bodies) == b""
    assert bodies[-1].get("more_body", False) is False


def test_every_answer_says_not_to_sniff_its_type(client):
    for path in (f"/vehicles/{VIN}", f"/vehicles/{VIN}/history", "/log/checkpoint", "/nope"):
        assert client.get(path).headers["x-content-type-options"] == "nosniff", path


def test_links_use_the_configured_public_url_not_the_host_header(client):
    """Any client can send any Host: a sticker printed from such a request would send
    buyers elsewhere. With ``public_url`` set, the links are the ledger's own."""
    evil = {"Host": "evil.example"}
    assert "evil.example" in client.get(f"/vehicles/{VIN}/sticker", headers=evil).text
    client.app.state.ledger.settings.public_url = "https://ledger.example"
    sticker = client.get(f"/vehicles/{VIN}/sticker", headers=evil).text
    page = client.get(f"/vehicles/{VIN}", headers=evil).text
    assert "evil.example" not in sticker + page
    assert f"https://ledger.example/vehicles/{VIN}" in sticker
    assert "https://ledger.example" in page


def test_a_ledger_served_under_a_path_links_and_redirects_within_that_path(client):
    """Behind a proxy that serves the ledger at https://host/cars (and strips /cars
    before passing requests on), every link on the page, the script, the bundle the
    page verifies and a redirect of a VIN as typed must keep the /cars prefix."""
    import re

    client.app.state.ledger.settings.public_url = "https://ledger.example/cars/"
    page = client.get(f"/vehicles/{VIN}", headers=BROWSER).text
    local = re.findall(r'(?:href|src|data-bundle-url)="(/[^"]*)"', page)
    assert local and all(u.startswith("/cars/") for u in local), local
    assert f'data-bundle-url="/cars/vehicles/{VIN}/bundle"' in page
    r = client.get(f"/vehicles/{VIN.lower()}/sticker", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/cars/vehicles/{VIN}/sticker"
    missing = client.get("/vehicles/1M8GDM9AXKP042788", headers=BROWSER).text
    assert 'href="/cars/static/favicon.svg"' in missing


@pytest.mark.parametrize("text", ["ledger.example", "ftp://x", "https://x/?a=1", "https://"])
def test_a_public_url_that_is_no_address_is_refused_saying_how_to_write_it(tmp_path, text):
    import json

    from api.config import create_data_dir, load_settings
    from core.errors import InvalidInput

    create_data_dir(tmp_path / "d", origin="test/log", database_url=None)
    config = tmp_path / "d" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "public_url": text}))
    with pytest.raises(InvalidInput, match=r"https://ledger\.example"):
        load_settings(tmp_path / "d")


def test_a_public_url_whose_path_would_leave_the_host_is_refused(tmp_path):
    import json

    from api.config import create_data_dir, load_settings
    from core.errors import InvalidInput

    create_data_dir(tmp_path / "d", origin="test/log", database_url=None)
    config = tmp_path / "d" / "config.json"
    bad = "https://ledger.example//evil.example"
    config.write_text(json.dumps({**json.loads(config.read_text()), "public_url": bad}))
    with pytest.raises(InvalidInput):
        load_settings(tmp_path / "d")
