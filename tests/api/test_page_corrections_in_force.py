"""Two corrections of a registration, each valid against the record as signed but not
together (the first moves ``first_registered`` later, the second moves the date
before it): the ledger refuses the second, so the buyer's page applies every
correction it shows and verifies in the browser."""

from __future__ import annotations

import httpx
import pytest

from core.errors import InvalidRecord
from tests.api.test_browser import browser, page, verification  # noqa: F401
from tests.conftest import VIN, onboard, start_server
from tests.ledger.test_correction_in_force import DATE_EARLIER, FIRST_LATER, REGISTERED, fix
from tests.plugins.test_time_zone import ledger_in, submit


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("in-force")
    ledger = ledger_in(tmp, f"sqlite:///{tmp / 'ledger.db'}", "UTC")
    registry = onboard(ledger, "kba", "registry")
    reg = submit(ledger, registry, REGISTERED)
    moved = submit(ledger, registry, fix(reg, 1, FIRST_LATER))
    (refused,) = ledger.submit_now([registry.envelope(fix(reg, 2, DATE_EARLIER))])
    assert isinstance(refused, InvalidRecord), refused
    data = ledger.settings.data_dir
    ledger.close()
    proc, url = start_server(data)
    yield url, reg, moved
    proc.terminate()
    proc.wait(10)


def test_every_correction_logged_applies(served):
    url, reg, moved = served
    history = httpx.get(f"{url}/vehicles/{VIN}/history").json()
    assert [e["index"] for e in history["entries"]] == [reg, moved]
    assert history["entries"][0]["in_force"]["first_registered"] == "2024-06-01"
    assert "correction_not_applied" not in {a["type"] for a in history["view"]["alerts"]}


def test_the_page_verifies_in_the_browser(served, page):  # noqa: F811
    url, _, _ = served
    page.goto(f"{url}/vehicles/{VIN}?lang=en")
    state = verification(page)
    report = page.evaluate("window.vinledger.lastReport")
    assert state == "verified", [f["detail"] for f in report["findings"] if not f["ok"]]
