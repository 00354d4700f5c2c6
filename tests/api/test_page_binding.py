"""The buyer's page checks that what it verified is what it shows: the bundle is for
the page's VIN, and the timeline the server drew holds exactly the bundle's entries.
When anything fails, the verdict at the top says so, in the page's language."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.test_browser import browser, demo, page, verification  # noqa: F401
from tests.api.test_verify_binding import _other_vin


def _serve_bundle(page, url: str, vin: str, bundle: dict) -> None:  # noqa: F811
    body = json.dumps(bundle)
    page.route(
        f"{url}/vehicles/{vin}/bundle",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )


def _failed_at_the_top(page) -> str:  # noqa: F811
    """The page failed, and says so above the server's verdict, too."""
    assert verification(page) == "failed"
    assert page.get_attribute("#verdict", "data-state") == "unverified"
    assert page.is_visible("#unverified")
    top = page.locator("#unverified").bounding_box()
    assert top["y"] < page.locator("#verdict").bounding_box()["y"]
    return page.inner_text("#verification")


def test_the_bundle_of_another_vehicle_fails_naming_both_vins(demo, page):  # noqa: F811
    from ledger.verify import verify_bundle_bytes

    url, vin, vkey = demo
    other = _other_vin(url, vin)
    bundle = httpx.get(f"{url}/vehicles/{other}/bundle").content
    assert verify_bundle_bytes(bundle, vkey).ok  # genuine: only its VIN is wrong
    _serve_bundle(page, url, vin, json.loads(bundle))
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = _failed_at_the_top(page)
    assert f"the bundle is for VIN {other}, not {vin}" in text, text
    assert "Verification failed" in text and "Verified" not in text
    assert "could not be verified" in page.inner_text("#unverified")


def test_a_bundle_without_an_entry_the_page_shows_fails_naming_it(demo, page):  # noqa: F811
    from ledger.verify import verify_bundle_bytes

    url, vin, vkey = demo
    bundle = httpx.get(f"{url}/vehicles/{vin}/bundle").json()
    newest = bundle["entries"].pop()["index"]
    assert verify_bundle_bytes(json.dumps(bundle).encode(), vkey).ok  # a valid prefix
    _serve_bundle(page, url, vin, bundle)
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = _failed_at_the_top(page)
    assert f"the page shows entry {newest}, which the bundle does not hold" in text, text


def test_a_page_that_hides_an_entry_of_the_bundle_fails_naming_it(demo, page):  # noqa: F811
    url, vin, _ = demo
    oldest = httpx.get(f"{url}/vehicles/{vin}/bundle").json()["entries"][0]["index"]

    def hide(route):
        html = route.fetch().text()
        start = html.index(f'<li id="entry-{oldest}"')
        end = html.index("</li>", start) + len("</li>")
        route.fulfill(status=200, content_type="text/html", body=html[:start] + html[end:])

    page.route(f"{url}/vehicles/{vin}?lang=en", hide)
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = _failed_at_the_top(page)
    assert f"the page leaves out entry {oldest} of the bundle" in text, text


def test_the_warning_is_in_the_pages_language(demo, page):  # noqa: F811
    from api.i18n import MESSAGES

    url, vin, _ = demo
    _serve_bundle(page, url, vin, httpx.get(f"{url}/vehicles/{_other_vin(url, vin)}/bundle").json())
    page.goto(f"{url}/vehicles/{vin}?lang=zh")
    _failed_at_the_top(page)
    assert page.inner_text("#unverified").strip() == MESSAGES["zh"]["unverified"]


def test_a_verified_page_says_so_once_to_every_reader(demo, page):  # noqa: F811
    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "verified"
    # Screen readers hear the result: the box is a live status region.
    assert page.get_attribute("#verification", "role") == "status"
    assert page.get_attribute("#verification", "aria-live") == "polite"
    headline = page.inner_text("#verification-headline")
    assert page.inner_text("#verification").count(headline) == 1
    assert page.locator("#verification-details li").count() == 0
    assert not page.is_visible("#unverified")
    assert page.get_attribute("#verdict", "data-state") is None
    page_check = [
        f for f in page.evaluate("window.vinledger.lastReport.findings") if f["check"] == "page"
    ]
    assert [f["ok"] for f in page_check] == [True]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_javascript_no_warning_is_shown(demo, browser, lang):  # noqa: F811
    url, vin, _ = demo
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(f"{url}/vehicles/{vin}?lang={lang}")
    assert not pg.is_visible("#unverified")
    context.close()


def _hide_newest(url: str, vin: str, times: int):
    """A route that leaves the newest entry out of the page the first ``times`` loads,
    as a page drawn just before that entry was logged would."""
    newest = httpx.get(f"{url}/vehicles/{vin}/bundle").json()["entries"][-1]["index"]
    served = []

    def route(r):
        html = r.fetch().text()
        if len(served) < times:
            start = html.index(f'<li id="entry-{newest}"')
            html = html[:start] + html[html.index("</li>", start) + len("</li>") :]
        served.append(1)
        r.fulfill(status=200, content_type="text/html", body=html)

    return newest, served, route


def test_an_entry_logged_while_the_page_loaded_reloads_it_once_and_verifies(demo, page):  # noqa: F811
    url, vin, _ = demo
    _, served, route = _hide_newest(url, vin, times=1)
    page.route(f"{url}/vehicles/{vin}?lang=en", route)
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    page.wait_for_function("document.getElementById('verification').dataset.state === 'verified'")
    assert len(served) == 2  # drawn again once, then verified
    assert not page.is_visible("#unverified")


def test_a_page_that_keeps_hiding_the_newest_entry_fails_after_one_reload(demo, page):  # noqa: F811
    url, vin, _ = demo
    newest, served, route = _hide_newest(url, vin, times=99)
    page.route(f"{url}/vehicles/{vin}?lang=en", route)
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    page.wait_for_function("document.getElementById('verification').dataset.state === 'failed'")
    text = _failed_at_the_top(page)
    assert f"leaves out entry {newest}" in text and "reload the page" in text, text
    assert len(served) == 2
