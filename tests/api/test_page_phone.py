"""The buyer's page on a phone (390 x 844), in a real browser: a failed verification's
details (64-character hashes) wrap instead of widening the page."""

from __future__ import annotations

import base64
import json
import re

import httpx
import pytest

from tests.api.test_browser import browser, demo, verification  # noqa: F401 (fixtures)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser):  # noqa: F811
    context = browser.new_context(
        viewport=PHONE,
        is_mobile=True,
        locale="zh-CN",
        extra_http_headers={"Accept-Language": "zh-CN"},
    )
    yield context.new_page()
    context.close()


def _retimed(bundle: dict) -> str:
    """The bundle with one digit of its newest entry's sequencing time changed, as the
    Chinese buyer's test did: its leaf hash no longer matches, and the page says which
    hashes it computed and expected."""
    item = bundle["entries"][-1]
    raw = bytearray(base64.b64decode(item["entry"]))
    at = raw.find(b'"sequenced_at":"') + len(b'"sequenced_at":"') + 1
    raw[at] = ord("1") if raw[at] != ord("1") else ord("2")
    item["entry"] = base64.b64encode(bytes(raw)).decode()
    return json.dumps(bundle)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_failed_verification_fits_a_phone(demo, phone, lang):  # noqa: F811
    url, vin, _ = demo
    body = _retimed(httpx.get(f"{url}/vehicles/{vin}/bundle").json())
    phone.route(
        f"{url}/vehicles/{vin}/bundle",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    phone.goto(f"{url}/vehicles/{vin}?lang={lang}")
    assert verification(phone) == "failed"
    details = phone.inner_text("#verification-details")
    assert re.search(r"[0-9a-f]{64}", details), details  # what made the page wide
    width = phone.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
    )
    assert width <= PHONE["width"], f"the page is {width} px wide on a {PHONE['width']} px phone"
    # Nothing is cut off at the right either (clipped by a box that hides its overflow).
    widest = phone.evaluate(
        "Math.max(...[...document.querySelectorAll('#verification, #verification li')]"
        ".map((e) => Math.max(e.getBoundingClientRect().right, e.scrollWidth)))"
    )
    assert widest <= PHONE["width"], widest
