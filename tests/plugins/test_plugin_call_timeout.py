"""plugins/registry.py: a plugin call inside the sequencer is waited for a bounded time.

The call runs in a worker thread; past ``call_timeout`` (config.json's
``plugin_timeout_seconds``) it is abandoned with ``PluginTimedOut`` and whatever it
returns later reaches no one. A claim's decision is refused (tests in
test_claim_decide_failures.py); a sale's commission is left pending, as for any
failure of its rule as the sale is logged, and the sale is kept.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from api.config import create_data_dir, load_settings
from api.service import Ledger
from core.errors import InvalidInput, InvalidRecord, PluginFailed
from ledger.storage import Store
from plugins.manager import create_plugin_manager
from plugins.registry import (
    CALL_TIMEOUT_SECONDS,
    MAX_ABANDONED,
    PluginTimedOut,
    Registry,
    guard,
)
from tests.conftest import make_ledger, onboard
from tests.plugins.test_commissions_at_sale import (
    Rules,
    UaLoyalty,
    reasons,
    record_at_sale,
    refer,
    referrer,
    sell,
    settled,
)

# ---- guard ---------------------------------------------------------------------------------


def test_a_call_past_its_time_is_abandoned_and_its_result_dropped():
    release, finished = threading.Event(), threading.Event()
    got: list[str] = []

    def slow():
        release.wait(10)
        got.append("late")
        finished.set()
        return "late"

    started = time.monotonic()
    with pytest.raises(PluginTimedOut) as err:
        guard("slow-plugin", slow, timeout=0.2, what="slow.decide")
    assert time.monotonic() - started < 2
    assert err.value.status == 503 and err.value.plugin == "slow-plugin"
    assert "slow.decide" in str(err.value) and "0.2 seconds" in str(err.value)
    release.set()
    assert finished.wait(5) and got == ["late"]  # it ran on, and nobody took its result


def test_a_plugin_that_hangs_on_everything_costs_a_few_threads_not_one_per_retry():
    # The 503 invites retries: a plugin hung on every input is called until
    # MAX_ABANDONED of its calls run on, then refused at once, no thread, no wait.
    release = threading.Event()

    def hangs():
        release.wait(10)
        return "late"

    for _ in range(MAX_ABANDONED):
        with pytest.raises(PluginTimedOut, match="did not answer within"):
            guard("hanging-plugin", hangs, timeout=0.1, what="hanging.decide")
    threads = threading.active_count()
    started = time.monotonic()
    for _ in range(5):
        with pytest.raises(PluginTimedOut, match=f"{MAX_ABANDONED} earlier calls it did not"):
            guard("hanging-plugin", hangs, timeout=0.1, what="hanging.decide")
    assert time.monotonic() - started < 0.1  # no wait at all
    assert threading.active_count() == threads  # and no new thread
    assert guard("another-plugin", lambda: "ok", timeout=0.1) == "ok"  # others unaffected
    release.set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # once they returned, the plugin is called again
        try:
            assert guard("hanging-plugin", lambda: "back", timeout=0.2) == "back"
            break
        except PluginTimedOut:
            time.sleep(0.05)
    else:
        pytest.fail("the plugin was not called again after its earlier calls returned")


def test_one_input_that_hangs_a_plugin_does_not_stop_its_other_calls():
    release = threading.Event()
    with pytest.raises(PluginTimedOut):
        guard("picky-plugin", lambda: release.wait(10), timeout=0.1, what="picky.decide")
    assert guard("picky-plugin", lambda: "decided", timeout=0.5) == "decided"
    release.set()


def test_a_call_in_time_answers_and_raises_as_it_would_without_a_bound():
    assert guard("p", lambda x: x + 1, 41, timeout=1) == 42
    refusal = InvalidRecord("no", field="params.x")

    def refuses():
        raise refusal

    with pytest.raises(InvalidRecord) as err:
        guard("p", refuses, timeout=1)
    assert err.value is refusal
    with pytest.raises(PluginFailed, match="ZeroDivisionError"):
        guard("p", lambda: 1 / 0, timeout=1)


def test_a_refusal_from_a_hook_that_may_not_refuse_is_a_failure():
    def refuses():
        raise InvalidRecord("no", field="component")

    with pytest.raises(PluginFailed) as err:
        guard("p", refuses, refusal="return Decision(False, reason)")
    assert err.value.field is None and "return Decision(False, reason)" in str(err.value)


# ---- the setting ------------------------------------------------------------------------------


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "d"
    make_ledger(d, f"sqlite:///{tmp_path / 'ledger.db'}").close()  # and its database
    return d


def configure(data, **settings) -> None:
    config = json.loads((data / "config.json").read_text())
    (data / "config.json").write_text(json.dumps({**config, **settings}))


def test_the_timeout_is_5_seconds_unless_config_json_says_otherwise(data):
    assert CALL_TIMEOUT_SECONDS == 5.0
    assert load_settings(data).plugin_timeout_seconds == 5.0
    assert Registry(create_plugin_manager(load_entry_points=False)).call_timeout == 5.0
    configure(data, plugin_timeout_seconds=1.5)
    assert load_settings(data).plugin_timeout_seconds == 1.5
    ledger = Ledger(load_settings(data))  # as `vinledger serve` opens it
    try:
        assert ledger.plugins.call_timeout == 1.5
    finally:
        ledger.close()


@pytest.mark.parametrize("value", [0, -1, "5", True, 301, [5]])
def test_a_timeout_that_is_not_a_sane_number_of_seconds_is_refused(data, value):
    configure(data, plugin_timeout_seconds=value)
    with pytest.raises(InvalidInput) as err:
        load_settings(data)
    assert err.value.field == "plugin_timeout_seconds"


# ---- a rule that hangs as the sale is logged ------------------------------------------------


class UaLoyaltyHung(UaLoyalty):
    """Computes while the sale is checked; hangs once it is being logged."""

    release = threading.Event()

    def compute(self, referral, sale):
        if sale.index != -1:
            self.release.wait(30)
        return super().compute(referral, sale)


@pytest.fixture
def hung_ledger(tmp_path, sqlite_url):
    from api.service import Ledger

    UaLoyaltyHung.release.clear()
    settings = create_data_dir(
        tmp_path / "data", origin="test.vinledger.localhost/log", database_url=sqlite_url
    )
    store = Store(sqlite_url)
    store.create_schema()
    pm = create_plugin_manager(load_entry_points=False)
    pm.register(Rules(UaLoyaltyHung()), name="ua-rules")
    lg = record_at_sale(Ledger(settings, store, registry=Registry(pm, call_timeout=0.3)))
    lg.genesis()
    yield lg
    UaLoyaltyHung.release.set()
    lg.close()


def test_a_sale_whose_rule_hangs_as_it_is_logged_is_kept_with_a_pending_commission(
    hung_ledger,
):
    lg = hung_ledger
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    started = time.monotonic()
    sold = sell(lg, dealer)
    assert time.monotonic() - started < 5
    assert settled(lg) == [(sold, "1", True)]  # kept, its commission pending
    why = _pending_reason(lg, sold)
    assert "'ua-rules' did not answer within 0.3 seconds" in why
    assert "nothing was appended" not in why  # the sale was
    UaLoyaltyHung.release.set()  # it answers now: a later read computes it
    assert reasons(lg) == [] and settled(lg) == [(sold, "1", False)]


def _pending_reason(lg, sold: int) -> str:
    from ledger.schema import CommissionSaleRow

    with lg.store.reader() as s:
        return s.get(CommissionSaleRow, sold).pending


def test_sales_go_on_after_one_hung_commission_at_logging(hung_ledger):
    # The first sale keeps its commission pending; later sales with a referral code
    # are still appended (a first fix refused them all while the thread hung).
    amy, dealer = referrer(hung_ledger), onboard(hung_ledger, "bay-auto", "dealer")
    refer(hung_ledger, amy)
    first = sell(hung_ledger, dealer)  # each asserts its sale was appended
    second = sell(hung_ledger, dealer, odometer_km=61_000, occurred_at="2026-06-02T10:00:00Z")
    assert second > first
