"""The guarantees and claim decisions on the Chinese page: said in Chinese from their
fields, with the ledger's English (what the log holds) beside them, marked lang="en"."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from api.i18n import Words
from api.pages import page_model
from plugins.builtin.policies import AFTER_SALE_DAMAGE, WEAR_ITEMS
from tests.api.test_dealer_flow import post, return_request, sale, warranty
from tests.api.test_pages import entry_block
from tests.conftest import VIN, onboard

LIMITED = [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "limited-90d"}]


@pytest.fixture
def decided(client, sqlite_ledger):
    """A sale with a return and a 90-day warranty; a return past its km cap, a warranty
    claim approved, one on a component it does not cover, a repeat of the approved one
    and a late return."""
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sold = post(client, dealer, sale(policies=LIMITED)).json()["index"]
    claims = [
        return_request(sold, day=4, km=48_400),
        warranty(sold, day=10, km=48_900, policy="limited-90d"),
        warranty(sold, day=11, km=48_950, component="turbocharger", policy="limited-90d"),
        warranty(sold, day=12, km=49_000, policy="limited-90d"),
        return_request(sold, day=9, km=48_960),
    ]
    indexes = []
    for claim in claims:
        r = post(client, dealer, claim)
        assert r.status_code == 201, r.text
        indexes.append(r.json()["index"] + 1)  # the ledger's decision, right after
    return sold, indexes


def _terms(html: str) -> str:
    return re.search(r'<ul class="terms">.*?</ul>', html, re.S).group(0)


def test_the_chinese_page_states_the_terms_in_chinese_and_keeps_the_english(client, decided):
    zh = _terms(client.get(f"/vehicles/{VIN}?lang=zh").text)
    history = client.get(f"/vehicles/{VIN}/history").json()
    stated = [t for e in history["entries"] for t in e.get("derived", {}).get("terms", [])]
    # Said in Chinese from the fields: the last day, the km limit, what the policy does.
    assert "2026年6月8日 23:59（UTC）前、里程读数不超过 48,300 公里，可将车辆退回经销商。" in zh
    assert "2026年8月30日 23:59（UTC）前、里程读数不超过 54,437 公里，下列部件的维修" in zh
    # What was signed is still there, word for word, marked as English.
    for term in stated:
        assert f'账本原文（英文）： <span lang="en">{term["summary"]}</span>' in zh
    # Built-in components and exclusions have Chinese names.
    assert "保障范围: 发动机、变速箱、驱动桥、制动系统" in zh
    assert "易损件（轮胎" in zh and "售车后因事故、水淹、火灾或使用不当造成的损坏" in zh
    assert WEAR_ITEMS not in zh and AFTER_SALE_DAMAGE not in zh
    ours = re.sub(r'<span lang="en">[^<]*</span>', "", zh)  # the page's words, not the ledger's
    assert not re.search(r">[^<]*\b(engine|transmission|Return the car|Repairs)\b", ours), ours


def test_the_english_page_keeps_the_policys_own_words(client, decided):
    en = _terms(client.get(f"/vehicles/{VIN}?lang=en").text)
    assert "<div>Return the car within 7 days and 300 km" in en
    assert "Covers: engine, transmission, drive-axle" in en
    assert f"Excludes: {WEAR_ITEMS}; {AFTER_SALE_DAMAGE}" in en
    assert 'lang="en"' not in en and "In the ledger's own words" not in en


def test_unknown_components_and_exclusions_stay_as_given_marked_english(client, decided):
    history = client.get(f"/vehicles/{VIN}/history").json()
    for e in history["entries"]:
        for term in e.get("derived", {}).get("terms", []):
            if term["policy"] == "limited-90d":
                term["components"] = [*term["components"], "turbocharger"]
                term["exclusions"] = [*term["exclusions"], "racing use"]
    terms = page_model(history, Words("zh"))["terms"]
    limited = next(p for p in terms if p["id"] == "limited-90d")
    assert limited["components"][0] == {"text": "发动机", "lang": None}
    assert limited["components"][-1] == {"text": "turbocharger", "lang": "en"}
    assert limited["exclusions"][-1] == {"text": "racing use", "lang": "en"}


def test_each_decision_is_said_in_chinese_with_the_ledgers_reason_beside_it(client, decided):
    _, (driven, approved, uncovered, repeat, late) = decided
    zh = client.get(f"/vehicles/{VIN}?lang=zh").text
    en = client.get(f"/vehicles/{VIN}?lang=en").text
    entries = {e["index"]: e for e in client.get(f"/vehicles/{VIN}/history").json()["entries"]}
    said = {
        driven: "里程读数 48,400 公里 超过“7 天退车”的上限 48,300 公里，不予批准。",
        approved: "于售车后第 9 天提出，售车后行驶 900 公里；"
        "在“90 天有限质保”保障范围内，予以批准。",
        uncovered: "“turbocharger”不在“90 天有限质保”的保障范围内，不予批准。",
        repeat: f"同一部件已于记录 {approved - 1} 获批，不再重复保障，不予批准。",
        late: "“7 天退车”已于 2026年6月8日 结束，不予批准。",
    }
    for index, words in said.items():
        block = entry_block(zh, index)
        assert f"<dt>理由</dt><dd>{words}" in block or words in block, block
        reason = escape(entries[index]["record"]["reason"])
        assert f'<dt>账本原文（英文）</dt><dd lang="en">{reason}</dd>' in block, block
        # The English page shows the reason as the ledger signed it, and only once.
        assert f"<dt>Reason</dt><dd>{reason}</dd>" in entry_block(en, index)
        assert "ledger's own words" not in entry_block(en, index)
    assert "<dt>部件</dt><dd>发动机</dd>" in entry_block(zh, approved - 1)  # the claim
