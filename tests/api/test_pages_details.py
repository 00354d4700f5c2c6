"""What an insurer's and a registry's acceptance test asked of the buyer's page: every
claim's cause in the verdict, what a dispute, a complaint and a recall say, the worst
problem first, and corrections in the reader's words, in English and Chinese."""

from __future__ import annotations

import json
import re

import pytest

from api.i18n import MESSAGES, Words
from api.verdict import alert_text, headline
from tests.api.test_pages import entry_block
from tests.conftest import VIN, inspection, maintenance, onboard


def submitted(ledger, *envelopes: bytes) -> list:
    outs = ledger.submit_now(list(envelopes))
    assert all(not isinstance(o, Exception) for o in outs), outs
    return outs


def operator(ledger, record: dict):
    return ledger.operator_submit(json.dumps(record).encode())


def claim(**fields) -> dict:
    return {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-04-01T00:00:00Z",
        "claim_ref": "HM-1",
        "severity": "moderate",
        **fields,
    }


def page(client, lang: str = "en") -> str:
    return client.get(f"/vehicles/{VIN}?lang={lang}").text


def verdict(html: str) -> str:
    return re.search(r'<section class="verdict.*?</section>', html, re.S).group(0)


# ---- every cause of a claim reaches the verdict --------------------------------------


@pytest.mark.parametrize(
    "cause, severity, en, zh",
    [
        (
            "hail",
            "severe",
            "Hail damage reported by an insurer (severe)",
            "保险公司报告冰雹损伤（严重）",
        ),
        (
            "vandalism",
            "minor",
            "Vandalism damage reported by an insurer (minor)",
            "保险公司报告人为破坏损伤（轻微）",
        ),
        (
            "theft",
            "moderate",
            "Stolen and recovered, reported by an insurer (moderate)",
            "保险公司报告车辆被盗后找回（中等）",
        ),
        (
            "other",
            "severe",
            "Insurance claim for another cause (severe)",
            "保险公司报告其他原因的理赔（严重）",
        ),
    ],
)
def test_every_cause_of_a_claim_is_a_problem_in_both_languages(
    client, sqlite_ledger, cause, severity, en, zh
):
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    (out,) = submitted(sqlite_ledger, insurer.envelope(claim(cause=cause, severity=severity)))
    english = verdict(page(client))
    assert 'class="verdict problems"' in english and "No problems reported" not in english
    assert en in english and f'href="#entry-{out.index}"' in english
    assert zh in verdict(page(client, "zh"))
    badge = client.get(f"/vehicles/{VIN}/badge.svg").text
    assert "no problems" not in badge.lower()


def test_the_new_alerts_have_words_in_every_language():
    alerts = [
        {"type": "hail_damage", "facts": {"flag": "hail", "severity": "minor"}},
        {"type": "vandalism_damage", "facts": {"flag": "vandalism", "severity": "severe"}},
        {"type": "theft", "facts": {"severity": "minor"}},
        {"type": "other_claim", "facts": {"severity": "moderate"}},
    ]
    for lang in MESSAGES:
        for a in alerts:
            text = alert_text(a, Words(lang))
            assert "alert_" not in text and "{" not in text, (lang, text)
            if lang == "zh":
                assert not re.search(r"[a-z]{3,}", text), text


# ---- what a dispute, a complaint and a recall say ------------------------------------


def test_a_dispute_says_why_whether_open_and_links_what_it_disputes(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    (serviced,) = submitted(sqlite_ledger, shop.envelope(maintenance(km=30_000)))
    record = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-03-05T09:00:00Z",
        "disputes": serviced.index,
        "reason": "owner shows a dashboard photo of 31,200 km",
    }
    disputed = operator(sqlite_ledger, record)
    block = entry_block(page(client), disputed.index)
    assert "<dd>owner shows a dashboard photo of 31,200 km</dd>" in block
    assert "<dt>Status</dt><dd>open</dd>" in block
    link = f'<a href="#entry-{serviced.index}">disputes entry {serviced.index}</a>'
    assert link in block
    zh = entry_block(page(client, "zh"), disputed.index)
    assert "<dt>理由</dt>" in zh and "<dt>状态</dt><dd>未解决</dd>" in zh
    assert f'<a href="#entry-{serviced.index}">对记录 {serviced.index} 提出争议</a>' in zh

    resolved = operator(
        sqlite_ledger, {**record, "occurred_at": "2026-03-06T09:00:00Z", "status": "resolved"}
    )
    block = entry_block(page(client), resolved.index)
    assert "<dt>Status</dt><dd>resolved</dd>" in block
    assert f"resolves the dispute of entry {serviced.index}</a>" in block
    assert "<dd>已解决</dd>" in entry_block(page(client, "zh"), resolved.index)


def test_a_complaint_names_the_dealer_what_happened_and_the_sale(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-01T10:00:00Z",
        "odometer_km": 40_000,
        "dealer": "bay-auto",
    }
    (sold,) = submitted(sqlite_ledger, dealer.envelope(sale))
    complaint = operator(
        sqlite_ledger,
        {
            "kind": "complaint",
            "vin": VIN,
            "occurred_at": "2026-05-20T09:00:00Z",
            "dealer": "bay-auto",
            "sale": sold.index,
            "summary": "refused to file a return the buyer asked for on day 3",
        },
    )
    block = entry_block(page(client), complaint.index)
    assert "<dt>Dealer</dt><dd>Bay Auto</dd>" in block
    assert "<dd>refused to file a return the buyer asked for on day 3</dd>" in block
    assert "<dt>Upheld after review</dt><dd>yes</dd>" in block
    assert f'<a href="#entry-{sold.index}">about the sale, entry {sold.index}</a>' in block
    zh = entry_block(page(client, "zh"), complaint.index)
    assert "<dt>投诉内容</dt>" in zh and "<dt>经审核成立</dt><dd>是</dd>" in zh
    assert f"涉及销售记录 {sold.index}</a>" in zh


def test_a_recall_says_what_it_is_about(client, sqlite_ledger):
    registry = onboard(sqlite_ledger, "dmv", "registry")
    recall = {
        "kind": "recall",
        "vin": VIN,
        "occurred_at": "2026-05-01T00:00:00Z",
        "campaign": "22V-123",
        "component": "airbag inflator",
        "description": "inflator may rupture; replace it free of charge",
        "status": "open",
    }
    (out,) = submitted(sqlite_ledger, registry.envelope(recall))
    block = entry_block(page(client), out.index)
    assert "<dt>Description</dt><dd>inflator may rupture; replace it free of charge</dd>" in block
    assert "<dt>说明</dt>" in entry_block(page(client, "zh"), out.index)


# ---- the worst problem first ---------------------------------------------------------


def test_the_verdict_lists_the_worst_problem_first(client, sqlite_ledger):
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    submitted(
        sqlite_ledger,
        insurer.envelope(claim(cause="collision", total_loss=True)),
        insurer.envelope(claim(cause="hail", severity="minor", claim_ref="HM-2")),
    )
    lines = re.findall(r'<li class="alert (\w+)"><bdi>([^<]*)', verdict(page(client)))
    assert [(level, text.strip()) for level, text in lines] == [
        ("high", "Declared a total loss by an insurer on 1 Apr 2026"),
        ("medium", "Accident reported by an insurer (moderate)"),
        ("low", "Hail damage reported by an insurer (minor)"),
    ]


def test_headline_sorts_by_severity_and_keeps_the_order_within_one():
    def a(kind: str, level: str, entry: int) -> dict:
        return {"type": kind, "severity": level, "entries": [entry], "facts": {}}

    alerts = [
        a("slow_low", "low", 1),
        a("first_medium", "medium", 2),
        a("first_high", "high", 3),
        a("second_medium", "medium", 4),
        a("second_high", "high", 5),
    ]
    lines = headline(alerts, Words("en"))
    assert [line["entries"] for line in lines] == [[3], [5], [2], [4], [1]]


# ---- corrections in the reader's words -----------------------------------------------


def test_a_correction_names_fields_and_values_as_the_timeline_does(client, sqlite_ledger):
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    (claimed,) = submitted(sqlite_ledger, insurer.envelope(claim(cause="collision")))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-04-02T00:00:00Z",
        "corrects": claimed.index,
        "reason": "the adjuster's report came in",
        "fields": {"severity": "severe", "total_loss": True, "claim_ref": "HM-1b"},
    }
    (fixed,) = submitted(sqlite_ledger, insurer.envelope(fix))
    en = page(client)
    changes = entry_block(en, fixed.index)
    assert "Severity → severe, Total loss → yes, Claim reference → HM-1b" in changes
    beside = entry_block(en, claimed.index)
    assert "Severity: severe, Total loss: yes, Claim reference: HM-1b" in beside

    zh = page(client, "zh")
    changes, beside = entry_block(zh, fixed.index), entry_block(zh, claimed.index)
    assert "严重程度 → 严重、全损 → 是、理赔编号 → HM-1b" in changes
    assert "严重程度：严重、全损：是、理赔编号：HM-1b" in beside
    for raw in ("severity", "total_loss", "claim_ref", "yes"):
        assert raw not in changes and raw not in beside, raw


def test_a_claims_cause_and_a_corrections_reason_are_different_words_in_chinese(
    client, sqlite_ledger
):
    assert MESSAGES["zh"]["field_cause"] != MESSAGES["zh"]["field_reason"]
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    (claimed,) = submitted(sqlite_ledger, insurer.envelope(claim(cause="hail")))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-04-02T00:00:00Z",
        "corrects": claimed.index,
        "reason": "typed the wrong cause",
        "fields": {"cause": "flood"},
    }
    (fixed,) = submitted(sqlite_ledger, insurer.envelope(fix))
    zh = page(client, "zh")
    # In force, with what was signed beside it.
    in_force = "<dt>出险原因</dt><dd>水淹（已更正；原签署为：冰雹）</dd>"
    assert in_force in entry_block(zh, claimed.index)
    changes = entry_block(zh, fixed.index)
    assert "<dt>理由</dt><dd>typed the wrong cause</dd>" in changes
    assert "出险原因 → 水淹" in changes


def test_a_corrected_reading_and_damage_flags_read_as_the_timeline_says_them(client, sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    (inspected,) = submitted(sqlite_ledger, inspector.envelope(inspection(km=3_000)))
    flags = {"accident": False, "flood": True, "fire": False, "structural": True, "airbag": False}
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-05T09:00:00Z",
        "corrects": inspected.index,
        "reason": "digit missing, flags left out",
        "fields": {"odometer_km": 30_500, "flags": flags},
    }
    (fixed,) = submitted(sqlite_ledger, inspector.envelope(fix))
    en = entry_block(page(client), fixed.index)
    assert "Odometer → 30,500 km, Damage found → Flood, Structural" in en
    zh = entry_block(page(client, "zh"), fixed.index)
    assert "里程 → 30,500 公里、发现的损伤 → 水泡、结构" in zh
    assert "odometer_km" not in zh and "flood" not in zh


def test_a_correction_the_view_could_not_apply_is_not_shown_as_applied():
    """An older log may hold a correction the view ignores (a dispute's status): the
    page must not say "Status: resolved" beside an entry it still shows as disputed."""
    import copy

    import msgspec

    from api.i18n import Words
    from api.pages import page_model
    from core.history import analyse
    from core.vin import decode_vin

    op = {"id": "operator", "name": "Ledger operator", "role": "operator"}
    insurer = {"id": "ins", "name": "Insurer", "role": "insurer"}

    def item(i, kind, signer, **rec):
        at = f"2026-01-0{i}T00:00:00Z"
        return {
            "index": i,
            "kind": kind,
            "signer": signer,
            "record": {"kind": kind, "vin": VIN, "occurred_at": at, **rec},
        }

    items = [
        item(2, "insurance_claim", insurer, claim_ref="c1", cause="hail", severity="minor"),
        item(3, "dispute", op, disputes=2, reason="the photos show another car"),
        item(4, "correction", op, corrects=3, reason="closed", fields={"status": "resolved"}),
    ]
    history = {
        "vin": VIN,
        "vehicle": msgspec.to_builtins(decode_vin(VIN)),
        "entries": items,
        "view": analyse(copy.deepcopy(items)),
    }
    for lang in ("en", "zh"):
        t = Words(lang)
        dispute = next(e for e in page_model(history, t)["timeline"] if e["index"] == 3)
        [note] = dispute["corrected_by"]
        assert note.endswith(t("correction_ignored")), note
