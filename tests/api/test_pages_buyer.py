"""What a buyer's acceptance test asked of the pages: a front door with a VIN form,
partners by name, one headline line per problem, guarantee ends as a moment in UTC,
a chart that reads on a phone, and a sticker that fits one."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest

from api.drawings import odometer_svg
from api.i18n import Words
from api.pages import page_model
from api.verdict import headline
from tests.api.test_browser import browser, demo  # noqa: F401 (its fixtures)
from tests.api.test_page_errors import BROWSER
from tests.api.test_pages import FLOOD, entry_block
from tests.conftest import VIN, inspection, maintenance, onboard

PHONE = 375  # the narrowest phone the acceptance test used


def submitted(ledger, *envelopes: bytes) -> list:
    outs = ledger.submit_now(list(envelopes))
    assert all(not isinstance(o, Exception) for o in outs), outs
    return outs


@pytest.fixture
def serviced(sqlite_ledger):
    """VIN serviced by a workshop whose records name it by its actor ID."""
    shop = onboard(sqlite_ledger, "quicklane-service", "workshop")
    record = {**maintenance(km=20_000), "shop": "quicklane-service"}
    submitted(sqlite_ledger, shop.envelope(record))
    return shop


# ---- 1. the front door --------------------------------------------------------------


def test_the_front_door_is_a_page_with_a_vin_form(client, serviced, sqlite_ledger):
    r = client.get("/", headers=BROWSER)
    assert r.status_code == 200 and r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-language"] == "en" and "Accept" in r.headers["vary"]
    form = re.search(r"<form[^>]*>.*?</form>", r.text, re.S).group(0)
    assert 'method="get"' in form and 'action="/vehicles"' in form and 'name="vin"' in form
    assert 'name="lang"' not in form  # the language came from the header: links stay neutral
    # What the ledger is, and how to check a history without trusting the site.
    assert "append-only log" in r.text
    assert f"--vkey '{sqlite_ledger.vkey}'" in r.text and "vinledger verify " in r.text
    zh = client.get("/", headers={**BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert zh.headers["content-language"] == "zh" and "查询车辆历史" in zh.text
    chosen = client.get("/?lang=zh", headers=BROWSER).text
    assert '<input type="hidden" name="lang" value="zh">' in chosen  # the form keeps it
    assert 'href="?lang=en"' in chosen  # the language switch


def test_other_clients_at_the_front_door_get_a_json_index(client):
    for accept in (None, "*/*", "application/json"):
        r = client.get("/", headers={"Accept": accept} if accept else {})
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", accept
        assert r.json()["vehicle_page"] == "/vehicles/{vin}"
        assert r.json()["verifier_key"] == "/log/vkey"


@pytest.mark.parametrize("typed", [VIN.lower(), f" {VIN[:3]}-{VIN[3:8]} {VIN[8:]} "])
def test_the_form_goes_to_the_vehicles_page_with_the_vin_in_normal_form(client, serviced, typed):
    r = client.get("/vehicles", params={"vin": typed}, headers=BROWSER, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/vehicles/{VIN}"
    r = client.get("/vehicles", params={"vin": typed, "lang": "zh"}, follow_redirects=False)
    assert r.headers["location"] == f"/vehicles/{VIN}?lang=zh"
    assert "时间线" in client.get("/vehicles", params={"vin": typed, "lang": "zh"}).text


def test_the_form_shows_an_invalid_vin_on_the_error_page(client, serviced):
    r = client.get("/vehicles", params={"vin": "<b>1HGCM8"}, headers=BROWSER)
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "&lt;b&gt;1HGCM8 is not a valid VIN" in r.text and "17 characters" in r.text
    assert 'href="/"' in r.text  # back to the front door
    # The language switch keeps the VIN the reader typed.
    assert 'href="?vin=%3Cb%3E1HGCM8&amp;lang=zh"' in r.text
    problem = client.get("/vehicles", params={"vin": "1HGCM8"})
    assert problem.status_code == 422
    assert problem.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    ("typed", "lang", "said"),
    [
        (
            "1HGCM8263OA004352",
            "en",
            "Character 10 is the letter O, which no VIN contains: it is probably 0.",
        ),
        ("1HGCM8263", "en", "It has 9 characters; a VIN has exactly 17."),
        (
            "1HGCM82643A004352",
            "en",
            "Its check digit (character 9) is 4, but the other characters give 3",
        ),
        ("1HGCM8263IA004352", "zh", "第 10 个字符是字母 I，VIN 中从不使用该字母：它很可能是 1。"),
        ("1HGCM82643A004352", "zh", "其校验位（第 9 个字符）是 4，但其他字符算出的应为 3"),
    ],
)
def test_a_mistyped_vin_is_told_what_is_wrong_in_the_pages_words(client, typed, lang, said):
    """The diagnosis is the page's main text, in its language, with the VIN ready to fix."""
    r = client.get("/vehicles", params={"vin": typed, "lang": lang}, headers=BROWSER)
    assert r.status_code == 422, r.text
    note = re.search(r'<p id="error-note">([^<]*)</p>', r.text)
    assert note and said in note.group(1), r.text
    assert f'<input id="vin" name="vin" value="{typed}"' in r.text
    assert f'<input type="hidden" name="lang" value="{lang}">' in r.text


def test_no_vin_is_the_front_door_not_a_404(client):
    for path in ("/vehicles", "/vehicles/", "/vehicles?vin=+"):
        r = client.get(path, headers=BROWSER, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/", path
    r = client.get("/vehicles?lang=zh", headers=BROWSER)
    assert r.status_code == 200 and "查询车辆历史" in r.text


def test_the_front_door_links_within_the_path_the_ledger_is_served_under(client):
    client.app.state.ledger.settings.public_url = "https://ledger.example/cars/"
    page = client.get("/", headers=BROWSER).text
    assert 'action="/cars/vehicles"' in page
    local = re.findall(r'(?:href|src|action)="(/[^"]*)"', page)
    assert local and all(u.startswith("/cars/") for u in local), local
    assert "vinledger verify https://ledger.example/cars/vehicles/" in page
    r = client.get("/vehicles", params={"vin": VIN.lower()}, follow_redirects=False)
    assert r.headers["location"] == f"/cars/vehicles/{VIN}"
    assert client.get("/").json()["history"] == "/cars/vehicles/{vin}/history"


# ---- 2. partners by name ------------------------------------------------------------


def test_a_record_naming_a_partner_by_its_id_shows_its_name(client, serviced, sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme-inspections", "inspector")
    dealer = onboard(sqlite_ledger, "bay-auto-sales", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-20T10:00:00Z",
        "odometer_km": 21_000,
        "dealer": "bay-auto-sales",
    }
    garage = {**maintenance(km=20_500, day=9), "shop": "Joe's Garage, Main St"}
    fixed, inspected, sold, free_text = submitted(
        sqlite_ledger,
        serviced.envelope(maintenance(km=20_100, day=5) | {"shop": "quicklane-service"}),
        inspector.envelope(inspection(km=20_900, day=10)),  # provider "acme-inspections"
        dealer.envelope(sale),
        serviced.envelope(garage),
    )
    html = client.get(f"/vehicles/{VIN}").text
    assert "<dt>Shop</dt><dd>Quicklane Service</dd>" in entry_block(html, fixed.index)
    assert "<dt>Provider</dt><dd>Acme Inspections</dd>" in entry_block(html, inspected.index)
    assert "<dt>Dealer</dt><dd>Bay Auto Sales</dd>" in entry_block(html, sold.index)
    assert "<dd>Joe&#39;s Garage, Main St</dd>" in entry_block(html, free_text.index)
    for raw in ("quicklane-service", "acme-inspections", "bay-auto-sales"):
        assert f"<dd>{raw}</dd>" not in html, raw


def test_a_partner_naming_another_partner_gets_no_name_from_the_ledger(
    client, serviced, sqlite_ledger
):
    """A workshop writing another workshop's ID as the shop shows that ID as written, not
    the other's name: no one passes an entry off as Bosch's."""
    rogue = onboard(sqlite_ledger, "rogue-garage", "workshop")
    (posed,) = submitted(
        sqlite_ledger,
        rogue.envelope(maintenance(km=20_300, day=7) | {"shop": "quicklane-service"}),
    )
    block = entry_block(client.get(f"/vehicles/{VIN}").text, posed.index)
    assert "<dt>Shop</dt><dd>quicklane-service</dd>" in block, block
    assert "Quicklane Service</dd>" not in block


# ---- 3. one headline line per problem -----------------------------------------------


def test_the_same_fact_reported_twice_is_one_problem_with_two_reports(client, sqlite_ledger):
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    claim = {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-05-02T00:00:00Z",
        "claim_ref": "HM-1",
        "cause": "flood",
        "severity": "severe",
    }
    claimed, inspected = submitted(
        sqlite_ledger,
        insurer.envelope(claim),
        inspector.envelope(inspection(flags=FLOOD, day=9)),
    )
    html = client.get(f"/vehicles/{VIN}").text
    verdict = re.search(r'<section class="verdict.*?</section>', html, re.S).group(0)
    assert "1 problem reported" in verdict
    assert verdict.count("Flood damage reported") == 1
    assert "Flood damage reported — 2 reports" in verdict
    for index in (claimed.index, inspected.index):
        assert f'href="#entry-{index}"' in verdict
        assert f'id="entry-{index}"' in html  # each report keeps its own entry
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "发现 1 个问题" in zh and "报告有水泡损伤（2 份报告）" in zh
    sticker = client.get(f"/vehicles/{VIN}/sticker").text
    assert "1 problem reported" in sticker and "Flood damage reported — 2 reports" in sticker


def _alert(kind: str, entries: list[int], severity: str = "high", **facts) -> dict:
    return {"type": kind, "severity": severity, "message": kind, "entries": entries, "facts": facts}


def test_two_collisions_are_two_problems():
    """A collision an insurer paid is an event: two are two problems, not one reported
    twice (unlike flood damage, a state of the car that later reports repeat)."""
    collision = {"type": "accident", "severity": "medium", "message": "accident"}
    facts = {"facts": {"severity": "moderate"}}
    lines = headline(
        [collision | facts | {"entries": [3]}, collision | facts | {"entries": [7]}],
        Words("en"),
    )
    assert [line["entries"] for line in lines] == [[3], [7]]


@pytest.mark.parametrize("cause", ["hail", "vandalism"])
def test_two_hail_or_vandalism_claims_are_two_problems(cause):
    """An insurer's claim is an event too, even when its alert type ends in _damage."""
    claim = {"type": f"{cause}_damage", "severity": "medium", "message": cause}
    facts = {"facts": {"flag": cause, "severity": "moderate"}}
    lines = headline(
        [claim | facts | {"entries": [3]}, claim | facts | {"entries": [9]}], Words("en")
    )
    assert [line["entries"] for line in lines] == [[3], [9]]


def test_alerts_that_relate_entries_stay_problems_of_their_own():
    en = Words("en")
    rollback = {"from_km": 30_000, "to_km": 12_000}
    lines = headline(
        [
            _alert("odometer_rollback", [1, 2], **rollback),
            _alert("odometer_rollback", [3, 4], **rollback),
            _alert("flood_damage", [9], flag="flood") | {"disputed": True},
            _alert("flood_damage", [5], "medium", flag="flood"),
            _alert("fire_damage", [6], flag="fire") | {"disputed": True},
        ],
        en,
    )
    assert [(line["reports"], line["entries"]) for line in lines] == [
        (1, [1, 2]),
        (1, [3, 4]),
        (2, [5, 9]),
        (1, [6]),
    ]
    flood, fire = lines[2], lines[3]
    # A fact an undisputed report stands behind is not disputed; the worst severity counts.
    assert flood["text"] == "Flood damage reported — 2 reports" and flood["severity"] == "high"
    assert fire["text"] == "Fire damage reported (disputed)"


# ---- 4. guarantees end at a moment in UTC, under their names --------------------------


def test_a_guarantee_ends_at_the_end_of_its_last_utc_day(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-11-23T22:30:00Z",
        "odometer_km": 12_010,
        "dealer": "bay-auto",
        "policies": [{"id": "return-7d", "params": {"max_km": 500}}],
    }
    (sold,) = submitted(sqlite_ledger, dealer.envelope(sale))
    html = client.get(f"/vehicles/{VIN}").text
    terms = re.search(r'<ul class="terms">.*?</ul>', html, re.S).group(0)
    assert "until 30 Nov 2026, 23:59 UTC, up to 12,510 km" in terms
    assert "<strong>7-day return</strong>" in terms  # a name, not the slug
    stated = sqlite_ledger.history(VIN)["entries"][-1]["derived"]["terms"][0]["summary"]
    assert f"<div>{stated}</div>" in terms  # the policy's own words, as stored
    assert "<dt>Guarantees</dt><dd>7-day return</dd>" in entry_block(html, sold.index)
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "至 2026年11月30日 23:59（UTC）" in zh and "7 天退车" in zh


def test_a_guarantee_is_in_force_through_its_last_day_in_utc(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sold_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": sold_at.isoformat().replace("+00:00", "Z"),
        "odometer_km": 100,
        "dealer": "bay-auto",
        "policies": [{"id": "return-7d"}],
    }
    submitted(sqlite_ledger, dealer.envelope(sale))
    history, en = sqlite_ledger.history(VIN), Words("en")
    last_day = sold_at.date() + timedelta(days=7)
    end = datetime.combine(last_day, time(23, 59, 59), UTC)
    assert page_model(history, en, as_of=end)["terms"][0]["active"]
    assert not page_model(history, en, as_of=end + timedelta(seconds=1))["terms"][0]["active"]
    sticker = client.get(f"/vehicles/{VIN}/sticker").text  # in force today: on the sticker
    assert f"7-day return until {en.date(last_day)}, 23:59 UTC" in sticker


# ---- 5. the odometer chart on a phone -----------------------------------------------


def _readings(*kms: int) -> list[dict]:
    return [
        {
            "occurred_at": f"2026-0{m}-01T00:00:00Z",
            "km": km,
            "kind": "inspection" if m % 2 else "maintenance",
            "signer": "acme",
            "index": m,
        }
        for m, km in enumerate(kms, start=1)
    ]


def test_the_chart_labels_read_at_eleven_pixels_on_a_phone():
    svg = odometer_svg(_readings(30_000, 120_000, 12_000), {3}, Words("en"))
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))
    sizes = {float(s) for s in re.findall(r'<text[^>]*font-size="([\d.]+)"', svg)}
    shown = PHONE - 32  # the page's padding
    assert sizes and min(sizes) * shown / width >= 11, (sizes, width)


def test_the_chart_legend_says_what_the_red_ring_means():
    en = Words("en")
    ringed = odometer_svg(_readings(30_000, 12_000), {2}, en)
    legend = re.search(r'<ul class="chart-legend">.*?</ul>', ringed, re.S).group(0)
    assert "Inspection" in legend and "Maintenance" in legend
    assert 'stroke="#cf222e"' in legend and "reading lower than an earlier one" in legend
    assert re.findall(r'class="backwards" data-entry="(\d+)"', ringed) == ["2"]
    plain = odometer_svg(_readings(10_000, 12_000), set(), en)
    assert "reading lower than an earlier one" not in plain  # no ring, no ring in the key
    assert "读数低于之前的读数" in odometer_svg(_readings(30_000, 12_000), {2}, Words("zh"))


# ---- 5 and 6 in a real browser at 375 px ------------------------------------------


@pytest.fixture
def phone(browser):  # noqa: F811 (the fixture imported above)
    context = browser.new_context(viewport={"width": PHONE, "height": 800})
    yield context.new_page()
    context.close()


def test_the_sticker_fits_a_phone(demo, phone):  # noqa: F811
    url, vin, _ = demo
    phone.goto(f"{url}/vehicles/{vin}/sticker?lang=en")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    link = phone.locator(".sticker .link")
    assert link.inner_text().replace("\n", "") == f"{url}/vehicles/{vin}"
    assert link.bounding_box()["x"] + link.bounding_box()["width"] <= PHONE


def test_the_chart_reads_on_a_phone(demo, phone):  # noqa: F811
    url, vin, _ = demo
    phone.goto(f"{url}/vehicles/{vin}?lang=en")
    pixels = phone.evaluate(
        """() => {
          const svg = document.querySelector('.odometer-chart');
          const size = Number(svg.querySelector('text').getAttribute('font-size'));
          return size * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
        }"""
    )
    assert pixels >= 11, pixels
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    legend = phone.inner_text(".chart-legend")
    assert "reading lower than an earlier one" in legend  # the demo's rolled-back car


def test_the_front_door_finds_a_vehicle_as_typed(demo, phone):  # noqa: F811
    url, vin, _ = demo
    phone.goto(f"{url}/?lang=zh")
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE
    phone.fill("#vin", f"{vin[:3].lower()} {vin[3:]}")
    phone.click("#lookup button")
    phone.wait_for_url(f"{url}/vehicles/{vin}?lang=zh")
    assert "时间线" in phone.inner_text("body")


# ---- 7. buyers who read differently: zoom, screen readers, forced colours -----------------


def test_at_double_zoom_nothing_is_cut_off_the_right_edge(demo, browser):  # noqa: F811
    """200% zoom on a 360 px phone is a 180 px wide page: every timeline value wraps
    instead of running off the edge (WCAG reflow), and the sticker's QR shrinks to fit."""
    url, vin, _ = demo
    context = browser.new_context(viewport={"width": 180, "height": 400}, device_scale_factor=2)
    pg = context.new_page()
    for path in (f"/vehicles/{vin}?lang=en", f"/vehicles/{vin}/sticker?lang=en"):
        pg.goto(url + path)
        width = pg.evaluate("document.documentElement.scrollWidth")
        assert width <= 180, (path, width)
    context.close()


def test_a_rolled_back_reading_says_so_in_words_and_in_the_charts_label(demo, browser):  # noqa: F811
    url, vin, _ = demo
    view = httpx.get(f"{url}/vehicles/{vin}/history").json()["view"]
    (rollback,) = [a for a in view["alerts"] if a["type"] == "odometer_rollback"]
    high, low = rollback["entries"]
    html = httpx.get(f"{url}/vehicles/{vin}?lang=en").text
    block = entry_block(html, low)
    said = f"This reading is lower than {rollback['facts']['from_km']:,} km recorded earlier"
    assert said in block and f"(entry {high})" in block, block
    label = re.search(r'class="odometer-chart"|aria-label="([^"]*)" class="odometer-chart"', html)
    assert label and "Odometer went back from" in label.group(1), label
    zh = httpx.get(f"{url}/vehicles/{vin}?lang=zh").text
    assert "此读数低于之前记录的" in entry_block(zh, low)
    # The chart's labels take the text colour, which forced-colour modes replace.
    assert 'font-size="11" fill="currentColor"' in html


def test_the_verdict_is_a_heading_of_a_named_region_and_languages_are_marked(demo, browser):  # noqa: F811
    url, vin, _ = demo
    context = browser.new_context()
    pg = context.new_page()
    pg.goto(f"{url}/vehicles/{vin}?lang=en")
    headings = pg.eval_on_selector_all("h1, h2", "hs => hs.map(h => h.textContent.trim())")
    assert headings[0] == vin and "problem" in headings[1], headings  # the verdict, first
    assert pg.get_attribute("#verdict", "aria-labelledby") == "verdict-title"
    # The verification result comes right after the verdict, before anything else.
    order = pg.eval_on_selector_all(
        "#verdict, #verification, dl.facts", "els => els.map(e => e.id || e.className)"
    )
    assert order == ["verdict", "verification", "facts"], order
    assert pg.get_attribute("nav.lang a[hreflang=zh]", "lang") == "zh-Hans"
    context.close()


def test_before_its_script_runs_the_page_says_not_verified_yet(demo, browser):  # noqa: F811
    url, vin, _ = demo
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    pg.goto(f"{url}/vehicles/{vin}?lang=en")
    assert pg.inner_text("#verification-headline") == "Not verified yet."
    context.close()


def test_a_shared_link_previews_the_verdict(demo):  # noqa: F811
    """Chat apps show a page's description: the verdict, not just the VIN."""
    url, vin, _ = demo
    html = httpx.get(f"{url}/vehicles/{vin}?lang=en", headers={"Accept": "text/html"}).text
    said = re.search(r'<meta property="og:description" content="([^"]*)">', html).group(1)
    assert said.startswith("1 problem reported: Odometer went back from"), said
    assert said.endswith("Open the page to verify it in your browser.")
    assert f'<meta name="description" content="{said}">' in html
    assert f'<meta property="og:title" content="Vehicle history {vin}">' in html


def test_a_slow_phone_gets_the_page_and_its_script_gzipped_and_keeps_the_script(demo):  # noqa: F811
    url, vin, _ = demo
    gzip = {"Accept": "text/html", "Accept-Encoding": "gzip"}
    page = httpx.get(f"{url}/vehicles/{vin}?lang=en", headers=gzip)
    assert page.headers["content-encoding"] == "gzip"
    assert int(page.headers["content-length"]) < len(page.content) / 2
    script = re.search(r'src="([^"]*/static/verify\.js\?v=[0-9a-f]{16})"', page.text).group(1)
    r = httpx.get(url + script, headers=gzip)
    assert r.headers["content-encoding"] == "gzip" and "immutable" in r.headers["cache-control"]
    # The bundle goes as it is: small, and served at a rate where gzip costs more than it saves.
    assert "content-encoding" not in httpx.get(f"{url}/vehicles/{vin}/bundle", headers=gzip).headers
