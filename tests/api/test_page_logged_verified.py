"""The buyer's page checks what it shows of each entry's logging against the bundle it
verified: when the ledger logged it, the note on an entry logged long after its date in
force (a back-dated history), the mark on an entry signed with a key revoked later. A
page that hides, moves or invents one fails, naming the entry."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from tests.api.test_browser import browser, page, verification  # noqa: F401
from tests.api.test_pages_details import submitted
from tests.conftest import VIN, inspection, maintenance, make_ledger, onboard, start_server


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    """A served ledger whose VIN has: a service dated 2021 and logged today (late), a
    service logged the day after it happened and then corrected to a 2022 date (late
    by the correction), an odometer reading logged on time, and an inspection whose
    key was revoked after it signed. (base url, {name: index})."""
    data = tmp_path_factory.mktemp("logged") / "data"
    ledger = make_ledger(data, f"sqlite:///{data.parent / 'ledger.db'}")
    now = datetime.now(UTC)
    shop = onboard(ledger, "quicklane", "workshop")
    acme = onboard(ledger, "acme", "inspector")
    yesterday = _at(now - timedelta(days=1))
    back_dated, redated, reading = submitted(
        ledger,
        shop.envelope({**maintenance(km=15_000), "occurred_at": "2021-03-15T09:00:00Z"}),
        shop.envelope({**maintenance(km=40_000), "occurred_at": _at(now - timedelta(days=2))}),
        shop.envelope(
            {
                "kind": "odometer",
                "vin": VIN,
                "occurred_at": yesterday,
                "odometer_km": 44_000,
                "source": "workshop",
            }
        ),
    )
    (inspected,) = submitted(
        ledger, acme.envelope({**inspection(km=48_000), "occurred_at": yesterday})
    )
    (correction,) = submitted(
        ledger,
        shop.envelope(
            {
                "kind": "correction",
                "vin": VIN,
                "occurred_at": _at(now - timedelta(hours=1)),
                "corrects": redated.index,
                "fields": {"occurred_at": "2022-01-10T10:00:00Z"},
                "reason": "the work order's date was typed wrong",
            }
        ),
    )
    ledger.revoke_key(acme.keyid, "laptop stolen")
    ledger.close()
    proc, url = start_server(data)
    yield (
        url,
        {
            "back_dated": back_dated.index,
            "redated": redated.index,
            "reading": reading.index,
            "inspected": inspected.index,
            "correction": correction.index,
        },
    )
    proc.terminate()
    proc.wait(10)


def _entry(html: str, index: int) -> tuple[int, int]:
    start = html.index(f'<li id="entry-{index}"')
    return start, html.index("</li>", start) + len("</li>")


def _drawn(page, url: str, index: int, change) -> None:  # noqa: F811
    """The page as the server draws it, with ``change`` made to entry ``index``'s block."""

    def serve(route):
        html = route.fetch().text()
        start, end = _entry(html, index)
        block = change(html[start:end])
        assert block != html[start:end], "the change did not apply"
        route.fulfill(status=200, content_type="text/html", body=html[:start] + block + html[end:])

    page.route(f"{url}/vehicles/{VIN}?lang=en", serve)


def _failures(page) -> list[str]:  # noqa: F811
    assert verification(page) == "failed", page.inner_text("#verification")
    report = page.evaluate("window.vinledger.lastReport")
    return [f["detail"] for f in report["findings"] if not f["ok"]]


def test_a_faithful_page_verifies_with_its_notes_and_marks(logged, page):  # noqa: F811
    url, at = logged
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    assert verification(page) == "verified", page.inner_text("#verification")
    report = page.evaluate("window.vinledger.lastReport")
    (said,) = [f["detail"] for f in report["findings"] if f["check"] == "logged"]
    assert "2 late-logging notes and 1 revoked-key mark, as the bundle proves" in said, said
    # What it checked is what a buyer reads.
    late = page.inner_text(f"#entry-{at['redated']} .late-note")
    assert f"after the date correction {at['correction']} gives it" in late
    assert "laptop stolen" in page.inner_text(f"#entry-{at['inspected']} .revoked-note")
    assert page.locator(f"#entry-{at['reading']} .late-note").count() == 0


def test_a_back_dated_entry_without_its_late_note_fails_naming_it(logged, page):  # noqa: F811
    url, at = logged
    _drawn(
        page, url, at["back_dated"], lambda b: re.sub(r'<div class="late-note">.*?</div>', "", b)
    )
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    failed = _failures(page)
    assert any(
        f.startswith(f"entry {at['back_dated']} (maintenance): it was logged ")
        and "but the page does not say it was logged late" in f
        for f in failed
    ), failed
    assert f"entry {at['back_dated']}" in page.inner_text("#verification")


def test_an_entry_late_by_its_correction_without_the_note_fails(logged, page):  # noqa: F811
    url, at = logged
    _drawn(page, url, at["redated"], lambda b: re.sub(r'<div class="late-note">.*?</div>', "", b))
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    failed = _failures(page)
    assert any(
        f.startswith(f"entry {at['redated']} (maintenance): ")
        and f"after the date correction {at['correction']} gives it" in f
        for f in failed
    ), failed


def test_a_late_note_on_an_entry_logged_on_time_fails(logged, page):  # noqa: F811
    url, at = logged
    note = '<div class="late-note">Logged 400 days after the date it gives</div>'
    _drawn(
        page,
        url,
        at["reading"],
        lambda b: b.replace('<div class="muted">', note + '<div class="muted">', 1),
    )
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    failed = _failures(page)
    assert any(
        f.startswith(f"entry {at['reading']} (odometer): the page says it was logged late")
        for f in failed
    ), failed


def _moved(block: str) -> str:
    """The logged time a year earlier, in the attribute and in the words alike."""
    m = re.search(r'<time datetime="(\d{4})([^"]*)">logged (\d+ \w+) (\d{4})</time>', block)
    year = int(m.group(1)) - 1
    return block.replace(
        m.group(0), f'<time datetime="{year}{m.group(2)}">logged {m.group(3)} {year}</time>'
    )


def _words_only(block: str) -> str:
    """The logged time's attribute left right, the words a reader sees a year earlier."""
    return re.sub(
        r"(<time [^>]*>logged \d+ \w+ )(\d{4})</time>",
        lambda m: f"{m.group(1)}{int(m.group(2)) - 1}</time>",
        block,
    )


@pytest.mark.parametrize("change", [_moved, _words_only], ids=["attribute-and-words", "words"])
def test_a_changed_logged_date_fails_naming_the_entry(logged, page, change):  # noqa: F811
    url, at = logged
    _drawn(page, url, at["reading"], change)
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    failed = _failures(page)
    assert any(
        f.startswith(f"entry {at['reading']} (odometer): the page says ")
        and "but the bundle says" in f
        for f in failed
    ), failed


def test_an_entry_without_its_revoked_key_mark_fails_naming_it(logged, page):  # noqa: F811
    url, at = logged
    _drawn(
        page, url, at["inspected"], lambda b: re.sub(r'<div class="revoked-note">.*?</div>', "", b)
    )
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    failed = _failures(page)
    assert any(
        f.startswith(f"entry {at['inspected']} (inspection): it is signed with a key entry ")
        and "revoked later, but the page does not say so" in f
        for f in failed
    ), failed


def test_the_threshold_and_words_are_handed_to_the_script(logged, page):  # noqa: F811
    """The page hands the script its one threshold (api/pages.py LATE_LOGGING_DAYS) and
    the words it says logging in, in the page's language."""
    from api.i18n import Words
    from api.pages import LATE_LOGGING_DAYS

    url, _ = logged
    page.goto(f"{url}/vehicles/{VIN}?lang=zh")
    assert verification(page) == "verified", page.inner_text("#verification")
    assert page.get_attribute("#timeline", "data-late-days") == str(LATE_LOGGING_DAYS)
    words = json.loads(page.get_attribute("#timeline", "data-logged-words"))
    assert words["logged_on"] == Words("zh")("logged_on") and "{date}" in words["logged_on"]
