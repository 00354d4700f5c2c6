"""What a malicious partner writes in a record's free text cannot rewrite what a buyer
reads: not the terminal report of `vinledger verify` (ANSI escapes, carriage returns),
not the order of the page's own words (bidirectional overrides), not its layout."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from api.report import print_report
from ledger.verify import Finding, Report
from tests.conftest import VIN, onboard

FAKE_OK = "\x1b[2K\r  \x1b[32mok  \x1b[0m view       no alerts, as served\x1b[8m"


def test_a_report_prints_no_control_or_bidi_character_a_partner_wrote():
    report = Report(vin=VIN)
    report.findings.append(Finding(False, "view", f"served alert: open recall Z ({FAKE_OK})"))
    report.findings.append(Finding(False, "view", "component \u202edetsiD (entry 61)"))
    with CliRunner().isolation() as (out, _, _):
        print_report(report)
    text = out.getvalue().decode()
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text, text
    assert "\\u001b[2K\\u000d" in text and "\\u202edetsiD" in text
    assert text.rstrip().endswith("NOT VERIFIED: 2 checks failed.")
    assert len(text.splitlines()) == 5  # no line added or hidden by the text


def test_partner_text_on_the_page_is_isolated_and_wraps(client, sqlite_ledger):
    """A right-to-left override in a recall's component stays inside it: the server's own
    "(entry N)" after it, and an attachment's size and hash, read as written."""
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    recall = {
        "kind": "recall",
        "vin": VIN,
        "occurred_at": "2026-05-04T09:00:00Z",
        "campaign": "X" * 64,
        "component": "\u202edetsiD " + "Y" * 100,
        "status": "open",
        "description": "x",
    }
    [out] = sqlite_ledger.submit_now([shop.envelope(recall)])
    assert not isinstance(out, Exception), out
    html = client.get(f"/vehicles/{VIN}", headers={"Accept": "text/html"}).text
    verdict = re.search(r'<section class="verdict.*?</section>', html, re.S).group(0)
    assert re.search(r"<bdi>[^<]*\u202edetsiD", verdict), verdict
    # A long unbroken campaign id wraps instead of widening the page.
    assert "overflow-wrap: anywhere" in html


def test_a_record_with_control_characters_in_its_text_is_refused(client, sqlite_ledger):
    from tests.conftest import maintenance

    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    before = client.get("/log/checkpoint").text.split("\n")[1]
    for text in ("oil\x1b[2K\rNo problems", "brakes\x08\x08\x08", "filter\x85", "pads\x00"):
        record = maintenance() | {"items": [{"description": text}]}
        r = client.post("/records", content=shop.envelope(record))
        assert r.status_code == 422, (text, r.text)
        assert "control character" in r.json()["detail"]
    assert client.get("/log/checkpoint").text.split("\n")[1] == before
    fine = maintenance() | {"items": [{"description": "oil and filter\r\n\tbrake fluid — 刹车油"}]}
    assert client.post("/records", content=shop.envelope(fine)).status_code == 201


def test_a_providers_report_and_an_operators_record_are_held_to_it_too(client, sqlite_ledger):
    from core import dsse
    from core.errors import InvalidRecord
    from core.keys import generate_private_key, public_key_pem

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sample = Path(__file__).parents[1] / "plugins" / "data" / "checklist-report.json"
    report = json.loads(sample.read_text()) | {
        "vin": VIN,
        "firm": "Firm\x1b[2K\rNo problems",
        "inspector": "I\x08\x08",
    }
    ptype = "application/vnd.checklist.inspection-report+json"
    env = dsse.sign_envelope(json.dumps(report).encode(), inspector.key, payload_type=ptype)
    r = client.post("/records", content=dsse.encode_envelope(env))
    assert r.status_code == 422 and "control character" in r.json()["detail"], r.text
    pem = public_key_pem(generate_private_key().public_key())
    try:
        sqlite_ledger.add_actor("evil", "Evil\x1b[2K\rMotors", "dealer", pem)
    except InvalidRecord as err:
        assert "control character" in str(err)
    else:
        raise AssertionError("an actor's name with an escape code was logged")
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    from tests.conftest import maintenance

    rubout = maintenance() | {"items": [{"description": "oil\x7f\x7f\x7fX"}]}
    assert client.post("/records", content=shop.envelope(rubout)).status_code == 422


def test_an_override_in_one_finding_cannot_reorder_the_next(client, sqlite_ledger):
    """Pieces of partner text the page joins into one line (findings, work items, a
    correction's sentence) are each isolated when they hold a bidirectional control."""
    from tests.conftest import inspection

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    record = inspection() | {
        "items": [
            {"code": "brakes", "result": "major", "note": "\u202eworn pads"},
            {"code": "tyres", "result": "minor", "note": "tread 3 mm"},
        ]
    }
    [out] = sqlite_ledger.submit_now([inspector.envelope(record)])
    assert not isinstance(out, Exception), out
    html = client.get(f"/vehicles/{VIN}", headers={"Accept": "text/html"}).text
    assert "(\u2068\u202eworn pads\u2069); tyres" in html
    assert "(tread 3 mm)" in html  # plain text stays as written
