"""What a consumer-protection tester laundering histories with real partner keys asked
of the buyer's page: when each entry was logged (a history back-dated today must not
read as one logged as it happened), entries signed with a key revoked later, a
correction's checklist in words, and a return ended by its own dealer's resale."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime

import msgspec
import pytest
from click.testing import CliRunner

from api.i18n import Words
from api.pages import LATE_LOGGING_DAYS, page_model
from core.history import analyse
from core.vin import decode_vin
from tests.api.test_dealer_flow import post, sale
from tests.api.test_pages import entry_block
from tests.api.test_pages_details import page, submitted
from tests.conftest import VIN, inspection, maintenance, onboard


@pytest.fixture(autouse=True)
def june_4(sqlite_ledger):
    """The ledger logs everything at noon on 4 June 2026, a month after ``inspection()``."""
    sqlite_ledger.clock = lambda: datetime(2026, 6, 4, 12, 0, tzinfo=UTC)


def notes(html: str) -> str:
    m = re.search(r'<ul class="notes".*?</ul>', html, re.S)
    return m.group(0) if m else ""


# ---- when each entry was logged -------------------------------------------------------


def back_dated(year: int, km: int) -> dict:
    return {**maintenance(km=km), "occurred_at": f"{year}-03-15T09:00:00Z"}


def test_entries_logged_long_after_their_date_say_so_and_are_counted_at_the_top(
    client, sqlite_ledger
):
    """Five services dated 2021-2025, all logged on one day (the test ledger's clock
    reads 4 June 2026), beside an inspection logged a month after it happened."""
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    services = submitted(
        sqlite_ledger,
        *(shop.envelope(back_dated(y, (y - 2020) * 15_000)) for y in range(2021, 2026)),
    )
    (inspected,) = submitted(sqlite_ledger, inspector.envelope(inspection(km=80_000)))
    late = [o.index for o in services]
    assert LATE_LOGGING_DAYS == 90

    en = page(client)
    said = notes(en)
    assert "5 entries were logged more than 90 days after their date" in said
    assert all(f'href="#entry-{i}"' in said for i in late)
    assert f'href="#entry-{inspected.index}"' not in said
    for i in late:
        block = entry_block(en, i)
        assert "logged 4 Jun 2026" in block
        note = r'<div class="late-note"><span translate="no">Logged [\d,]+ days after the date'
        assert re.search(note + " it gives", block)
    # The 2021 service: 15 March 2021 to 4 June 2026.
    assert "Logged 1,907 days after the date it gives" in entry_block(en, late[0])
    fresh = entry_block(en, inspected.index)
    assert "logged 4 Jun 2026" in fresh and "late-note" not in fresh  # 31 days: on time
    assert '<time datetime="2026-06-04T12:00:00' in fresh  # the ledger's own time of it

    zh = page(client, "zh")
    assert "有 5 条记录在其所载日期 90 天以后才录入账本" in notes(zh)
    assert "2026年6月4日录入" in entry_block(zh, late[0])
    assert "在其所载日期 1,907 天之后才录入" in entry_block(zh, late[0])


def test_a_history_logged_as_it_happened_has_no_notes(client, sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    submitted(sqlite_ledger, inspector.envelope(inspection()))
    html = page(client)
    assert notes(html) == "" and 'class="late-note"' not in html and "logged 4 Jun 2026" in html


# ---- a key revoked after it signed ------------------------------------------------------


def history_of(items: list[dict]) -> dict:
    return {
        "vin": VIN,
        "vehicle": msgspec.to_builtins(decode_vin(VIN)),
        "entries": items,
        "view": analyse(copy.deepcopy(items)),
    }


def test_an_entry_whose_key_was_revoked_later_says_when_and_why():
    """``key_revoked`` on a history item (the revocation's index, when it was logged and
    the operator's reason) is shown beside the entry and counted at the top."""
    acme = {"id": "acme", "name": "Acme Inspections", "role": "inspector"}
    stolen = {"index": 56, "at": "2026-12-02T09:00:00Z", "reason": "laptop stolen"}
    items = [
        {
            "index": i,
            "kind": "inspection",
            "sequenced_at": f"2026-05-0{i}T10:00:00Z",
            "signer": acme,
            "record": inspection(day=i),
            **({"key_revoked": stolen} if i == 3 else {}),
        }
        for i in (2, 3)
    ]
    for lang, said, counted in (
        (
            "en",
            "Signed with a key revoked later, on 2 Dec 2026: laptop stolen",
            "1 entry is signed",
        ),
        ("zh", "签名所用的密钥后来于 2026年12月2日 被吊销：laptop stolen", "有 1 条记录的签名密钥"),
    ):
        m = page_model(history_of(items), Words(lang))
        by = {e["index"]: e for e in m["timeline"]}
        assert by[3]["revoked"] == said and by[2]["revoked"] is None
        [note] = m["notes"]
        assert note["entries"] == [3] and note["text"].startswith(counted)


def test_verify_names_entries_signed_with_a_key_revoked_later(sqlite_ledger, tmp_path):
    from api.cli_read import verify

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    (inspected,) = submitted(sqlite_ledger, inspector.envelope(inspection()))
    revoked = sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
    bundle = tmp_path / "bundle.json"
    from ledger.bundle import encode_bundle

    bundle.write_bytes(encode_bundle(sqlite_ledger.bundle(VIN)))
    out = CliRunner().invoke(verify, [str(bundle), "--vkey", sqlite_ledger.vkey]).output
    assert "VERIFIED" in out
    lines = out.splitlines()
    at = next(n for n, line in enumerate(lines) if f"entry {inspected.index:>6}" in line)
    assert (
        f"signed with a key revoked later, on 2026-06-04 (entry {revoked.index})" in lines[at + 1]
    )
    assert f"(entry {revoked.index}): laptop stolen" in out


# ---- a correction's structured fields ---------------------------------------------------


def test_a_corrections_checklist_parts_and_cost_read_as_the_timeline_says_them(
    client, sqlite_ledger
):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    (inspected,) = submitted(sqlite_ledger, inspector.envelope(inspection()))
    (serviced,) = submitted(sqlite_ledger, shop.envelope(maintenance()))

    def fix(index: int, fields: dict) -> dict:
        return {
            "kind": "correction",
            "vin": VIN,
            "occurred_at": "2026-05-06T09:00:00Z",
            "corrects": index,
            "reason": "typed on the wrong form",
            "fields": fields,
        }

    items = [
        {"code": "frame", "result": "ok"},
        {"code": "brakes", "result": "major", "note": "worn"},
    ]
    (checked,) = submitted(
        sqlite_ledger, inspector.envelope(fix(inspected.index, {"items": items}))
    )
    work = {
        "items": [{"description": "timing belt"}],
        "parts": [{"name": "belt", "quantity": 2}],
        "cost": {"amount": "420.00", "currency": "EUR"},
    }
    (worked,) = submitted(sqlite_ledger, shop.envelope(fix(serviced.index, work)))

    en, zh = page(client), page(client, "zh")
    assert "Checklist → frame: ok; brakes: major defect (worn)" in entry_block(en, checked.index)
    said = "Work done → timing belt, Parts → belt × 2, Cost → 420.00 EUR"
    assert said in entry_block(en, worked.index)
    assert "检测项目 → frame: 正常; brakes: 严重问题 (worn)" in entry_block(zh, checked.index)
    assert "作业项目 → timing belt、配件 → belt × 2、费用 → 420.00 EUR" in entry_block(
        zh, worked.index
    )
    for html in (en, zh):
        for index in (checked.index, worked.index, inspected.index, serviced.index):
            block = entry_block(html, index)
            assert "[{" not in block and "&#34;" not in block and '"code"' not in block, block


# ---- a return ended by its own dealer's resale ------------------------------------------


def test_a_return_ended_by_its_dealers_own_resale_says_who_and_how_soon(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    first = post(client, dealer, sale(policies=[{"id": "return-7d", "params": {"max_km": 300}}]))
    assert first.status_code == 201, first.text
    again = {**sale(policies=[], km=48_001), "occurred_at": "2026-06-01T11:00:00Z"}
    resold = post(client, dealer, again)
    assert resold.status_code == 201, resold.text
    index = resold.json()["index"]
    en, zh = page(client), page(client, "zh")
    assert f"(ended: the car was sold again by the same dealer 1 hour later, entry {index})" in en
    # Each page says it in its own language only.
    assert f"(已结束：同一经销商在 1 小时后再次售出该车，记录 {index})" in zh
    assert "sold again by the same dealer" not in zh and "同一经销商" not in en


def test_a_return_ended_by_another_dealers_sale_says_only_that_it_was_sold_again(
    client, sqlite_ledger
):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    other = onboard(sqlite_ledger, "city-cars", "dealer")
    post(client, dealer, sale(policies=[{"id": "return-7d", "params": {"max_km": 300}}]))
    post(client, other, sale(dealer="city-cars", policies=[], km=48_050, day="02"))
    en = page(client)
    assert "(ended: the car was sold again)" in en and "same dealer" not in en


def test_how_soon_a_dealer_resold_is_said_in_minutes_hours_or_days():
    from api.guarantees import _resold_said

    def entry(index: int, at: str, dealer: str = "bay-auto") -> dict:
        return {"index": index, "signer": {"id": dealer}, "record": {"occurred_at": at}}

    sold = entry(5, "2026-06-01T10:00:00Z")
    t = Words("en")
    for at, after in (
        ("2026-06-01T10:20:00Z", "20 minutes"),
        ("2026-06-01T11:00:00Z", "1 hour"),
        ("2026-06-03T09:00:00Z", "47 hours"),
        ("2026-06-06T10:00:00Z", "5 days"),
    ):
        said = _resold_said(sold, entry(6, at), t)
        assert said == f"ended: the car was sold again by the same dealer {after} later, entry 6"
    assert _resold_said(sold, entry(6, "2026-06-01T11:00:00Z", "city-cars"), t) is None
    assert "20 分钟后" in _resold_said(sold, entry(6, "2026-06-01T10:20:00Z"), Words("zh"))


def test_the_history_and_page_mark_entries_signed_with_a_key_revoked_later(client, sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    other = onboard(sqlite_ledger, "otherinsp", "inspector")
    (stolen,) = submitted(sqlite_ledger, inspector.envelope(inspection()))
    (kept,) = submitted(sqlite_ledger, other.envelope(inspection(day=5, km=48_300)))
    revoked = sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
    items = {e["index"]: e for e in client.get(f"/vehicles/{VIN}/history").json()["entries"]}
    assert items[stolen.index]["key_revoked"] == {
        "index": revoked.index,
        "at": items[stolen.index]["key_revoked"]["at"],
        "reason": "laptop stolen",
    }
    assert "key_revoked" not in items[kept.index]
    en = page(client)
    assert "Signed with a key revoked later, on 4 Jun 2026: laptop stolen" in entry_block(
        en, stolen.index
    )
    assert "revoked-note" not in entry_block(en, kept.index)
    assert "1 entry is signed with a key revoked later" in notes(en)
    assert "签名所用的密钥后来于 2026年6月4日 被吊销：laptop stolen" in entry_block(
        page(client, "zh"), stolen.index
    )
