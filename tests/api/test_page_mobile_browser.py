"""The buyer's page on a phone, in a real browser (Debian's Chromium, as
test_browser.py): large text, no JavaScript, printing, a Chinese reader's failure
messages, a lying headline, the retry button, and revisiting on a slow network."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest

from api.demo import FLOODED, demo_stories
from tests.api.test_browser import browser, demo, page, verification  # noqa: F401 (fixtures)

PHONE = {"width": 390, "height": 844}


def _flood_vin() -> str:
    return demo_stories()[FLOODED][0]


def _serve_bundle(pg, url: str, vin: str, body: str) -> None:
    pg.route(
        f"{url}/vehicles/{vin}/bundle",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )


def _flip_last_grant(url: str, vin: str) -> str:
    """The bundle with one byte of its last key grant changed: the entries signed with
    that key fail, each naming its kind ("entry 25 (transfer): key ... was not granted")."""
    bundle = httpx.get(f"{url}/vehicles/{vin}/bundle").json()
    item = bundle["trust"][-1]
    raw = bytearray(base64.b64decode(item["entry"]))
    raw[len(raw) // 2] ^= 0x01
    item["entry"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(bundle)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_readers_larger_text_setting_enlarges_the_page_and_it_still_fits(demo, browser, lang):  # noqa: F811
    url, _, _ = demo
    context = browser.new_context(viewport=PHONE, is_mobile=True)
    pg = context.new_page()
    cdp = context.new_cdp_session(pg)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 32, "fixed": 26}})
    pg.goto(f"{url}/vehicles/{_flood_vin()}?lang={lang}")
    assert verification(pg) == "verified"
    size = pg.evaluate(
        "sel => [...document.querySelectorAll(sel)].map(e => getComputedStyle(e).fontSize)",
        "body, li.alert, #verification-headline",
    )
    assert set(size) == {"32px"}, size
    width = pg.evaluate("Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)")
    assert width <= PHONE["width"], f"the page is {width} px wide at 32 px text"
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_without_javascript_the_verdict_is_greyed_and_says_not_verified(demo, browser, lang):  # noqa: F811
    url, _, _ = demo
    clean = next(
        vin
        for vin, _ in demo_stories()
        if not httpx.get(f"{url}/vehicles/{vin}/history").json()["view"]["alerts"]
    )
    context = browser.new_context(java_script_enabled=False, viewport=PHONE)
    pg = context.new_page()
    pg.goto(f"{url}/vehicles/{clean}?lang={lang}")
    assert pg.get_attribute("#verdict", "class") == "verdict clean"
    background = pg.eval_on_selector("#verdict", "e => getComputedStyle(e).backgroundColor")
    assert background == "rgb(246, 248, 250)", background  # grey, not the green of verified
    assert pg.is_visible("#verdict .not-verified")
    said = pg.inner_text("#verification")
    assert {"en": "could not check itself", "zh": "无法自行验证"}[lang] in said, said
    context.close()


def test_printed_after_a_failed_check_the_reasons_are_on_paper(demo, page):  # noqa: F811
    url, _, _ = demo
    vin = _flood_vin()
    _serve_bundle(page, url, vin, _flip_last_grant(url, vin))
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "failed"
    page.emulate_media(media="print")
    shown = page.evaluate(
        """() => [document.getElementById('unverified'),
                  document.getElementById('verification-details'),
                  document.querySelector('ul.links').previousElementSibling,  // "Downloads"
                  document.querySelector('ul.links')].map(e => getComputedStyle(e).display)"""
    )
    assert shown == ["block", "block", "none", "none"], shown
    assert "The details are below" in page.inner_text("#unverified")


def test_a_chinese_readers_failure_lines_name_the_entry_in_chinese(demo, page):  # noqa: F811
    """And mark the checks' English as English (lang="en"), with no stray "(kind):"."""
    url, _, _ = demo
    vin = _flood_vin()
    _serve_bundle(page, url, vin, _flip_last_grant(url, vin))
    page.goto(f"{url}/vehicles/{vin}?lang=zh")
    assert verification(page) == "failed"
    lines = page.eval_on_selector_all(
        "#verification-details li",
        "lis => lis.map(li => [li.textContent, li.querySelector('[lang=en]')?.textContent])",
    )
    assert lines
    for text, english in lines:
        assert english and text.endswith(english), text  # the English part is marked
        assert ": (" not in text and "：(" not in text, text  # no stray "(kind):" fragment
    kinded = [t for t, _ in lines if re.match(r"记录 \d+（[^）a-z]+）：key ", t)]
    assert kinded, lines  # "记录 25（过户）：key … was not granted before entry 25"
    # And on the English page: the kind once, in words, after the entry.
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "failed"
    text = page.inner_text("#verification-details")
    assert re.search(r"entry \d+ \([A-Z][a-z ]+\): key ", text) and ": (" not in text, text


def test_a_proof_that_did_not_download_retries_from_outside_the_list(demo, page):  # noqa: F811
    """The reason, in the browser's English, marked so; Try again not a list item."""
    url, vin, _ = demo
    bundle = f"{url}/vehicles/{vin}/bundle"
    page.route(bundle, lambda route: route.abort("connectionreset"))
    page.goto(f"{url}/vehicles/{vin}?lang=zh")
    page.wait_for_function("document.documentElement.dataset.verification === 'unchecked'")
    reason = page.locator("#verification-headline span[lang=en]")
    assert reason.count() == 1 and reason.inner_text() in page.inner_text("#verification-headline")
    assert page.inner_text("#verification-headline").startswith("无法验证此历史记录")
    button = page.locator("#verification-retry")
    assert button.inner_text() == "重试"
    assert button.evaluate("b => b.closest('li, ul, ol') === null")
    assert page.locator("#verification-details li").count() == 0
    page.unroute(bundle)
    button.click()
    assert verification(page) == "verified"
    assert page.locator("#verification-retry").count() == 0


def test_a_headline_that_miscounts_the_problems_it_lists_fails(demo, page):  # noqa: F811
    """The list still links every entry; only the headline says all is well."""
    url, _, _ = demo
    vin = _flood_vin()

    listed = {}

    def reword(route):
        html = route.fetch().text()
        title = r'(<h2 id="verdict-title"[^>]*>)(\d+) problems reported'
        listed["count"] = int(re.search(title, html).group(2))
        html = re.sub(title, r"\1No problems reported", html)
        route.fulfill(status=200, content_type="text/html", body=html)

    page.route(f"{url}/vehicles/{vin}?lang=en", reword)
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    # The page was reworded (or this test would prove nothing).
    assert page.inner_text("#verdict-title").startswith("No problems reported")
    assert verification(page) == "failed"
    failed = [
        f
        for f in page.evaluate("window.vinledger.lastReport.findings")
        if f["check"] == "verdict" and not f["ok"]
    ]
    n = listed["count"]
    assert n >= 3  # the flood car's flood, its claim and its brand at least
    assert [f["detail"] for f in failed] == [
        f'the verdict\'s headline says "No problems reported", but it lists {n} problems '
        f'("{n} problems reported")'
    ]
    assert page.is_visible("#unverified")


def test_opened_again_the_page_revalidates_its_preloaded_bundle(demo, browser):  # noqa: F811
    """One request for the bundle per visit (the preload, taken by the script's fetch),
    and on the second visit the server answers 304: nothing downloaded again. (No
    page.route here: Playwright turns the HTTP cache off while it routes.)"""
    url, vin, _ = demo
    context = browser.new_context(viewport=PHONE)
    pg = context.new_page()
    cdp = context.new_cdp_session(pg)
    cdp.send("Network.enable")
    ids: set[str] = set()
    seen: list[tuple[str, object]] = []

    def sent(e):
        if "/bundle" in e["request"]["url"]:
            ids.add(e["requestId"])
            seen.append(("request", e["initiator"]["type"]))

    cdp.on("Network.requestWillBeSent", sent)
    cdp.on(  # the bytes that came over the network, headers and all
        "Network.loadingFinished",
        lambda e: seen.append(("bytes", e["encodedDataLength"])) if e["requestId"] in ids else None,
    )
    visits = []
    for _ in range(2):
        seen.clear()
        pg.goto(f"{url}/vehicles/{vin}?lang=en")
        assert verification(pg) == "verified"
        for _ in range(50):  # the network events may come in a moment after
            if len(seen) >= 2:
                break
            pg.wait_for_timeout(100)
        visits.append(list(seen))
    size = len(httpx.get(f"{url}/vehicles/{vin}/bundle").content)
    (first, again) = visits
    assert [k for k, _ in first] == [k for k, _ in again] == ["request", "bytes"], visits
    assert first[0] == again[0] == ("request", "parser"), visits  # one request: the preload's
    assert first[1][1] > size and again[1][1] < 1_000, (size, visits)  # 304: headers only
    context.close()
