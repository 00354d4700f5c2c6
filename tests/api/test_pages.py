"""The buyer's page, sticker, QR code and badge, as the server renders them."""

from __future__ import annotations

import hashlib
import re
from typing import get_args

import pytest
import vininfo.dicts

from api.drawings import NO_ALERTS_COLOUR, SEVERITY_COLOURS, badge_svg
from api.i18n import COUNTRIES, MESSAGES, Words, choose_language
from api.pages import last_trusted
from core import records
from core.roles import ROLES
from ledger.schema import EntryRow
from tests.conftest import VIN, VIN2, inspection, maintenance, onboard

FLOOD = {"accident": False, "flood": True, "fire": False, "structural": False, "airbag": False}


@pytest.fixture
def seeded(sqlite_ledger):
    """VIN: serviced, inspected (a rolled-back reading), sold with terms, one correction."""
    ledger = sqlite_ledger
    shop = onboard(ledger, "quicklane", "workshop")
    inspector = onboard(ledger, "acme", "inspector")
    registry = onboard(ledger, "dmv", "registry")
    dealer = onboard(ledger, "bay-auto", "dealer")
    pdf = b"%PDF-1.7 inspection report"
    att = {
        "sha256": hashlib.sha256(pdf).hexdigest(),
        "size": len(pdf),
        "media_type": "application/pdf",
        "name": "report.pdf",
    }
    outs = ledger.submit_now(
        [
            shop.envelope(maintenance(km=30_000, day=1)),
            inspector.envelope(
                inspection(
                    km=12_000,
                    day=9,
                    attachments=[att],
                    items=[
                        {"code": "door", "result": "minor", "note": "<script>alert(1)</script>"}
                    ],
                )
            ),
            dealer.envelope(
                {
                    "kind": "sale",
                    "vin": VIN,
                    "occurred_at": "2026-05-20T10:00:00Z",
                    "odometer_km": 12_010,
                    "dealer": "bay-auto",
                    "policies": [
                        {"id": "return-7d", "params": {"max_km": 500}},
                        {"id": "powertrain-30d"},
                    ],
                }
            ),
            registry.envelope(
                {
                    "kind": "title_brand",
                    "vin": VIN2,
                    "occurred_at": "2026-05-02T00:00:00Z",
                    "brand": "flood",
                    "jurisdiction": "US-TX",
                }
            ),
            inspector.envelope(inspection(vin=VIN2, flags=FLOOD, day=3)),
        ]
    )
    assert all(not isinstance(o, Exception) for o in outs), outs
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-10T09:00:00Z",
        "corrects": outs[1].index,
        "reason": "grade typed wrong",
        "fields": {"grade": "C"},  # a worse grade: no finding withdrawn
    }
    (corr,) = ledger.submit_now([inspector.envelope(fix)])
    assert not isinstance(corr, Exception), corr
    return {"outs": outs, "correction": corr, "pdf": pdf, "att": att, "shop": shop}


def entry_block(html: str, index: int) -> str:
    m = re.search(rf'<li id="entry-{index}".*?</li>', html, re.S)
    assert m, f"entry {index} is not on the page"
    return m.group(0)


def test_page_says_what_matters_and_links_every_claim_to_its_entry(client, seeded, sqlite_ledger):
    r = client.get(f"/vehicles/{VIN}", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.headers["content-language"] == "en"
    html = r.text
    service, inspected, sale = (o.index for o in seeded["outs"][:3])
    assert f'href="#entry-{sale}"' in html  # the terms point at the sale
    verdict = re.search(r'<section class="verdict problems".*?</section>', html, re.S).group(0)
    assert "Odometer went back from 30,000 km to 12,000 km" in verdict
    assert f'href="#entry-{service}"' in verdict and f'href="#entry-{inspected}"' in verdict
    assert "Honda" in html  # decoded from the VIN
    assert f'data-vkey="{sqlite_ledger.vkey}"' in html
    assert f'data-bundle-url="/vehicles/{VIN}/bundle"' in html
    assert '<script src="/static/verify.js?v=' in html
    # The chart marks the reading that went backwards, and only that one.
    assert re.findall(r'class="backwards" data-entry="(\d+)"', html) == [str(inspected)]
    # Terms as promised at sale: 7 days and 500 km from the sale's reading.
    assert "until 27 May 2026, 23:59 UTC, up to 12,510 km" in html
    assert "until 19 Jun 2026, 23:59 UTC" in html
    # The correction sits beside the entry it corrects.
    block = entry_block(html, inspected)
    assert f"Corrected by entry {seeded['correction'].index}" in block
    assert "grade typed wrong" in block
    # Partner text is escaped, never markup.
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in block
    # The attachment is named but not linked: this ledger holds no copy.
    assert "report.pdf" in block and "/attachments/" not in block


def test_chinese_page_from_the_header_and_the_switch(client, seeded):
    r = client.get(f"/vehicles/{VIN}", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    assert r.headers["content-language"] == "zh"
    assert '<html lang="zh-Hans">' in r.text
    assert "里程从 30,000 公里回退到 12,000 公里" in r.text
    assert "时间线" in r.text and "English" in r.text
    r = client.get(f"/vehicles/{VIN}?lang=en", headers={"Accept-Language": "zh-CN"})
    assert r.headers["content-language"] == "en" and "Timeline" in r.text


def test_brands_and_damage_in_words(client, seeded):
    html = client.get(f"/vehicles/{VIN2}").text
    assert "Title branded: flood" in html and "Flood damage reported" in html
    zh = client.get(f"/vehicles/{VIN2}?lang=zh").text
    assert "产权标记：水泡车" in zh


def test_a_clean_history_says_so(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=1_000 * d, day=d)) for d in (1, 2)])
    html = client.get(f"/vehicles/{VIN}").text
    assert '<section class="verdict clean"' in html and "No problems reported" in html
    assert 'class="backwards"' not in html


def test_unknown_vehicle_and_bad_vin(client, seeded):
    r = client.get(f"/vehicles/{VIN[:-1]}9")
    assert r.status_code in (404, 422)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/vehicles/NOTAVIN").status_code == 422


def test_sticker_badge_and_qr(client, seeded, sqlite_ledger, monkeypatch):
    monkeypatch.setattr("api.service.VERDICT_SECONDS", 0.0)  # as if minutes had passed
    sticker = client.get(f"/vehicles/{VIN}/sticker")
    assert sticker.status_code == 200 and VIN in sticker.text and "<svg" in sticker.text
    assert "Odometer went back" in sticker.text
    qr = client.get(f"/vehicles/{VIN}/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert f"/vehicles/{VIN}" in qr.text  # the link is its title
    badge = client.get(f"/vehicles/{VIN}/badge.svg")
    assert badge.headers["content-type"].startswith("image/svg+xml")
    assert "4 entries · odometer rollback" in badge.text
    assert "✓" not in badge.text  # the server drew it: nothing was verified by the reader
    # A changed stored entry turns the badge red: the server checks before it vouches.
    with sqlite_ledger.store.writer.begin() as s:
        row = s.get(EntryRow, seeded["outs"][0].index)
        row.data = row.data.replace(b'"quicklane"', b'"quicklanf"')
    assert "NOT VERIFIED" in client.get(f"/vehicles/{VIN}/badge.svg").text


def test_the_badge_checks_a_vehicle_once_until_its_next_entry(client, seeded, monkeypatch):
    """Anyone may ask for a badge: one check of the bundle serves them for minutes,
    and a new entry of the vehicle is checked at once."""
    import ledger.verify

    checks = []
    real = ledger.verify.verify_bundle
    monkeypatch.setattr(ledger.verify, "verify_bundle", lambda *a: checks.append(1) or real(*a))
    for _ in range(3):
        assert "4 entries" in client.get(f"/vehicles/{VIN}/badge.svg").text
    assert len(checks) == 1
    shop = seeded["shop"]
    assert client.post("/records", content=shop.envelope(maintenance(km=52_000, day=20))).is_success
    assert "5 entries" in client.get(f"/vehicles/{VIN}/badge.svg").text
    assert len(checks) == 2


def test_attachments_are_served_only_by_hash(client, seeded, sqlite_ledger):
    sha = seeded["att"]["sha256"]
    assert client.get(f"/attachments/{sha}").status_code == 404
    held = sqlite_ledger.attachment_path(sha)
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(seeded["pdf"])
    r = client.get(f"/attachments/{sha}")
    assert r.status_code == 200 and r.content == seeded["pdf"]
    assert f'href="/attachments/{sha}"' in client.get(f"/vehicles/{VIN}").text
    held.write_bytes(b"changed")
    assert client.get(f"/attachments/{sha}").status_code == 404
    r = client.get("/attachments/..%2f..%2fconfig.json")
    assert r.status_code in (400, 404) and "origin" not in r.text
    for bad in ("..%2e%2e%2e", sha.upper(), sha[:-1], "x" * 64):
        r = client.get(f"/attachments/{bad}")
        assert r.status_code == 400, bad
        assert r.headers["content-type"].startswith("application/problem+json")


def test_every_word_exists_in_every_language():
    assert MESSAGES["en"].keys() == MESSAGES["zh"].keys()
    for key, text in MESSAGES["en"].items():
        assert set(re.findall(r"{(\w+)}", text)) == set(
            re.findall(r"{(\w+)}", MESSAGES["zh"][key])
        ), key


@pytest.mark.parametrize(
    "query, header, expected",
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "en-US,en;q=0.9,zh;q=0.95", "en"),
        (None, "en;q=0.5, zh-TW;q=0.8", "zh"),
        (None, "fr-FR, de;q=0.5", "en"),
        (None, "zh;q=0, en", "en"),
        (None, "zh;q=abc", "en"),
        ("zh", "en", "zh"),
        ("zh-Hans", None, "zh"),
        ("xx", "zh", "zh"),
    ],
)
def test_language_choice(query, header, expected):
    assert choose_language(query, header) == expected


def test_sticker_does_not_hide_a_rollback(client, seeded):
    """The sticker shows the last reading that can be trusted, as the page does."""
    service = seeded["outs"][0].index
    for path in (f"/vehicles/{VIN}/sticker", f"/vehicles/{VIN}"):
        html = client.get(path).text
        trusted = re.search(r'<[a-z]+ id="last-trusted">.*?</(li|div)>', html, re.S).group(0)
        assert "Last trusted odometer reading" in trusted and "30,000 km" in trusted, path
        assert "Odometer went back from 30,000 km to 12,000 km" in html, path
        assert "not trusted, see the problems above" in html, path
    assert f'href="#entry-{service}"' in client.get(f"/vehicles/{VIN}").text
    zh = client.get(f"/vehicles/{VIN}/sticker?lang=zh").text
    assert re.search(r'id="last-trusted"><strong>最后可信的里程读数: 30,000 公里<', zh)


def test_no_trusted_reading_is_said_too():
    odometer = {
        "readings": [{"index": 7, "km": 90_000}],
        "last_trusted": None,  # e.g. an "odometer not actual" brand came before it
    }
    assert last_trusted(odometer, Words("en")) == {
        "km": "none: no reading can be trusted",
        "index": None,
    }
    odometer["last_trusted"] = {"index": 7, "km": 90_000}
    assert last_trusted(odometer, Words("en")) is None  # the last reading is the trusted one


ROLLBACK = {"type": "odometer_rollback", "severity": "high", "message": "went back"}
FLOOD_BRAND = {"type": "title_brand_flood", "severity": "high", "message": "flood brand"}
RECALL = {"type": "recall_open", "severity": "medium", "message": "open recall"}
GAP = {"type": "service_gap", "severity": "low", "message": "no service"}


def _fill(svg: str) -> str:
    return re.findall(r'<rect x="70" width="\d+" height="20" fill="(#[0-9a-f]{6})"', svg)[0]


def test_badge_colour_and_words_say_how_bad():
    clean, gap = badge_svg(True, 1, [], VIN), badge_svg(True, 6, [GAP], VIN)
    recall = badge_svg(True, 6, [GAP, RECALL], VIN)
    clocked = badge_svg(True, 6, [GAP, ROLLBACK], VIN)
    flooded = badge_svg(True, 8, [FLOOD_BRAND, RECALL], VIN)
    assert "1 entry · no alerts" in clean and _fill(clean) == NO_ALERTS_COLOUR
    assert _fill(gap) == SEVERITY_COLOURS["low"]
    assert _fill(recall) == SEVERITY_COLOURS["medium"]
    assert _fill(clocked) == _fill(flooded) == SEVERITY_COLOURS["high"]
    # Worst first, by name: a clocked car and a flooded one read differently.
    assert "6 entries · odometer rollback, service gap<" in clocked
    assert "8 entries · title brand flood, recall open<" in flooded
    for svg in (clean, gap, recall, clocked, flooded):
        assert "✓" not in svg and "verified" not in svg.lower()
    assert "NOT VERIFIED" in badge_svg(False, 6, [], VIN)
    many = [{**GAP, "type": f"kind_{i}"} for i in range(5)]
    assert "kind 0, kind 1, kind 2 +2<" in badge_svg(True, 5, many, VIN)


def test_html_says_its_charset_once(client, seeded):
    for path in (f"/vehicles/{VIN}", f"/vehicles/{VIN}/sticker"):
        assert client.get(path).headers["content-type"] == "text/html; charset=utf-8", path


def test_pages_name_their_icon_and_it_is_served(client, seeded):
    html = client.get(f"/vehicles/{VIN}").text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html).group(1)
    r = client.get(icon)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    r = client.get("/favicon.ico")  # the app serves it: no 404 in a browser's console
    assert r.status_code == 204 and r.content == b""


def test_counts_in_proper_singular_and_plural(client, seeded):
    html = client.get(f"/vehicles/{VIN}").text
    assert "1 problem reported" in html and "problem(s)" not in html
    assert "(4 entries)" in html
    html = client.get(f"/vehicles/{VIN2}").text
    assert "2 problems reported" in html and "(2 entries)" in html
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    assert "发现 1 个问题" in zh and "(4 条记录)" in zh
    en = Words("en")
    assert en.count("entries_count", 1) == "1 entry"
    assert en.count("entries_count", 0) == "0 entries"


def test_every_fixed_vocabulary_has_words_in_every_language():
    """Values the record schema fixes are shown in the reader's words, never raw."""
    vocabularies = {
        "result": get_args(records.CheckResult),
        "source": get_args(records.OdometerSource),
        "cause": get_args(records.ClaimCause),
        "brand": get_args(records.Brand),
        "severity": get_args(records.InsuranceClaim.__annotations__["severity"]),
        "status": get_args(records.Recall.__annotations__["status"]),
        "flag": records.DamageFlags.__struct_fields__,
        "role": ROLES,
        "kind": sorted(records.VEHICLE_KINDS),
    }
    for lang in MESSAGES:
        for vocabulary, values in vocabularies.items():
            for value in values:
                assert f"{vocabulary}_{value}" in MESSAGES[lang], (lang, vocabulary, value)
    assert set(vininfo.dicts.COUNTRIES.values()) <= COUNTRIES["zh"].keys()
    zh = Words("zh")
    assert zh.term("result", "major") == "严重问题" and zh.country("Japan") == "日本"
    assert zh.term("area", "left-fender") == "left-fender"  # free text stays as written
    assert Words("en").country("Japan") == "Japan"


def test_chinese_page_shows_no_raw_english_vocabulary(client, seeded, sqlite_ledger):
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    inspector = onboard(sqlite_ledger, "huacheng", "inspector")
    claim = {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-05-22T00:00:00Z",
        "claim_ref": "HM-1",
        "cause": "flood",
        "severity": "severe",
        "areas": ["interior", "engine"],
        "total_loss": True,
    }
    items = [{"code": "engine", "result": "major"}, {"code": "electrics", "result": "fail"}]
    outs = sqlite_ledger.submit_now(
        [
            insurer.envelope(claim),
            insurer.envelope({**claim, "claim_ref": "HM-2", "cause": "collision"}),
            inspector.envelope(inspection(day=23, km=12_500, items=items, flags=FLOOD)),
        ]
    )
    assert all(not isinstance(o, Exception) for o in outs), outs
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    flooded, crashed, inspected = (entry_block(zh, o.index) for o in outs)
    assert "<dd>水淹</dd>" in flooded and "<dd>严重</dd>" in flooded
    assert "<dd>车内、发动机</dd>" in flooded
    assert "engine: 严重问题; electrics: 不合格" in inspected
    assert "保险公司报告事故（严重）" in zh  # the accident alert
    assert "<dd>美国</dd>" in zh  # the country the VIN names
    assert "<dd>碰撞</dd>" in crashed
    # Plugin-written terms (a policy's exclusions) may stay as written; the rest may not.
    verdict = re.search(r'<section class="verdict.*?</section>', zh, re.S).group(0)
    facts = re.search(r'<dl class="facts">.*?</dl>', zh, re.S).group(0)
    for raw in ("severe", "major", "fail", "flood", "collision", "United States"):
        for part in (verdict, facts, flooded, crashed, inspected):
            assert not re.search(rf">[^<]*\b{raw}\b", part), (raw, part)


def test_the_odometer_chart_labels_the_highest_reading_as_it_is():
    """30,700 km was labelled 30,699 (a float divided back by 1.1, then truncated)."""
    from api.drawings import odometer_svg
    from api.i18n import Words

    readings = [
        {
            "occurred_at": f"2026-0{m}-01T00:00:00Z",
            "km": km,
            "kind": "odometer",
            "signer": "acme",
            "index": m,
        }
        for m, km in ((1, 30_000), (2, 30_700))
    ]
    labels = re.findall(
        r'font-size="11" fill="currentColor">([0-9,]+)</text>',
        odometer_svg(readings, set(), Words("en")),
    )
    assert labels == ["0", "15,350", "30,700"]


def test_a_corrected_reading_is_said_in_both_languages():
    from api.i18n import Words
    from api.pages import _shown
    from api.verdict import alert_text

    alert = {
        "type": "odometer_corrected",
        "facts": {"corrects": 11, "from_km": 3000, "to_km": None},
    }
    assert alert_text(alert, Words("en")) == (
        "The odometer reading of entry 11 was corrected: 3,000 km → removed"
    )
    assert "已删除" in alert_text(alert, Words("zh"))
    assert [_shown(v, Words("en")) for v in (None, True, 48_100, {"a": 1})] == [
        "removed",
        "yes",
        "48,100",
        '{"a": 1}',
    ]


def test_a_badge_for_a_vin_without_records_says_so_in_grey(client):
    r = client.get("/vehicles/1HGCM82640A777777/badge.svg")
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
    assert "no records" in r.text and "no alerts" not in r.text


def test_a_badge_for_a_vin_as_people_type_it_redirects(client, seeded):
    r = client.get(f"/vehicles/{VIN.lower()}/badge.svg", follow_redirects=False)
    assert r.status_code == 308 and r.headers["location"] == f"/vehicles/{VIN}/badge.svg"
