"""Errors as a person in a browser meets them, and as caches and screen readers see them:
an outage is a page in the reader's language (not the submitters' problem document), a
framework's server error says nothing of the server's insides, an answer chosen by
``Accept`` says so (``Vary``), the failed check's headline reaches a screen reader as
written (not in capitals), the chart's legend has one entry per mark, and only a VIN
that is not one is marked invalid."""

from __future__ import annotations

import logging
import re
from html import unescape

import pytest
import sqlalchemy.exc
from litestar.exceptions import InternalServerException
from litestar.testing import TestClient

from api.app import create_app
from api.drawings import odometer_svg
from api.i18n import MESSAGES, Words
from core.errors import StorageUnavailable
from tests.api.test_browser import browser, demo, page  # noqa: F401
from tests.api.test_page_a11y import contrast
from tests.conftest import VIN, VIN2, maintenance, onboard

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SUBMITTERS = "send the same envelope again"


@pytest.fixture
def client(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=1_000))])
    with TestClient(create_app(sqlite_ledger), raise_server_exceptions=False) as c:
        yield c


def _down(*args, **kwargs):
    raise StorageUnavailable(
        f"the ledger's database is unreachable; {SUBMITTERS}", state="unreachable", retry_after=7
    )


def _lost(*args, **kwargs):  # SQLAlchemy's own error, not translated by the engines
    raise sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, Exception("could not connect to server: Connection refused")
    )


def _title(html: str) -> str:
    return unescape(re.search(r"<title>([^<]*)</title>", html).group(1).strip())


# ---- an outage -------------------------------------------------------------------------------
@pytest.mark.parametrize("fail", [_down, _lost], ids=["translated", "sqlalchemy"])
@pytest.mark.parametrize("path", [f"/vehicles/{VIN}", f"/vehicles/{VIN}/sticker"])
def test_a_database_outage_in_a_browser_is_a_page_in_the_readers_language(
    client, monkeypatch, path, fail
):
    monkeypatch.setattr("api.routes.vehicles.page_model", fail)
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith("text/html"), r.text
    assert r.headers["retry-after"].isdigit()
    if fail is _down:
        assert r.headers["retry-after"] == "7"
    assert r.headers["cache-control"] == "no-cache"
    assert "accept" in r.headers["vary"].lower()
    assert r.headers["content-language"] == "en" and '<html lang="en">' in r.text
    assert _title(r.text) == f"{MESSAGES['en']['error_unavailable']} · vinledger"
    assert "Try again in a minute" in r.text and 'id="home-link"' in r.text
    assert "envelope" not in r.text and "unreachable" not in r.text
    assert "Connection refused" not in r.text
    zh = client.get(path, headers={**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 503 and zh.headers["content-language"] == "zh"
    assert '<html lang="zh-Hans">' in zh.text
    assert _title(zh.text).startswith(MESSAGES["zh"]["error_unavailable"])
    assert MESSAGES["zh"]["error_unavailable_todo"] in zh.text
    # A program still gets the problem document, with its advice; and it says it varies.
    api = client.get(path, headers={"Accept": "*/*"})
    assert api.status_code == 503 and api.headers["retry-after"].isdigit()
    assert api.headers["content-type"] == "application/problem+json"
    assert api.json()["type"].endswith("/storage-unavailable")
    assert "accept" in api.headers["vary"].lower()
    assert api.headers["cache-control"] == "no-cache"


def test_the_outage_words_are_in_every_language():
    for lang in MESSAGES:
        for key in ("error_unavailable", "error_unavailable_todo", "chart_other"):
            assert MESSAGES[lang].get(key), (lang, key)
    assert MESSAGES["zh"]["error_unavailable"] != MESSAGES["en"]["error_unavailable"]


# ---- a framework's 5xx -----------------------------------------------------------------------
INSIDES = "Template vehicle.html.j2 not found in /srv/app/api/templates"


def test_a_5xx_http_exception_says_nothing_of_the_insides(client, monkeypatch, caplog):
    def boom(*args, **kwargs):
        raise InternalServerException(INSIDES)

    monkeypatch.setattr("api.routes.vehicles.page_model", boom)
    with caplog.at_level(logging.ERROR, logger="vinledger.api"):
        r = client.get(f"/vehicles/{VIN}", headers=BROWSER)
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "/srv/app" not in r.text and "envelope" not in r.text
    assert _title(r.text) == f"{MESSAGES['en']['error_internal']} · vinledger"
    assert any(rec.exc_info for rec in caplog.records)  # the operator has the traceback
    api = client.get(f"/vehicles/{VIN}", headers={"Accept": "*/*"})
    assert api.status_code == 500 and api.headers["content-type"] == "application/problem+json"
    assert "/srv/app" not in api.text
    assert api.json()["type"].endswith("/internal") and SUBMITTERS in api.json()["detail"]
    assert "accept" in api.headers["vary"].lower()


def test_a_404_page_that_fails_falls_back_to_the_problem_document(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the template is broken")

    monkeypatch.setattr("api.problems.error_page", broken)
    r = client.get("/nope", headers=BROWSER)
    assert r.status_code == 404, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("/http-404")


# ---- Vary: Accept ----------------------------------------------------------------------------
@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_a_negotiated_problem_says_it_varies_by_accept(client, monkeypatch, accept):
    headers = {"Accept": accept} if accept else {}
    r = client.get("/nope", headers=headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "accept" in r.headers.get("vary", "").lower()
    assert r.headers.get("cache-control") == "no-cache"

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.routes.vehicles.page_model", bug)
    r = client.get(f"/vehicles/{VIN}", headers=headers)
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert "accept" in r.headers.get("vary", "").lower()
    assert r.headers.get("cache-control") == "no-cache"
    # A POST never gets a page, whatever it accepts: its answer does not vary.
    r = client.post("/nope", headers=headers, content=b"{}")
    assert r.status_code in (404, 405) and "vary" not in r.headers


# ---- the failed check's headline, as a screen reader gets it ---------------------------------
def test_the_failed_headline_reaches_a_screen_reader_as_written(demo, page):  # noqa: F811
    url, vin, _ = demo
    page.route(
        re.compile(r"/bundle(\?|$)"),
        lambda route: route.fulfill(
            status=200, body=b"not a bundle", headers={"content-type": "application/json"}
        ),
    )
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    page.wait_for_function(
        "document.getElementById('verification').dataset.state === 'failed'", timeout=30_000
    )
    written = page.evaluate("document.getElementById('verification-headline').textContent")
    assert written.startswith("Verification failed")
    assert page.inner_text("#verification-headline").startswith("Verification failed")
    cdp = page.context.new_cdp_session(page)
    nodes = cdp.send("Accessibility.getFullAXTree")["nodes"]
    names = [
        n.get("name", {}).get("value", "")
        for n in nodes
        if "verification failed" in n.get("name", {}).get("value", "").lower()
    ]
    assert names, "the failed headline is not in the accessibility tree"
    for name in names:
        assert name != name.upper(), name  # read as written, not letter by letter
        assert "Verification failed" in name, name
    # Still loud to the eye: bold, red, larger than the text around it.
    look = page.evaluate(
        """() => { const s = getComputedStyle(document.getElementById('verification-headline'));
          return [s.textTransform, +s.fontWeight, s.color, parseFloat(s.fontSize),
                  parseFloat(getComputedStyle(document.body).fontSize),
                  getComputedStyle(document.getElementById('verification')).backgroundColor];
        }"""
    )
    transform, weight, colour, size, body, background = look
    assert transform == "none" and weight >= 700 and size > body, look
    assert colour == "rgb(207, 34, 46)", look  # --bad
    assert contrast(colour, background) >= 4.5, look  # WCAG 1.4.3, as normal text


# ---- the chart's legend ----------------------------------------------------------------------
def _readings(*kinds: str) -> list[dict]:
    return [
        {
            "occurred_at": f"2024-0{i + 1}-01T00:00:00Z",
            "km": 1_000 * (i + 1),
            "kind": kind,
            "signer": "s",
            "index": i + 1,
        }
        for i, kind in enumerate(kinds)
    ]


def _legend(svg: str) -> list[tuple[str, str]]:
    legend = svg.split("</svg>", 1)[1]
    return re.findall(r"<li><svg[^>]*>(.*?)</svg>(.*?)</li>", legend)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_legend_has_one_entry_per_mark(lang):
    t = Words(lang)
    kinds = ("maintenance", "transfer", "title_brand", "registration", "recall")
    entries = _legend(odometer_svg(_readings(*kinds), set(), t))
    marks = [mark for mark, _ in entries]
    assert len(set(marks)) == len(marks), entries  # no two entries show the same mark
    assert len(entries) == 2, entries  # maintenance's square, and the others' plus
    assert entries[0][1] == t("kind_maintenance")
    assert 'data-shape="plus"' in entries[1][0]
    others = [t("kind_" + k) for k in sorted(kinds[1:])]
    assert entries[1][1] == t("chart_other", kinds=t("list_sep").join(others))


def test_a_lone_other_record_is_named_as_itself():
    t = Words("en")
    entries = _legend(odometer_svg(_readings("inspection", "recall"), {2}, t))
    assert [label for _, label in entries] == ["Inspection", "Recall", t("odometer_backwards")]


# ---- the retype field ------------------------------------------------------------------------
def test_only_a_vin_that_is_not_one_is_marked_invalid(client):
    def vin_input(html: str) -> str:
        return re.search(r'<input id="vin"[^>]*>', html).group(0)

    invalid = client.get("/vehicles/1HGCM82633A00435X", headers=BROWSER)
    assert 'aria-invalid="true"' in vin_input(invalid.text)
    unknown = client.get(f"/vehicles/{VIN2}", headers=BROWSER)  # well formed, no records
    assert unknown.status_code == 404 and 'id="retype"' in unknown.text
    assert "aria-invalid" not in vin_input(unknown.text)
    assert 'aria-describedby="error-note error-todo"' in vin_input(unknown.text)
