"""The pages for people who use a keyboard, a screen reader or see colours differently
(WCAG 2.2 AA): a focus ring that shows, form borders that show, focus kept when "Try
again" is drawn anew, an error page (not JSON) for a browser at a wrong address or on a
server error, headings and landmarks, and a chart that does not tell apart by colour
alone. Contrasts are computed here (WCAG 2 relative luminance), not by a tool."""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.drawings import odometer_svg
from api.i18n import MESSAGES, Words
from tests.api.test_browser import browser, demo, page  # noqa: F401
from tests.conftest import VIN, maintenance, onboard

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


# ---- contrast (WCAG 2 relative luminance) ------------------------------------------------
def _rgb(colour: str) -> tuple[float, float, float, float]:
    if colour.startswith("#"):
        h = colour.lstrip("#")
        return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0)
    nums = [float(n) for n in re.findall(r"[\d.]+", colour)]
    return (nums[0], nums[1], nums[2], nums[3] if len(nums) > 3 else 1.0)


def _luminance(colour: str) -> float:
    r, g, b, _ = _rgb(colour)

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# What an element looks like, and the first opaque background behind it (white at the top).
STYLE = """(sel) => {
  const el = document.querySelector(sel);
  const s = getComputedStyle(el);
  const behind = (node) => {
    for (let n = node; n; n = n.parentElement) {
      const bg = getComputedStyle(n).backgroundColor;
      if (!/rgba\\(.*, 0\\)$/.test(bg) && bg !== "transparent") return bg;
    }
    return "rgb(255, 255, 255)";
  };
  return { outlineColor: s.outlineColor, outlineStyle: s.outlineStyle,
           outlineWidth: parseFloat(s.outlineWidth), background: behind(el),
           page: behind(el.parentElement), border: s.borderTopColor,
           focused: document.activeElement === el };
}"""


def _tab_to(pg, selector: str) -> None:
    """Tabs (as a keyboard user does, so :focus-visible applies) until ``selector`` has focus."""
    for _ in range(40):
        pg.keyboard.press("Tab")
        if pg.evaluate("(s) => document.activeElement === document.querySelector(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize(
    "path, button",
    [("/?lang=en", "#lookup button"), ("/vehicles/NOTAVIN?lang=en", "#retype button")],
)
def test_the_focus_ring_shows_on_the_dark_buttons(demo, page, path, button):  # noqa: F811
    url, _, _ = demo
    page.goto(url + path)
    _tab_to(page, button)
    s = page.evaluate(STYLE, button)
    assert s["focused"] and s["outlineStyle"] == "solid" and s["outlineWidth"] >= 2, s
    assert contrast(s["outlineColor"], s["background"]) >= 3, s  # against the button
    assert contrast(s["outlineColor"], s["page"]) >= 3, s  # and the page around it


def test_a_focused_link_shows_its_ring_too(demo, page):  # noqa: F811
    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    _tab_to(page, "nav.lang a")
    s = page.evaluate(STYLE, "nav.lang a")
    assert s["outlineStyle"] == "solid" and contrast(s["outlineColor"], s["page"]) >= 3, s


def test_the_vin_inputs_border_stands_out(demo, page):  # noqa: F811
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0  # the arithmetic, checked
    assert round(contrast("rgb(209, 217, 224)", "#ffffff"), 2) == 1.43  # the audit's figure
    url, _, _ = demo
    for path in ("/?lang=en", "/vehicles/NOTAVIN?lang=en"):  # the front door, an error
        page.goto(url + path)
        s = page.evaluate(STYLE, "input#vin")
        assert contrast(s["border"], s["page"]) >= 3, (path, s)


def test_focus_stays_on_try_again_after_a_failed_retry(demo, page):  # noqa: F811
    url, vin, _ = demo
    page.route(re.compile(r"/bundle(\?|$)"), lambda route: route.abort())
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    page.wait_for_selector("#verification-retry", timeout=20_000)
    page.focus("#verification-retry")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.getElementById('verification').dataset.state === 'verifying'", timeout=5_000
    )
    # While the check runs, the keyboard is on the box's headline, not lost to <body>.
    assert page.evaluate("document.activeElement.id") == "verification-headline"
    page.wait_for_function(
        "document.getElementById('verification').dataset.state === 'unchecked'",
        timeout=20_000,
    )
    assert page.evaluate("document.activeElement.id") == "verification-retry"
    # A second time, the same.
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.getElementById('verification').dataset.state === 'unchecked'"
        " && document.getElementById('verification-retry')",
        timeout=20_000,
    )
    assert page.evaluate("document.activeElement.id") == "verification-retry"


# ---- pages, without a browser -----------------------------------------------------------------
@pytest.fixture
def client(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=1_000))])
    with TestClient(create_app(sqlite_ledger), raise_server_exceptions=False) as c:
        yield c


def _title(html: str) -> str:
    return unescape(re.search(r"<title>([^<]*)</title>", html).group(1).strip())


@pytest.mark.parametrize("path", ["/nope", f"/vehicle/{VIN}", f"/vehicles/{VIN}/nope"])
def test_a_mistyped_address_in_a_browser_is_a_page(client, path):
    r = client.get(path, headers=BROWSER)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "en" and '<html lang="en">' in r.text
    assert _title(r.text) == "There is no page at this address · vinledger"
    assert "typing mistake" in r.text and 'id="home-link"' in r.text
    assert 'href="/"' in r.text
    zh = client.get(path, headers={**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.status_code == 404 and '<html lang="zh-Hans">' in zh.text
    assert _title(zh.text).startswith(MESSAGES["zh"]["error_missing"])
    assert MESSAGES["zh"]["error_missing_todo"] in zh.text
    # An API client still gets the problem document; so does a browser's POST.
    for accept in (None, "*/*", "application/json"):
        r = client.get(path, headers={"Accept": accept} if accept else {})
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"] == "https://vinledger.dev/problems/http-404"
    r = client.post(path, headers=BROWSER, content=b"{}")
    assert r.headers["content-type"] == "application/problem+json"


def test_a_server_error_in_a_browser_is_a_page_without_the_submitters_advice(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("api.routes.vehicles.page_model", broken)
    r = client.get(f"/vehicles/{VIN}", headers=BROWSER)
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="en">' in r.text
    assert _title(r.text) == "Something went wrong on the ledger's side · vinledger"
    assert "Try again in a few minutes" in r.text and 'id="home-link"' in r.text
    assert "envelope" not in r.text and "a bug" not in r.text
    zh = client.get(f"/vehicles/{VIN}?lang=zh", headers=BROWSER)
    assert zh.status_code == 500 and '<html lang="zh-Hans">' in zh.text
    assert MESSAGES["zh"]["error_internal_todo"] in zh.text
    api = client.get(f"/vehicles/{VIN}", headers={"Accept": "*/*"})
    assert api.status_code == 500
    assert api.headers["content-type"] == "application/problem+json"
    assert "send the same envelope again" in api.json()["detail"]


class _Landmarks(HTMLParser):
    """Which elements sit inside <main>, and the sticker's h1 and link."""

    def __init__(self):
        super().__init__()
        self.depth = 0  # of <main>
        self.found: list[tuple[str, bool, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, self.depth > 0, dict(attrs)))
        if tag == "main":
            self.depth += 1

    def handle_endtag(self, tag):
        if tag == "main":
            self.depth -= 1


def _landmarks(html: str) -> _Landmarks:
    p = _Landmarks()
    p.feed(html)
    return p


@pytest.mark.parametrize(
    "path, footer",
    [("/", False), (f"/vehicles/{VIN}", True), ("/vehicles/NOTAVIN", False), ("/nope", False)],
)
def test_the_header_and_footer_are_landmarks_outside_main(client, path, footer):
    found = _landmarks(client.get(path, headers=BROWSER).text).found
    tags = [(tag, inside) for tag, inside, _ in found]
    assert ("main", False) in tags
    assert ("header", False) in tags and ("header", True) not in tags  # banner
    assert ("nav", False) in tags  # the language switch, in the header
    assert (("footer", False) in tags) is footer and ("footer", True) not in tags


def test_the_sticker_has_a_heading_and_a_link(client):
    html = client.get(f"/vehicles/{VIN}/sticker", headers=BROWSER).text
    found = _landmarks(html).found
    assert [a.get("class") for tag, _, a in found if tag == "h1"] == ["vin"]
    assert re.search(rf"<h1 class=\"vin\">{VIN}</h1>", html)
    link = re.search(r'<a href="(http[^"]*)">([^<]*)</a>', html)
    assert link and link.group(1) == link.group(2) and link.group(1).endswith(f"/vehicles/{VIN}")


def test_the_retype_input_says_it_is_invalid_and_why(client):
    html = client.get("/vehicles/1HGCM82633A00435X", headers=BROWSER).text
    attrs = next(a for tag, _, a in _landmarks(html).found if a.get("id") == "vin")
    assert attrs.get("aria-invalid") == "true"
    ids = attrs.get("aria-describedby", "").split()
    assert ids == ["error-note", "error-todo"]
    for i in ids:
        assert f'id="{i}"' in html


def test_the_failed_headline_is_written_normally_with_plurals():
    for lang in MESSAGES:
        assert "failed" not in MESSAGES[lang]  # failed_one and failed_other
        assert Words(lang).count("failed", 1) != ""
    en = Words("en")
    assert en.count("failed", 1).startswith("Verification failed: 1 check failed.")
    assert en.count("failed", 2).startswith("Verification failed: 2 checks failed.")
    with open("api/static/verify.js", encoding="utf-8") as f:
        js = f.read()
    assert "VERIFICATION FAILED" not in js and "check(s)" not in js
    assert "failed_one:" in js and "w.failed_one" in js


# ---- the odometer chart -----------------------------------------------------------------------
def _readings(*kinds: str) -> list[dict]:
    return [
        {
            "occurred_at": f"2024-0{i + 1}-01T00:00:00Z",
            "km": 10_000 * (i + 1),
            "kind": kind,
            "signer": "s",
            "index": i + 1,
        }
        for i, kind in enumerate(kinds)
    ]


def test_the_chart_tells_reading_types_apart_by_shape_not_colour_alone():
    kinds = ("inspection", "maintenance", "sale", "insurance_claim", "odometer")
    svg = odometer_svg(_readings(*kinds), set(), Words("en"))
    chart, legend = svg.split("</svg>", 1)
    marks = re.findall(r'<(circle|path)\b([^>]*)class="reading"', chart)
    shapes = [
        tag if tag == "circle" else re.search(r'data-shape="(\w[\w-]*)"', a).group(1)
        for tag, a in marks
    ]
    assert len(shapes) == len(kinds) and len(set(shapes)) == len(kinds), shapes
    # The legend shows each reading type's shape, as the chart draws it.
    assert len(re.findall(r"<li><svg", legend)) == len(kinds)
    for shape in shapes[1:]:
        assert f'data-shape="{shape}"' in legend
    # Every mark and the line between them stand 3:1 against the white page.
    for colour in re.findall(r'fill="(#[0-9a-f]{6})"', chart + legend):
        assert contrast(colour, "#ffffff") >= 3, colour
    line = re.search(r'<polyline[^>]*stroke="(#[0-9a-f]{6})"', chart).group(1)
    assert contrast(line, "#ffffff") >= 3
    assert 'aria-label="Odometer' in chart  # the text summary stays
