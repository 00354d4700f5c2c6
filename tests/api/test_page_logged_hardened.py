"""The buyer's page's "logged" check takes nothing it checks against from the page it
checks: the threshold after which an entry counts as logged late, and the words logging
is said in, are the script's own (api/pages.py LATE_LOGGING_DAYS and api/i18n, compared
here). It reads only what a reader can read (rendered text, in letters of some size and
colour, inside the document): a note, mark or logged date hidden by styling counts as
missing. And the notes at the top count and link the entries logged late and those signed
with a key revoked later. A page that lies in any of these ways fails; honest pages, in
English, Chinese and on a ledger in Europe/Berlin, verify."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.api.test_browser import browser, page, verification  # noqa: F401
from tests.api.test_pages_details import submitted
from tests.conftest import VIN, inspection, maintenance, make_ledger, onboard, start_server
from tests.plugins.test_time_zone import ledger_in

PORT = 18360
SCRIPT = Path(__file__).parents[2] / "api" / "static" / "verify.js"


def _at(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _history(ledger, now: datetime) -> dict[str, int]:
    """A VIN with a service dated 2021 and logged now (late), one late by the date a
    correction gives it, an odometer reading logged on time, an inspection whose key
    was revoked later, and one by the same inspector's new key (not revoked)."""
    shop = onboard(ledger, "quicklane", "workshop")
    acme = onboard(ledger, "acme", "inspector")
    back_dated, redated, reading = submitted(
        ledger,
        shop.envelope({**maintenance(km=15_000), "occurred_at": "2021-03-15T09:00:00Z"}),
        shop.envelope({**maintenance(km=40_000), "occurred_at": _at(now - timedelta(days=3))}),
        shop.envelope(
            {
                "kind": "odometer",
                "vin": VIN,
                "occurred_at": _at(now - timedelta(days=1)),
                "odometer_km": 44_000,
                "source": "workshop",
            }
        ),
    )
    (old_key,) = submitted(
        ledger,
        acme.envelope({**inspection(km=48_000), "occurred_at": _at(now - timedelta(days=1))}),
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
    acme2 = onboard(ledger, "acme", "inspector")  # the same actor, a new key
    (new_key,) = submitted(
        ledger,
        acme2.envelope({**inspection(km=48_100), "occurred_at": _at(now - timedelta(hours=2))}),
    )
    return {
        "back_dated": back_dated.index,
        "redated": redated.index,
        "reading": reading.index,
        "old_key": old_key.index,
        "new_key": new_key.index,
        "correction": correction.index,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("hardened") / "data"
    ledger = make_ledger(data, f"sqlite:///{data.parent / 'ledger.db'}")
    at = _history(ledger, datetime.now(UTC))
    ledger.close()
    proc, url = start_server(data, PORT)
    yield url, at
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def berlin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hardened-berlin")
    ledger = ledger_in(tmp, f"sqlite:///{tmp / 'ledger.db'}", "Europe/Berlin")
    at = _history(ledger, datetime.now(UTC))
    data = ledger.settings.data_dir
    ledger.close()
    proc, url = start_server(data, PORT + 1)
    yield url, at
    proc.terminate()
    proc.wait(10)


def _tamper(page, url, change, lang="en"):  # noqa: F811
    """The page as the server draws it, with ``change`` made to its HTML."""

    def serve(route):
        html = route.fetch().text()
        new = change(html)
        assert new != html, "the change did not apply"
        route.fulfill(status=200, content_type="text/html", body=new)

    page.route(f"{url}/vehicles/{VIN}?lang={lang}", serve)


def _block(html: str, index: int, change) -> str:
    start = html.index(f'<li id="entry-{index}"')
    end = html.index("</li>", start) + len("</li>")
    return html[:start] + change(html[start:end]) + html[end:]


def _opened(page, url, lang="en") -> tuple[str, list[str]]:  # noqa: F811
    page.goto(f"{url}/vehicles/{VIN}?lang={lang}")
    state = verification(page)
    report = page.evaluate("window.vinledger.lastReport")
    return state, [f["detail"] for f in report["findings"] if not f["ok"]]


def _failed_logged(page, url, lang="en") -> list[str]:  # noqa: F811
    state, failed = _opened(page, url, lang)
    assert state == "failed", "the lie verified"
    return failed


# ---- the script's own threshold and words ------------------------------------------------


def test_the_scripts_threshold_is_the_pages():
    from api.pages import LATE_LOGGING_DAYS

    (said,) = re.findall(r"^\s*const LATE_DAYS = (\d+);", SCRIPT.read_text(), flags=re.M)
    assert int(said) == LATE_LOGGING_DAYS


def test_the_scripts_logging_words_are_the_pages():
    from api.i18n import LANGUAGES, Words
    from api.pages import logged_words

    text = SCRIPT.read_text()
    block = text[
        text.index("const LOGGED_WORDS = {") : text.index(
            "\n  };", text.index("const LOGGED_WORDS")
        )
    ]
    carried = {
        m.group(1): json.loads(m.group(2))
        for m in re.finditer(r"^\s+(\w+): (\{.*\}),$", block, flags=re.M)
    }
    assert set(carried) == set(LANGUAGES)
    for lang, words in carried.items():
        t = Words(lang)
        assert {k: words[k] for k in logged_words(t)} == logged_words(t), lang
        for key in ("late_note", "revoked_note"):
            for n in ("one", "other"):
                assert words[f"{key}_{n}"] == t(f"{key}_{n}"), (lang, key, n)


# ---- honest pages verify ------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_honest_page_verifies(world, page, lang):  # noqa: F811
    url, at = world
    state, failed = _opened(page, url, lang)
    assert state == "verified", failed
    assert page.locator(f"#entry-{at['back_dated']} .late-note").count() == 1
    assert page.locator(f"#entry-{at['redated']} .late-note").count() == 1
    assert page.locator(f"#entry-{at['old_key']} .revoked-note").count() == 1
    assert page.locator(f"#entry-{at['new_key']} .revoked-note").count() == 0
    assert page.locator("#note-late a").count() == 2
    assert page.locator("#note-revoked a").count() == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_honest_page_verifies_at_the_readers_smallest_text_size(world, page, lang):  # noqa: F811
    """A reader's own default of 8 px puts the muted logged dates at 7.2 px: still read."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 8, "fixed": 8}})
    url, at = world
    state, failed = _opened(page, url, lang)
    assert state == "verified", failed
    small = page.eval_on_selector(
        f"#entry-{at['back_dated']} .logged", "e => parseFloat(getComputedStyle(e).fontSize)"
    )
    assert small < 8  # the case this is about


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_checked_words_are_not_for_a_translator(world, page, lang):  # noqa: F811
    """A browser's translator rewriting them would fail an honest page."""
    url, at = world
    page.goto(f"{url}/vehicles/{VIN}?lang={lang}")
    back, old = f"#entry-{at['back_dated']}", f"#entry-{at['old_key']}"
    every_word_kept = """e => {
        const walk = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
        let n, all = true;
        while ((n = walk.nextNode())) if (n.textContent.trim()) all &&= !n.parentElement.translate;
        return all;
    }"""
    for css in (f"{back} .logged", f"{back} .late-note", f"{old} .revoked-note", "#note-late"):
        assert page.eval_on_selector(css, every_word_kept), css


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_an_honest_page_of_a_berlin_ledger_verifies(berlin, page, lang):  # noqa: F811
    url, _ = berlin
    state, failed = _opened(page, url, lang)
    assert state == "verified", failed
    assert page.get_attribute("#timeline", "data-time-zone") == "Europe/Berlin"


# ---- lies about the threshold and the words ---------------------------------------------

NOTE = re.compile(r'<div class="late-note">.*?</div>')
NOTES = re.compile(r'<ul class="notes" id="notes">.*?</ul>', flags=re.S)


def _page_words(html: str, change) -> str:
    m = re.search(r"data-logged-words='([^']*)'", html)
    words = json.loads(m.group(1))
    change(words)
    return html.replace(m.group(0), "data-logged-words='" + json.dumps(words) + "'")


def test_a_raised_threshold_does_not_excuse_missing_late_notes(world, page):  # noqa: F811
    url, _ = world

    def change(html):
        html = html.replace('data-late-days="90"', 'data-late-days="100000"')
        return NOTES.sub("", NOTE.sub("", html))

    _tamper(page, url, change)
    failed = _failed_logged(page, url)
    assert any("100000" in f for f in failed), failed


def test_the_threshold_removed_and_late_notes_dropped_fails_naming_them(world, page):  # noqa: F811
    url, at = world

    def change(html):
        html = html.replace(' data-late-days="90"', "")
        return NOTES.sub("", NOTE.sub("", html))

    _tamper(page, url, change)
    failed = _failed_logged(page, url)
    assert any(
        f.startswith(f"entry {at['back_dated']} (maintenance): ") and "logged late" in f
        for f in failed
    ), failed


def test_the_pages_words_saying_on_time_fail(world, page):  # noqa: F811
    url, at = world
    lie = "Logged on time (checked)"

    def words(w):
        w["logged_late_other"] = w["logged_late_corrected_other"] = lie

    _tamper(
        page, url, lambda h: NOTE.sub(f'<div class="late-note">{lie}</div>', _page_words(h, words))
    )
    failed = _failed_logged(page, url)
    assert any(
        f.startswith(f"entry {at['back_dated']} (maintenance): ") and lie in f for f in failed
    ), failed


def test_a_back_dated_entry_drawn_as_logged_on_its_date_fails(world, page):  # noqa: F811
    """The words, the threshold, the logged dates, the notes all edited together: the
    back-dated service reads as logged the day it was done."""
    url, _ = world

    def change(html):
        html = _page_words(html, lambda w: w.update(logged_on="logged 15 Mar 2021"))
        html = html.replace('data-late-days="90"', 'data-late-days="99999"')
        html = re.sub(r"(<time [^>]*>)logged [^<]*</time>", r"\1logged 15 Mar 2021</time>", html)
        return NOTES.sub("", NOTE.sub("", html))

    _tamper(page, url, change)
    _failed_logged(page, url)


def test_words_of_another_language_must_hold_the_facts(world, page):  # noqa: F811
    """A page in a language the script carries no words for: its own words are read,
    and must hold the date, the days, twelve different months."""
    url, _ = world

    def change(html):
        html = html.replace('<html lang="en">', '<html lang="fr">', 1)

        def words(w):
            w["logged_on"] = "logged"
            w["months"] = "M " * 12

        html = _page_words(html, words)
        return re.sub(r"(<time [^>]*>)logged [^<]*</time>", r"\1logged</time>", html)

    _tamper(page, url, change)
    failed = _failed_logged(page, url)
    assert any("in what words" in f for f in failed), failed


# ---- lies a reader cannot see -------------------------------------------------------------

HIDES = {
    "hidden-child": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note"><span hidden>'
    ).replace("</div>", "</span></div>"),
    "font-size-0": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note" style="font-size:0">'
    ),
    "tiny-child": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note"><span style="font-size:2px">'
    ).replace("</div>", "</span></div>"),
    "transparent": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note" style="color:transparent">'
    ),
    "text-fill": lambda d: d.replace(
        '<div class="late-note">',
        '<div class="late-note" style="-webkit-text-fill-color:rgba(0,0,0,0)">',
    ),
    "offscreen": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note" style="position:absolute;left:-9999px">'
    ),
    "text-indent": lambda d: d.replace(
        '<div class="late-note">',
        '<div class="late-note" style="text-indent:-9999px;overflow:hidden">',
    ),
    "height-0": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note" style="height:0;overflow:hidden">'
    ),
    "parent-height-0": lambda d: '<div style="height:0;overflow:hidden">' + d + "</div>",
    "clip-path": lambda d: d.replace(
        '<div class="late-note">', '<div class="late-note" style="clip-path:inset(50%)">'
    ),
}


@pytest.mark.parametrize("how", list(HIDES))
def test_a_late_note_a_reader_cannot_see_fails(world, page, how):  # noqa: F811
    url, at = world
    _tamper(
        page,
        url,
        lambda h: _block(
            h, at["back_dated"], lambda b: NOTE.sub(lambda m: HIDES[how](m.group(0)), b)
        ),
    )
    failed = _failed_logged(page, url)
    assert any(f.startswith(f"entry {at['back_dated']} (maintenance): ") for f in failed), failed


def test_a_revoked_mark_whose_reason_is_hidden_fails(world, page):  # noqa: F811
    url, at = world
    hidden = '<span style="display:none">laptop stolen</span>'
    _tamper(
        page, url, lambda h: _block(h, at["old_key"], lambda b: b.replace("laptop stolen", hidden))
    )
    failed = _failed_logged(page, url)
    assert any(
        f.startswith(f"entry {at['old_key']} (inspection): its key was revoked") for f in failed
    ), failed


def test_a_revoked_mark_in_transparent_letters_fails(world, page):  # noqa: F811
    url, at = world
    _tamper(
        page,
        url,
        lambda h: _block(
            h,
            at["old_key"],
            lambda b: b.replace(
                'class="revoked-note"', 'class="revoked-note" style="color:rgba(0,0,0,0)"'
            ),
        ),
    )
    failed = _failed_logged(page, url)
    assert any(f.startswith(f"entry {at['old_key']} (inspection): ") for f in failed), failed


def test_a_hidden_logged_date_beside_a_false_one_fails(world, page):  # noqa: F811
    url, at = world
    _tamper(
        page,
        url,
        lambda h: _block(
            h,
            at["back_dated"],
            lambda b: b.replace("<time ", 'logged 15 Mar 2021<time style="font-size:0" ', 1),
        ),
    )
    failed = _failed_logged(page, url)
    assert any(f.startswith(f"entry {at['back_dated']} (maintenance): ") for f in failed), failed


def test_words_beside_the_logged_date_fail(world, page):  # noqa: F811
    url, at = world
    _tamper(
        page,
        url,
        lambda h: _block(
            h,
            at["back_dated"],
            lambda b: re.sub(r"(<time [^>]*>[^<]*</time>)", r"\1, on time", b, count=1),
        ),
    )
    failed = _failed_logged(page, url)
    assert any(
        f.startswith(f"entry {at['back_dated']} (maintenance): the page says ") for f in failed
    ), failed


# ---- the notes at the top -----------------------------------------------------------------


def test_the_late_note_at_the_top_dropped_fails(world, page):  # noqa: F811
    url, _ = world
    _tamper(page, url, lambda h: re.sub(r'<li id="note-late">.*?</li>', "", h, flags=re.S))
    failed = _failed_logged(page, url)
    assert any(
        "entries were logged late, but the notes at the top do not say so" in f for f in failed
    ), failed


def test_the_revoked_note_at_the_top_dropped_fails(world, page):  # noqa: F811
    url, _ = world
    _tamper(page, url, lambda h: re.sub(r'<li id="note-revoked">.*?</li>', "", h, flags=re.S))
    failed = _failed_logged(page, url)
    assert any("revoked later, but the notes at the top do not say so" in f for f in failed), failed


def test_the_late_note_at_the_top_miscounting_fails(world, page):  # noqa: F811
    url, _ = world

    def change(html):
        note = re.search(r'<li id="note-late">.*?</li>', html, flags=re.S).group(0)
        fewer = note.replace("2 entries were", "1 entry was", 1)
        fewer = re.sub(r', <a href="#entry-\d+">[^<]*</a>', "", fewer, count=1)
        return html.replace(note, fewer)

    _tamper(page, url, change)
    failed = _failed_logged(page, url)
    assert any(f.startswith("the note at the top of the entries logged late") for f in failed), (
        failed
    )


def test_the_late_note_at_the_top_linking_another_entry_fails(world, page):  # noqa: F811
    url, at = world

    def change(html):
        note = re.search(r'<li id="note-late">.*?</li>', html, flags=re.S).group(0)
        return html.replace(
            note, note.replace(f'href="#entry-{at["redated"]}"', f'href="#entry-{at["reading"]}"')
        )

    _tamper(page, url, change)
    failed = _failed_logged(page, url)
    assert any(
        f.startswith("the note at the top of the entries logged late links") for f in failed
    ), failed


NO_CHECK_VISIBILITY = "delete Element.prototype.checkVisibility;"


def test_without_check_visibility_an_honest_page_verifies(world, page):  # noqa: F811
    url, _ = world
    page.add_init_script(NO_CHECK_VISIBILITY)
    state, failed = _opened(page, url)
    assert state == "verified", failed


def test_without_check_visibility_a_late_note_not_displayed_fails(world, page):  # noqa: F811
    """A browser without checkVisibility: the computed styles say what is rendered."""
    url, at = world
    page.add_init_script(NO_CHECK_VISIBILITY)
    hide = 'class="late-note" style="display:none"'
    _tamper(
        page,
        url,
        lambda h: _block(h, at["back_dated"], lambda b: b.replace('class="late-note"', hide)),
    )
    failed = _failed_logged(page, url)
    assert any(f.startswith(f"entry {at['back_dated']} (maintenance): ") for f in failed), failed
