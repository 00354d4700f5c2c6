"""A registry records registrations over HTTP; the page, `vinledger verify` and the
browser all read them."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_browser import browser, page, verification  # noqa: F401 (fixtures)
from tests.api.test_errors_http import refused
from tests.conftest import make_ledger, onboard, start_server, vinledger

VIN = "LSVAU218XN2183294"
PORT = 18251


def reg(event: str, country: str, at: str, **extra) -> dict:
    return {
        "kind": "registration",
        "vin": VIN,
        "occurred_at": at,
        "event": event,
        "country": country,
        **extra,
    }


CLONE = [
    reg("registered", "CN", "2022-03-10T00:00:00Z", jurisdiction="CN-SH"),
    reg("registered", "DE", "2025-02-01T00:00:00Z", first_registered="2022-03-10"),
    reg("registered", "CN", "2025-06-01T00:00:00Z"),
]


def test_registrations_over_http_and_a_wrong_one_is_a_problem_naming_the_field(
    client, sqlite_ledger
):
    registry = onboard(sqlite_ledger, "kba", "registry")
    for rec in CLONE:
        r = client.post("/records", content=registry.envelope(rec))
        assert r.status_code in (200, 201), r.text
    for bad, field in (({"country": "XX"}, "$.country"), ({"event": "imported"}, "$.event")):
        body = refused(
            client,
            "POST",
            "/records",
            422,
            "ISO 3166-1" if "country" in bad else "must be one of",
            content=registry.envelope({**CLONE[1], **bad}),
        )
        assert body["field"] == field
    view = client.get(f"/vehicles/{VIN}/history").json()
    alerts = [a for a in view["view"]["alerts"] if a["type"] == "registered_twice"]
    # CN registering it again inside its own stay is the same pair of stays: one alert
    assert len(alerts) == 1 and alerts[0]["severity"] == "high"
    page_html = client.get(f"/vehicles/{VIN}?lang=en").text
    assert "Registered in DE on 1 Feb 2025 while still registered in CN" in page_html
    assert "in CN since 10 Mar 2022" in page_html


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    data = tmp_path_factory.mktemp("reg") / "data"
    ledger = make_ledger(data, f"sqlite:///{data.parent / 'ledger.db'}")
    registry = onboard(ledger, "kba", "registry")
    records = [
        reg("registered", "CN", "2022-03-10T00:00:00Z"),
        reg("exported", "CN", "2025-01-20T00:00:00Z"),
        reg("registered", "DE", "2025-02-01T00:00:00Z", first_registered="2022-03-10"),
    ]
    outcomes = ledger.submit_now([registry.envelope(r) for r in records])
    assert all(hasattr(o, "index") for o in outcomes), outcomes
    ledger.close()
    proc, url = start_server(data, PORT)
    yield url
    proc.terminate()
    proc.wait(10)


def test_an_import_verifies_offline_and_the_page_says_where(served):
    vkey = httpx.get(f"{served}/log/vkey").text.strip()
    r = vinledger("verify", f"{served}/vehicles/{VIN}/bundle", "--vkey", vkey, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VERIFIED:" in r.stdout
    html = httpx.get(f"{served}/vehicles/{VIN}?lang=en").text
    assert (
        "first registered 10 Mar 2022; in CN from 10 Mar 2022 to 20 Jan 2025 (exported); "
        "in DE since 1 Feb 2025" in html
    )


def test_a_page_with_registrations_verifies_in_the_browser(served, page):  # noqa: F811
    page.goto(f"{served}/vehicles/{VIN}?lang=en")
    assert verification(page) == "verified", page.inner_text("#verification")
    assert "in DE since" in page.inner_text("#registrations")
