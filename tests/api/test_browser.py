"""The buyer's page in a real browser: Debian's Chromium, driven by Playwright.

The page must verify the history itself (WebCrypto SHA-256 and Ed25519) and fail
loudly, naming the entry, when any byte of the bundle it fetched was changed.
"""

from __future__ import annotations

import base64
import io
import json
import os

import httpx
import pytest

from tests.conftest import need, start_server, vinledger

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo ledger, served by a real server: (base url, featured VIN, vkey)."""
    data = tmp_path_factory.mktemp("demo") / "data"
    out = vinledger("demo", "--no-serve", data=data).stdout
    vkey = out.splitlines()[1].strip()
    vin = out.split("/vehicles/", 1)[1].split()[0]
    proc, url = start_server(data)
    yield url, vin, vkey
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        need(f"Debian's chromium is not installed at {CHROMIUM}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("playwright is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    pg = context.new_page()
    external = []
    pg.on(
        "request",
        lambda r: None if r.url.startswith("http://127.0.0.1") else external.append(r.url),
    )
    yield pg
    context.close()
    assert external == [], f"the page made requests elsewhere: {external}"


def report_size(page) -> int:
    return page.evaluate("window.vinledger.lastReport.size")


def verification(page) -> str:
    page.wait_for_function(
        "['verified', 'failed'].includes(document.documentElement.dataset.verification)",
        timeout=20_000,
    )
    return page.get_attribute("#verification", "data-state")


def test_the_page_verifies_in_the_browser(demo, page, tmp_path):
    url, vin, vkey = demo
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "verified", page.inner_text("#verification")
    assert page.inner_text("#vkey").strip() == vkey  # the key the buyer should compare
    headline = page.inner_text("#verification-headline")
    assert (
        "Verified in your browser at " in headline and f"of {report_size(page)} entries" in headline
    )
    report = page.evaluate("window.vinledger.lastReport")
    assert report["ok"] and report["size"] > 0
    assert all(f["ok"] for f in report["findings"])
    # The verdict is on the page for the rolled-back demo car.
    assert "Odometer went back" in page.inner_text("#verdict")
    # It reads on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=tmp_path / "page.png", full_page=True)
    assert (tmp_path / "page.png").stat().st_size > 10_000


def _flip(b64: str, at: int | None = None) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2 if at is None else at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def _tamper(bundle: dict, what: str) -> str | None:
    """Change one byte of the bundle; returns the entry index the failure must name."""
    item = bundle["entries"][len(bundle["entries"]) // 2]
    if what == "entry":
        item["entry"] = _flip(item["entry"])
        return f"entry {item['index']}"
    if what == "proof":
        item["proof"][0] = _flip(item["proof"][0], 0)
        return f"entry {item['index']}"
    body, sig = bundle["checkpoint"].rstrip("\n").rsplit("\n", 1)
    if what == "checkpoint-signature":
        prefix, b64 = sig.rsplit(" ", 1)
        bundle["checkpoint"] = f"{body}\n{prefix} {_flip(b64, 10)}\n"
    else:  # the root hash in the checkpoint body
        lines = body.split("\n")
        lines[2] = _flip(lines[2], 0)
        bundle["checkpoint"] = "\n".join(lines) + f"\n{sig}\n"
    return "checkpoint"


@pytest.mark.parametrize("what", ["entry", "proof", "checkpoint-signature", "checkpoint-root"])
def test_one_changed_byte_fails_loudly_and_names_the_place(demo, page, what):
    url, vin, _ = demo
    bundle = httpx.get(f"{url}/vehicles/{vin}/bundle").json()
    named = _tamper(bundle, what)
    body = json.dumps(bundle)
    page.route(
        f"{url}/vehicles/{vin}/bundle",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "failed"
    text = page.inner_text("#verification")
    assert "Verification failed" in text
    assert named in text, text


@pytest.mark.parametrize("what", ["entry", "proof"])
def test_a_changed_entry_is_blamed_on_itself_alone_as_python_does(demo, page, what):
    """Not on the entries chained after it; and the page names it once per line."""
    from ledger.verify import verify_bundle_bytes

    url, vin, vkey = demo
    bundle = httpx.get(f"{url}/vehicles/{vin}/bundle").json()
    named = _tamper(bundle, what)
    body = json.dumps(bundle).encode()
    findings = _verify_in_browser(page, demo, body, vkey)
    python = [vars(f) for f in verify_bundle_bytes(body, vkey).findings]
    assert _outline(findings) == _outline(python)
    assert {f"entry {f['index']}" for f in findings if not f["ok"]} == {named}
    page.route(
        f"{url}/vehicles/{vin}/bundle",
        lambda route: route.fulfill(status=200, content_type="application/json", body=body),
    )
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    assert verification(page) == "failed"
    text = page.inner_text("#verification")
    assert f"{named}: {named}" not in text and text.count(named) == 1, text


def test_the_chinese_page_verifies_too(demo, page, tmp_path):
    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}?lang=zh")
    assert verification(page) == "verified"
    assert "在您的浏览器中验证" in page.inner_text("#verification-headline")
    assert "时间线" in page.inner_text("body")
    page.screenshot(path=tmp_path / "page-zh.png", full_page=True)


def test_without_javascript_the_history_is_still_there(demo, browser):
    url, vin, _ = demo
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    text = page.inner_text("body")
    assert "Odometer went back" in text and "Timeline" in text
    assert "JavaScript is off" in text
    context.close()


def test_the_qr_code_decodes_to_the_page_link(demo, page, tmp_path):
    import zxingcpp
    from PIL import Image

    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}/qr.svg")
    png = page.screenshot(path=tmp_path / "qr.png")
    codes = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert [c.text for c in codes] == [f"{url}/vehicles/{vin}"]


def test_the_page_script_knows_the_same_roles_as_the_ledger(demo, page):
    from core.roles import KINDS_BY_ROLE

    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}")
    table = page.evaluate("window.vinledger.KINDS_BY_ROLE")
    assert {role: set(kinds) for role, kinds in table.items()} == {
        role: set(kinds) for role, kinds in KINDS_BY_ROLE.items()
    }


def test_the_page_script_knows_what_a_correction_may_change_as_the_ledger_does(demo, page):
    from core import corrections
    from core.records import VEHICLE_KINDS

    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}")
    got = page.evaluate(
        "({c: window.vinledger.CORRECTABLE, f: window.vinledger.FIXED_REFERENCES,"
        " s: window.vinledger.SALE_TERMS, d: window.vinledger.DECIDED})"
    )
    fields = corrections._KIND_FIELDS
    assert {k: set(v) for k, v in got["c"].items()} == {k: set(fields[k]) for k in VEHICLE_KINDS}
    assert {k: set(v) for k, v in got["f"].items()} == corrections._REFERENCES
    assert set(got["s"]) == corrections._SALE_TERMS and got["d"] == corrections._DECIDED


# ---- the trust replay: the bundles of tests/ledger/test_verify_trust.py -----------------


def _verify_in_browser(page, demo, bundle: bytes, vkey: str) -> list[dict]:
    """The findings of verify.js for ``bundle`` against ``vkey``, on the demo's page."""
    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    report = page.evaluate(
        "([b, k]) => window.vinledger.verifyBundle(new TextEncoder().encode(b), k)",
        [bundle.decode(), vkey],
    )
    return report["findings"]


def _outline(findings: list[dict]) -> list[tuple]:
    """What each finding says of which entry, leaving out the wording."""
    return [(f["ok"], f["check"], f["index"]) for f in findings]


def test_the_page_script_verifies_a_well_formed_hand_made_bundle(demo, page):
    from tests.ledger.test_verify_trust import LOG, WELL_FORMED, make_bundle

    findings = _verify_in_browser(page, demo, make_bundle(WELL_FORMED), LOG.vkey)
    assert findings and all(f["ok"] for f in findings), findings
    assert [f["check"] for f in findings if f["check"] == "signature"] == ["signature"] * 2


def _unlike_python(page, demo, defects: dict, failures) -> dict:
    """The defects whose browser findings name a different entry or say otherwise than
    ``failures`` (details of the failed findings of one check at one entry) expects,
    or whose outline differs from Python's."""
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_verify_trust import LOG, make_bundle

    differ = {}
    for name, defect in defects.items():
        bundle = make_bundle(defect.items)
        findings = _verify_in_browser(page, demo, bundle, LOG.vkey)
        python = [vars(f) for f in verify_bundle_bytes(bundle, LOG.vkey).findings]
        named = any(defect.says in d for d in failures(findings, defect.index))
        if not named or _outline(findings) != _outline(python):
            differ[name] = {"browser": findings, "python": python}
    return differ


def test_the_page_script_fails_each_trust_defect_as_python_does(demo, page):
    from tests.ledger.test_verify_trust import DEFECTS, trust_failures

    assert _unlike_python(page, demo, DEFECTS, trust_failures) == {}


def test_the_page_script_checks_references_as_python_does(demo, page):
    from tests.ledger.test_verify_references import (
        DEFECTS,
        REFERENCED_MALFORMED,
        WELL_FORMED,
        entry_failures,
    )
    from tests.ledger.test_verify_trust import LOG, make_bundle

    findings = _verify_in_browser(page, demo, make_bundle(WELL_FORMED), LOG.vkey)
    assert findings and all(f["ok"] for f in findings), findings
    defects = {**DEFECTS, **REFERENCED_MALFORMED}
    assert _unlike_python(page, demo, defects, entry_failures) == {}


def test_the_page_script_words_claim_refusals_as_python_does(demo, page):
    """Word for word: both read a claim's times to the microsecond, as the sequencer."""
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_verify_references import CLAIM_RULE_DEFECTS
    from tests.ledger.test_verify_trust import LOG, make_bundle

    for name, defect in CLAIM_RULE_DEFECTS.items():
        bundle = make_bundle(defect.items)
        findings = _verify_in_browser(page, demo, bundle, LOG.vkey)
        python = [vars(f) for f in verify_bundle_bytes(bundle, LOG.vkey).findings]
        assert [f for f in findings if not f["ok"]] == [f for f in python if not f["ok"]], name


# ---- a signed payload that repeats a key: tests/ledger/test_repeated_keys_checkers.py ------


def test_the_page_script_fails_each_vehicle_defect_as_python_does(demo, page):
    from tests.ledger.test_verify_references import entry_failures
    from tests.ledger.test_verify_trust import VEHICLE_DEFECTS

    assert _unlike_python(page, demo, VEHICLE_DEFECTS, entry_failures) == {}


def test_the_page_script_words_a_repeated_key_as_python_does(demo, page):
    """Word for word: the entry, the key and its JSON path."""
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_repeated_keys_checkers import REPEATED
    from tests.ledger.test_verify_trust import LOG, make_bundle

    for name, defect in REPEATED.items():
        bundle = make_bundle(defect.items)
        findings = _verify_in_browser(page, demo, bundle, LOG.vkey)
        python = [vars(f) for f in verify_bundle_bytes(bundle, LOG.vkey).findings]
        assert [f for f in findings if not f["ok"]] == [f for f in python if not f["ok"]], name


def test_the_page_script_finds_the_repeated_key_python_finds(demo, page):
    """verify.js reads the JSON text itself (JSON.parse keeps the last copy silently):
    the same repeat as core.strict_json.duplicate_key, at the same path, in each text."""
    from core.strict_json import duplicate_key
    from tests.ledger.test_repeated_keys_checkers import TEXTS

    url, vin, _ = demo
    page.goto(f"{url}/vehicles/{vin}?lang=en")
    texts = [text for text, _ in TEXTS]
    found = page.evaluate("(texts) => texts.map((t) => window.vinledger.repeatedKey(t))", texts)
    python = [duplicate_key(t.encode()) for t in texts]
    assert [(t, None if f is None else tuple(f)) for t, f in zip(texts, found, strict=True)] == [
        (t, p) for t, p in zip(texts, python, strict=True)
    ]


def test_a_checkpoint_of_another_log_under_the_same_key_fails_as_python_does(demo, page):
    """The key names the log it signs for: a note signed under that name whose checkpoint
    says another origin is not this log's checkpoint (the Python checkers said so; the
    page's script did not check it)."""
    from core.note import sign_note
    from ledger.verify import verify_bundle_bytes
    from tests.ledger.test_verify_trust import LOG, WELL_FORMED, make_bundle

    bundle = json.loads(make_bundle(WELL_FORMED))
    text = bundle["checkpoint"].split("\n\n")[0] + "\n"
    other = text.replace(LOG.origin, "other.example/log", 1)
    bundle["checkpoint"] = sign_note(other, LOG.origin, LOG.private_key)
    data = json.dumps(bundle).encode()
    [python] = [f for f in verify_bundle_bytes(data, LOG.vkey).findings if not f.ok]
    findings = _verify_in_browser(page, demo, data, LOG.vkey)
    [failed] = [f for f in findings if not f["ok"]]
    assert failed["check"] == python.check == "checkpoint"
    assert "the checkpoint is for log 'other.example/log', but the key is" in failed["detail"]
    assert "the checkpoint is for log 'other.example/log', but the key is" in python.detail
