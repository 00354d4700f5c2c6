"""The verdict at the top of the buyer's page is bound to the bundle: once the bundle
verifies, the page checks that the verdict the server drew links every entry the
verified records say a buyer must be told of (a title brand, an inspection reporting
damage, an insurance claim, both readings of an odometer rollback). A server that
draws "no problems reported" over a flooded or rolled-back car fails in the buyer's
browser, at the top of the page."""

from __future__ import annotations

import re

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.demo import FLOODED, demo_stories
from core.history import analyse
from tests.api.test_browser import browser, demo, page, verification  # noqa: F401
from tests.api.test_page_binding import _failed_at_the_top

_CLEAN_VERDICT = (
    '<section class="verdict clean" id="verdict" aria-labelledby="verdict-title">'
    '<h2 id="verdict-title">No problems reported</h2></section>'
)
_VERDICT = re.compile(r'<section class="verdict[^"]*" id="verdict"[^>]*>.*?</section>', re.S)


def _redraw_verdict(url: str, vin: str, redraw):
    """A route serving the page with its verdict section passed through ``redraw``."""

    def route(r):
        html = r.fetch().text()
        (verdict,) = _VERDICT.findall(html)
        r.fulfill(status=200, content_type="text/html", body=html.replace(verdict, redraw(verdict)))

    return route


def _verdict_findings(page) -> list[dict]:  # noqa: F811
    return [
        f for f in page.evaluate("window.vinledger.lastReport.findings") if f["check"] == "verdict"
    ]


def test_a_clean_verdict_over_a_rolled_back_odometer_fails_naming_the_rollback(demo, page):  # noqa: F811
    url, vin, _ = demo  # the demo's featured car is the rolled-back one
    view = httpx.get(f"{url}/vehicles/{vin}/history").json()["view"]
    (rollback,) = [a for a in view["alerts"] if a["type"] == "odometer_rollback"]
    high, low = rollback["entries"]
    page.route(f"{url}/vehicles/{vin}?lang=en", _redraw_verdict(url, vin, lambda _: _CLEAN_VERDICT))
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = _failed_at_the_top(page)
    assert f"entry {low}: an odometer reading of {rollback['facts']['to_km']} km" in text, text
    assert f"after {rollback['facts']['from_km']} km at entry {high} (a rollback)" in text, text
    assert "which the verdict at the top of the page does not name" in text
    failed = [f["index"] for f in _verdict_findings(page) if not f["ok"]]
    assert low in failed


def test_a_verdict_that_drops_only_the_flood_brand_fails_naming_that_entry(demo, page):  # noqa: F811
    url, _, _ = demo
    vin = demo_stories()[FLOODED][0]
    view = httpx.get(f"{url}/vehicles/{vin}/history").json()["view"]
    (brand,) = [b["index"] for b in view["brands"] if b["brand"] == "flood"]

    def drop_brand_line(verdict: str) -> str:
        lines = re.findall(r"<li class=\"alert[^\"]*\">.*?</li>", verdict, re.S)
        (line,) = [li for li in lines if f'href="#entry-{brand}"' in li]
        return verdict.replace(line, "")

    page.route(f"{url}/vehicles/{vin}?lang=en", _redraw_verdict(url, vin, drop_brand_line))
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = _failed_at_the_top(page)
    assert f"entry {brand}: a title brand (flood)" in text, text
    # Only that entry: the flood damage the insurer and the inspector reported is still named.
    assert [f["index"] for f in _verdict_findings(page) if not f["ok"]] == [brand]


def test_every_demo_vehicle_verifies_with_the_verdict_its_server_drew(demo, page):  # noqa: F811
    url, _, _ = demo
    told = 0
    for vin, _ in demo_stories():
        page.goto(f"{url}/vehicles/{vin}?lang=en")
        assert verification(page) == "verified", (vin, page.inner_text("#verification"))
        (finding,) = _verdict_findings(page)
        assert finding["ok"], finding
        told += "all " in finding["detail"]
    assert told >= 2  # the rollback and the flood at least: the check had something to check


# ---- what the script requires is what the ledger's view alerts on ------------------------------

_TIMES = [
    "2024-03-01T10:00:00Z",
    "2024-03-01T10:00:00.000001Z",
    "2024-03-01T10:00:00.0000004Z",  # rounds down to the second
    "2024-03-01T10:00:00.0000006Z",  # rounds up to the first microsecond
    "2024-03-02T09:00:00Z",
    "2024-07-15T00:00:00Z",
    "2025-01-10T12:30:00.5Z",
]
_KMS = st.sampled_from([1_000, 1_040, 1_060, 5_000, 19_000, 19_960, 20_000])
_FLAGS = st.fixed_dictionaries(
    {f: st.booleans() for f in ("accident", "flood", "fire", "structural", "airbag")}
)


@st.composite
def _histories(draw) -> list[dict]:
    records: list[dict] = []
    for _ in range(draw(st.integers(1, 9))):
        kind = draw(
            st.sampled_from(
                ["odometer", "inspection", "title_brand", "insurance_claim", "maintenance"]
                + (["correction", "dispute"] if records else [])
            )
        )
        rec: dict = {
            "kind": kind,
            "vin": "1HGCM82633A004352",
            "occurred_at": draw(st.sampled_from(_TIMES)),
        }
        km = draw(_KMS) if kind == "odometer" else draw(st.none() | _KMS)
        if kind == "inspection":
            rec["flags"] = draw(_FLAGS)
        elif kind == "title_brand":
            rec["brand"] = draw(st.sampled_from(["flood", "salvage", "odometer_not_actual"]))
        elif kind == "insurance_claim":
            rec["cause"] = draw(st.sampled_from(["collision", "flood", "hail", "theft", "other"]))
            rec["severity"] = draw(st.sampled_from(["minor", "moderate", "severe"]))
        elif kind in ("correction", "dispute"):
            target = draw(st.integers(0, len(records) - 1)) + 10
            if kind == "correction":
                rec["corrects"] = target
                rec["reason"] = "typo"
                # Fields that change what the view concludes, and fields that do not
                # (a lying server could log one of those to hide a problem).
                rec["fields"] = draw(
                    st.sampled_from(
                        [
                            {"odometer_km": draw(_KMS)},
                            {"occurred_at": draw(st.sampled_from(_TIMES))},
                            {"flags": draw(_FLAGS)},
                            {"note": "reworded"},
                            {"claim_ref": "C-2"},
                            {"grade": "B"},
                            {"shop": "another"},
                        ]
                    )
                )
                km = None
            else:
                rec["disputes"] = target
                rec["reason"] = "not this car"
                rec["status"] = draw(st.sampled_from(["open", "resolved"]))
        if km is not None:
            rec["odometer_km"] = km
        records.append(rec)
    return records


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=_histories())
def test_the_script_requires_only_entries_the_ledgers_view_alerts_on(demo, page, records):  # noqa: F811
    """mustName is a necessary condition of core/history.py: whatever it requires of the
    verdict, the server's own view raised an alert naming it. Otherwise an honest page
    would fail in every buyer's browser."""
    url, vin, _ = demo
    if page.url == "about:blank":
        page.goto(f"{url}/vehicles/{vin}?lang=en")
        verification(page)
    items = [
        {
            "index": 10 + i,
            "kind": rec["kind"],
            "signer": {"id": "s", "name": "S", "role": "inspector"},
            "record": rec,
        }
        for i, rec in enumerate(records)
    ]
    alerted = {i for a in analyse(items)["alerts"] for i in a["entries"]}
    required = page.evaluate(
        "(recs) => window.vinledger.mustName(new Map(recs)).flatMap((m) => m.names)",
        [[10 + i, rec] for i, rec in enumerate(records)],
    )
    assert set(required) <= alerted, (required, alerted, records)
    # And all of it, unless a correction changed what the view reads (a reading, a time,
    # flags): a correction of any other field hides nothing.
    if not any(
        (
            rec["kind"] == "correction"
            and rec["fields"].keys() & {"odometer_km", "occurred_at", "flags"}
        )
        for rec in records
    ):
        told = {
            i
            for a in analyse(items)["alerts"]
            if a["type"] in _MUST_TELL or a["type"].startswith("title_brand_")
            for i in a["entries"]
        }
        assert set(required) == told, (required, told)


# The alerts of core/history.py and core/odometer.py that mustName mirrors.
_MUST_TELL = {
    "odometer_rollback",
    *(f"{flag}_damage" for flag in ("accident", "flood", "fire", "structural", "airbag")),
    *("accident", "hail_damage", "vandalism_damage", "theft", "other_claim"),
    *("total_loss", "airbag_deployed"),
}


def test_a_link_hidden_in_a_clean_verdict_does_not_pass(demo, page):  # noqa: F811
    """Links the reader cannot see, or a "no problems" verdict around them, do not count."""
    url, vin, _ = demo
    view = httpx.get(f"{url}/vehicles/{vin}/history").json()["view"]
    (rollback,) = [a for a in view["alerts"] if a["type"] == "odometer_rollback"]
    links = "".join(f'<a href="#entry-{i}"></a>' for i in rollback["entries"])
    tricks = [
        _CLEAN_VERDICT.replace("</section>", f'<ul><li class="alert">{links}</li></ul></section>'),
        _CLEAN_VERDICT.replace('class="verdict clean"', 'class="verdict problems"').replace(
            "</section>", f'<ul><li class="alert" hidden>{links}</li></ul></section>'
        ),
        _CLEAN_VERDICT
        + '<div id="verdict" hidden><ul><li class="alert">'
        + links
        + "</li></ul></div>",
    ]
    for trick in tricks:
        page.route(f"{url}/vehicles/{vin}?lang=en", _redraw_verdict(url, vin, lambda _, t=trick: t))
        page.goto(f"{url}/vehicles/{vin}?lang=en")
        assert verification(page) == "failed", trick
        assert page.is_visible("#unverified")
        assert [f for f in _verdict_findings(page) if not f["ok"]], trick
        page.unroute(f"{url}/vehicles/{vin}?lang=en")


def test_a_proof_that_does_not_download_is_not_a_failed_check(demo, page):  # noqa: F811
    """On a flaky connection the page says it could not check, greys the verdict as not
    verified (never struck out, never "do not trust"), and checks again on request."""
    url, vin, _ = demo
    bundle = f"{url}/vehicles/{vin}/bundle"
    page.route(bundle, lambda route: route.abort("connectionreset"))
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    page.wait_for_function("document.documentElement.dataset.verification === 'unchecked'")
    assert "Could not check this history" in page.inner_text("#verification-headline")
    assert "No check failed" in page.inner_text("#verification-headline")
    assert not page.is_visible("#unverified")  # no "do not trust" for a dropped download
    assert page.get_attribute("#verdict", "data-state") == "unverified"
    assert page.is_visible("#verdict .not-verified")
    style = page.eval_on_selector("#verdict h2", "e => getComputedStyle(e).textDecorationLine")
    assert style == "none"
    page.unroute(bundle)
    page.click("#verification button")
    assert verification(page) == "verified"
    assert page.get_attribute("#verdict", "data-state") is None
    assert not page.is_visible("#verdict .not-verified")


def test_a_browser_that_cannot_check_says_so_and_marks_the_verdict(demo, browser):  # noqa: F811
    url, vin, _ = demo
    context = browser.new_context()
    context.add_init_script(
        "crypto.subtle.importKey = () => Promise.reject(new Error('no Ed25519'));"
    )
    pg = context.new_page()
    pg.goto(f"{url}/vehicles/{vin}?lang=en")
    pg.wait_for_function("document.documentElement.dataset.verification === 'unsupported'")
    assert "Open this page in a current Chrome" in pg.inner_text("#verification-headline")
    assert pg.is_visible("#verdict .not-verified") and not pg.is_visible("#unverified")
    context.close()
