"""An error is a page only when the client's Accept puts HTML first: a client asking
for JSON, application/problem+json or another +json type, even with text/html at a
lower quality, gets the problem document it asked for (RFC 9457)."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from api.app import create_app
from tests.conftest import maintenance, onboard

MISTYPED = "/vehicels"  # an address the ledger does not serve


@pytest.fixture
def client(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=1_000))])
    with TestClient(create_app(sqlite_ledger)) as c:
        yield c


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        ("application/problem+json, text/html;q=0.5", False),
        ("text/html;q=0.5, application/problem+json", False),
        ("application/ld+json, text/html;q=0.9", False),
        ("application/json, text/html;q=0.9", False),
        ("application/*, text/html;q=0.9", False),
        ("*/*", False),
        ("text/html;q=0, */*", False),  # HTML refused
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html, application/problem+json;q=0.5", True),
        ("text/*, application/json;q=0.5", True),
    ],
)
def test_the_page_is_answered_only_when_html_wins(client, accept, page):
    r = client.get(MISTYPED, headers={"Accept": accept})
    assert r.status_code == 404
    if page:
        assert r.headers["content-type"].startswith("text/html")
    else:
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 404
