"""A vehicle page's own errors follow Accept as every answer does: a client that prefers
a problem document gets one, a browser gets the page."""

from __future__ import annotations

import pytest

from tests.conftest import VIN2


@pytest.mark.parametrize(
    "accept, html",
    [
        ("text/html,application/xhtml+xml,*/*;q=0.8", True),
        ("application/problem+json, text/html;q=0.5", False),
        ("application/vnd.example+json, text/html;q=0.1", False),
        ("*/*", False),
        ("text/html;q=0, application/json", False),
    ],
)
def test_an_unknown_vins_page_answers_as_asked(client, accept, html):
    r = client.get(f"/vehicles/{VIN2}", headers={"Accept": accept})
    assert r.status_code == 404
    kind = r.headers["content-type"]
    assert kind.startswith("text/html") if html else kind.startswith("application/problem+json")
    assert "Accept" in r.headers.get("vary", "")
