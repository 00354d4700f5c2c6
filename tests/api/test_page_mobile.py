"""The buyer's page on a phone, as the server renders it: what a mobile, slow-network and
accessibility walk-through found (the browser's side is in test_page_mobile_browser.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import segno

from tests.api.test_pages import seeded  # noqa: F401 (its fixture)
from tests.conftest import VIN, maintenance

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "lang, says",
    [("en", ["vinledger verify", "not from this page", "dishonest site"]), ("zh", ["而非本页"])],
)
def test_beside_its_result_the_page_says_how_to_check_without_trusting_the_site(
    client,
    seeded,  # noqa: F811
    lang,
    says,
):
    """The script comes from the same server as the page: it cannot vouch against it."""
    html = client.get(f"/vehicles/{VIN}?lang={lang}").text
    box = re.search(r'<section id="verification".*?</section>', html, re.S).group(0)
    note = re.search(r'<p class="muted" id="verify-independently">(.*?)</p>', box, re.S)
    assert note and all(s in note.group(1) for s in says), box
    assert "vinledger verify" in note.group(1)


def test_the_readme_does_not_promise_what_the_page_cannot_check():
    readme = (ROOT / "README.md").read_text()
    assert "a server cannot draw" not in readme
    assert "does not protect against a dishonest server" in readme


def test_body_text_is_the_readers_own_size(client, seeded):  # noqa: F811
    html = client.get(f"/vehicles/{VIN}").text
    body = re.search(r"\bbody \{ font: ([^/]+)/", html).group(1)
    assert body == "100%", body  # not px: a reader's larger text setting applies


@pytest.mark.parametrize("lang, says", [("en", "could not check itself"), ("zh", "无法自行验证")])
def test_without_javascript_the_verdict_is_greyed_and_marked_not_verified(
    client,
    seeded,  # noqa: F811
    lang,
    says,
):
    html = client.get(f"/vehicles/{VIN}?lang={lang}").text
    head = html[: html.index("</head>")]
    style = re.search(r"<noscript><style>(.*?)</style></noscript>", head, re.S)
    assert style, "no style for a browser without JavaScript"
    assert "#verdict .not-verified { display: inline; }" in style.group(1)
    assert "#verdict { border-color: var(--line); background: var(--bg-soft); }" in style.group(1)
    noscript = re.search(r"<noscript><div>(.*?)</div></noscript>", html).group(1)
    assert says in noscript and "vinledger verify" in noscript


def _background_and_quiet_zone(svg: str, link: str) -> None:
    """A white square the size of the symbol and 4 modules around it; the first dark
    module 4 modules in."""
    size = segno.make(link, error="m").symbol_size(scale=1, border=4)[0]
    assert f'<path fill="#fff" d="M0 0h{size}v{size}h-{size}z"/>' in svg, svg[:300]
    dark = re.search(r'<path class="qrline" stroke="#000" d="M(\d+) (\d+)\.5', svg)
    assert dark and dark.groups() == ("4", "4"), svg[:300]


def test_qr_codes_are_drawn_on_white_with_a_four_module_quiet_zone(client, seeded):  # noqa: F811
    link = f"http://testserver/vehicles/{VIN}"
    qr = client.get(f"/vehicles/{VIN}/qr.svg").text
    _background_and_quiet_zone(qr, link)
    sticker = client.get(f"/vehicles/{VIN}/sticker").text
    svg = re.search(r"<svg.*?</svg>", sticker, re.S).group(0)
    _background_and_quiet_zone(svg, link)


def test_the_bundle_is_revalidated_by_its_etag(client, seeded):  # noqa: F811
    """A page opened again downloads the bundle again only when it changed."""
    first = client.get(f"/vehicles/{VIN}/bundle")
    tag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag) and first.headers["cache-control"] == "no-cache"
    for given in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = client.get(f"/vehicles/{VIN}/bundle", headers={"If-None-Match": given})
        assert again.status_code == 304 and again.content == b"", given
        assert again.headers["etag"] == tag
    other = client.get(f"/vehicles/{VIN}/bundle", headers={"If-None-Match": '"other"'})
    assert other.status_code == 200 and other.content == first.content
    # A new entry anywhere in the log changes the checkpoint, so the bundle and its tag.
    assert client.post("/records", content=seeded["shop"].envelope(maintenance(day=20))).is_success
    after = client.get(f"/vehicles/{VIN}/bundle", headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    # Still not gzipped (bench/bundle.py: gzip costs more CPU than the route's budget).
    gz = client.get(f"/vehicles/{VIN}/bundle", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in gz.headers


def test_the_page_preloads_the_bundle_its_script_fetches(client, seeded):  # noqa: F811
    html = client.get(f"/vehicles/{VIN}").text
    link = f'<link rel="preload" as="fetch" crossorigin href="/vehicles/{VIN}/bundle">'
    assert link in html and f'data-bundle-url="/vehicles/{VIN}/bundle"' in html


def test_print_shows_a_failed_checks_reasons_and_no_empty_downloads_heading(client, seeded):  # noqa: F811
    html = client.get(f"/vehicles/{VIN}").text
    printed = html[html.index("@media print") :]
    printed = printed[: printed.index("\n  }\n")]
    assert re.search(r"\.links-title[^{]*\{ display: none; \}", printed), printed
    assert 'html[data-verification="failed"] #verification-details { display: block; }' in printed
    assert '<h2 class="links-title">' in html


def test_chinese_in_a_partners_words_is_marked_on_an_english_page():
    from api.i18n import mark_chinese

    assert str(mark_chinese("signed by 华诚检测 (inspector)", "en")) == (
        'signed by <span lang="zh">华诚检测</span> (inspector)'
    )
    assert str(mark_chinese("华诚 检测 2 号", "en")) == '<span lang="zh">华诚 检测 2 号</span>'
    assert str(mark_chinese("华诚检测 <b>", "zh")) == "华诚检测 &lt;b&gt;"  # the page's own
    marked = '&lt;i&gt;x&lt;/i&gt; <span lang="zh">华</span>'
    assert str(mark_chinese("<i>x</i> 华", "en")) == marked
    assert str(mark_chinese("トヨタ東京", "en")) == "トヨタ東京"  # maybe Japanese: left as is
    assert str(mark_chinese("Acme Inspections", "en")) == "Acme Inspections"


def test_a_chinese_partner_name_is_marked_chinese_on_the_english_page(client, sqlite_ledger):
    from core.keys import generate_private_key
    from tests.conftest import Partner

    partner = Partner("huacheng", "workshop", generate_private_key())
    sqlite_ledger.add_actor("huacheng", "华诚检测", "workshop", partner.public_pem)
    assert client.post("/records", content=partner.envelope(maintenance())).is_success
    en = client.get(f"/vehicles/{VIN}?lang=en").text
    assert 'signed by <span lang="zh">华诚检测</span> (workshop)' in en
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "签名方：华诚检测（维修厂）" in zh and '<span lang="zh">' not in zh


@pytest.mark.parametrize(
    "lang, says",
    [
        ("en", r"History as of \d+ \w{3} \d{4}, \d\d:\d\d UTC: 4 entries, log checkpoint (\d+)\."),
        ("zh", r"截至 \d{4}年\d+月\d+日 \d\d:\d\d（UTC）的历史记录：4 条记录，日志检查点 (\d+)。"),
    ],
)
def test_a_printed_sticker_says_when_it_was_true(client, seeded, lang, says):  # noqa: F811
    html = client.get(f"/vehicles/{VIN}/sticker?lang={lang}").text
    said = re.search(says, html)
    assert said, re.search(r'<p class="as-of".*?</p>', html, re.S)
    size = int(client.get("/log/checkpoint").text.split("\n")[1])
    assert int(said.group(1)) == size
    current = {"en": "The QR code opens the current history", "zh": "扫描二维码可查看最新的历史"}
    assert current[lang] in html


def test_a_browsers_page_translation_leaves_the_checked_headline_alone(client, seeded):  # noqa: F811
    """verify.js compares the verdict's headline with the page's words: a translated
    headline (Chrome translating an English page for a Spanish reader) would fail a
    genuine page, so the headline is marked not to be translated."""
    for lang in ("en", "zh"):
        html = client.get(f"/vehicles/{VIN}?lang={lang}").text
        assert re.search(r'<h2 id="verdict-title" translate="no">', html), lang
