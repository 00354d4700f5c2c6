"""plugins/claims.py and plugins/registry.py: whatever a policy's ``decide`` does other
than return a Decision in time is the plugin's failure, never the dealer's mistake.

- an exception, a ``VinledgerError`` too (a refusal is ``Decision(False, …)``): 500
  ``plugin-failed`` naming the plugin, no ``field``, nothing appended, and a note that
  the claim is filed again once the plugin is fixed (not "disable the plugin");
- no answer within the ledger's ``call_timeout``: 503 ``plugin-timeout`` naming the
  plugin, nothing appended, and the sequencer goes on with other writes; whatever the
  call returns later is dropped.
"""

from __future__ import annotations

import threading
import time

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.errors import Conflict, InvalidRecord, NotFound
from plugins.interfaces import Decision
from tests.conftest import VIN2, inspection, onboard, with_plugin
from tests.plugins.test_plugin_output_checks import (
    FAILED,
    PLUGIN,
    LoosePlugin,
    claim,
    history,
    sale,
    size,
)

TIMED_OUT = "https://vinledger.dev/problems/plugin-timeout"
TIMEOUT = 0.5


@pytest.fixture
def plugin():
    return LoosePlugin()


@pytest.fixture
def ledger(sqlite_ledger, plugin):
    return with_plugin(sqlite_ledger, plugin, PLUGIN, call_timeout=TIMEOUT)


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


@pytest.fixture
def sold(client, ledger):
    dealer = onboard(ledger, "bay-auto", "dealer")
    r = client.post("/records", content=dealer.envelope(sale()))
    assert r.status_code == 201, r.text
    return dealer, r.json()["index"]


def kinds(client) -> list[str]:
    return [e["kind"] for e in history(client)]


# ---- an exception from decide is the plugin's failure ---------------------------------------


@pytest.mark.parametrize(
    "raised",
    [
        InvalidRecord("we do not honour claims on Mondays", field="component"),
        Conflict("claims are closed", field="$.sale"),
        NotFound("no such component", field="$.component"),
        KeyError("component"),
    ],
)
def test_any_exception_from_decide_is_a_plugin_failure_and_appends_nothing(
    client, plugin, sold, raised
):
    def decide(terms, facts):
        raise raised

    plugin.policy.decide = decide
    dealer, index = sold
    before = size(client)
    r = client.post("/records", content=dealer.envelope(claim(index)))
    assert r.status_code == 500, r.text
    problem = r.json()
    assert problem["type"] == FAILED and problem["plugin"] == PLUGIN
    assert "field" not in problem  # the dealer's claim is not at fault
    assert type(raised).__name__ in problem["detail"]
    assert size(client) == before and kinds(client) == ["sale"]


def test_a_refusal_raised_by_decide_says_how_a_policy_refuses(client, plugin, sold):
    def decide(terms, facts):
        raise InvalidRecord("we do not honour claims on Mondays", field="component")

    plugin.policy.decide = decide
    dealer, index = sold
    detail = client.post("/records", content=dealer.envelope(claim(index))).json()["detail"]
    assert "we do not honour claims on Mondays" in detail
    assert "Decision(False, reason)" in detail


def test_a_failed_claim_is_filed_again_once_the_plugin_is_fixed_not_disabled(client, plugin, sold):
    def decide(terms, facts):
        raise RuntimeError("boom")

    plugin.policy.decide = decide
    dealer, index = sold
    detail = client.post("/records", content=dealer.envelope(claim(index))).json()["detail"]
    assert "disable" not in detail
    assert "File the same claim again" in detail and "72 hours after its date" in detail
    del plugin.policy.decide  # fixed: the same claim, sent again, is decided
    r = client.post("/records", content=dealer.envelope(claim(index)))
    assert r.status_code == 201, r.text
    assert kinds(client) == ["sale", "warranty_claim", "claim_decision"]


def test_the_ledgers_own_refusal_of_a_claim_is_still_the_dealers_4xx(client, plugin, sold):
    dealer, index = sold
    r = client.post("/records", content=dealer.envelope({**claim(index), "sale": index + 7}))
    assert r.status_code == 404 and r.json()["field"] == "$.sale"
    early = {**claim(index), "occurred_at": "2026-05-31T09:00:00Z"}  # before the sale
    r = client.post("/records", content=dealer.envelope(early))
    assert r.status_code == 422 and r.json()["field"] == "$.occurred_at"


def test_a_refusal_raised_by_terms_is_still_the_dealers_422(client, ledger, plugin):
    """terms checks the dealer's own parameters: its refusal stays a refusal."""

    def terms(params, sale):
        raise InvalidRecord("max_km must be a number", field="params.max_km")

    plugin.policy.terms = terms
    dealer = onboard(ledger, "bay-auto", "dealer")
    r = client.post("/records", content=dealer.envelope(sale()))
    assert r.status_code == 422 and r.json()["field"] == "$.policies[0].params.max_km"


# ---- a decide that does not answer in time ----------------------------------------------------


@pytest.fixture
def hung(plugin):
    """decide blocks until ``release`` is set, then approves; ``returned`` is set after."""
    release, returned = threading.Event(), threading.Event()

    def decide(terms, facts):
        release.wait(30)
        returned.set()
        return Decision(True, "covered, but too late")

    plugin.policy.decide = decide
    yield release, returned
    release.set()  # never leave the thread waiting


def test_a_hung_decide_is_refused_with_503_and_the_ledger_goes_on(client, ledger, sold, hung):
    _, returned = hung
    dealer, index = sold
    before = size(client)
    started = time.monotonic()
    r = client.post("/records", content=dealer.envelope(claim(index)))
    assert time.monotonic() - started < TIMEOUT + 5
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == "30"  # when to send it again, as a client reads it
    problem = r.json()
    assert problem["type"] == TIMED_OUT and problem["plugin"] == PLUGIN
    assert "loose.decide" in problem["detail"] and f"{TIMEOUT:g} seconds" in problem["detail"]
    assert "nothing was appended" in problem["detail"]
    assert "sent again later" in problem["detail"]
    assert size(client) == before and not returned.is_set()
    # The sequencer is free while decide still hangs: an unrelated write goes in at once.
    inspector = onboard(ledger, "acme", "inspector")
    started = time.monotonic()
    r = client.post("/records", content=inspector.envelope(inspection(vin=VIN2)))
    assert r.status_code == 201 and time.monotonic() - started < TIMEOUT
    assert not returned.is_set()


def test_a_late_decision_never_appends_anything(client, ledger, sold, hung):
    release, returned = hung
    dealer, index = sold
    assert client.post("/records", content=dealer.envelope(claim(index))).status_code == 503
    release.set()  # decide now answers "approved", to no one
    assert returned.wait(5)
    time.sleep(0.1)
    inspector = onboard(ledger, "acme", "inspector")
    before = size(client)
    # Another batch, after the late answer: it holds the inspection and nothing else.
    assert client.post("/records", content=inspector.envelope(inspection(vin=VIN2))).is_success
    assert size(client) == before + 1
    assert kinds(client) == ["sale"]


def test_the_same_claim_sent_again_once_decide_answers_is_decided(client, plugin, sold, hung):
    release, _ = hung
    dealer, index = sold
    assert client.post("/records", content=dealer.envelope(claim(index))).status_code == 503
    release.set()
    r = client.post("/records", content=dealer.envelope(claim(index)))
    assert r.status_code == 201, r.text
    assert history(client)[-1]["record"]["approved"] is True


def test_one_claim_that_hangs_the_policy_does_not_stop_the_other_claims(client, plugin, sold):
    # A dealer's claim on which decide hangs (an input the plugin never finishes) must
    # not take every other dealer's claims under the policy down with it.
    stop = threading.Event()

    def decide(terms, facts):
        if facts.odometer_km == 48_777:
            stop.wait(60)
        return Decision(True, "ok")

    plugin.policy.decide = decide
    dealer, index = sold
    other_sale = client.post("/records", content=dealer.envelope({**sale(), "vin": VIN2}))
    assert other_sale.status_code == 201, other_sale.text
    try:
        bad = {**claim(index), "odometer_km": 48_777}
        assert client.post("/records", content=dealer.envelope(bad)).status_code == 503
        other = {**claim(other_sale.json()["index"]), "vin": VIN2}
        r = client.post("/records", content=dealer.envelope(other))
        assert r.status_code == 201, r.text
    finally:
        stop.set()
