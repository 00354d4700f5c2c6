"""Plugin calls at run time (plugins/registry.py, plugins/referrals.py,
plugins/commission_settling.py, api/service.py):

- every hook (terms, normalise, validate, admit, decide, compute) is waited for
  ``plugin_timeout_seconds`` at most, in its plugin's own bounded pool of daemon
  threads; a check that waits on a plugin does not hold asyncio's default executor;
- a referral's rule version binds every sale on its code, new ones too;
- a plugin's wrong answer is its failure (500 ``plugin-failed`` naming plugin and hook),
  a rule's failure while a sale is checked leaves the commission pending, and a
  refused parameter is a 422 for rules as for policies.

The same with a real server and a plugin that hangs: test_plugin_runtime_server.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from core import dsse
from core.errors import InvalidInput, InvalidRecord, PluginFailed, PluginTimedOut
from ledger.sequencer import Appended
from ledger.storage import Store
from plugins.hookspecs import hookimpl
from plugins.interfaces import InspectionProvider, Policy, Terms
from plugins.manager import create_plugin_manager
from plugins.referrals import PAYLOAD_TYPE
from plugins.registry import MAX_THREADS_PER_PLUGIN, DaemonPool, Registry
from tests.conftest import VIN, inspection, onboard, with_plugin
from tests.plugins import test_commissions_at_sale as at_sale
from tests.plugins.test_commissions_at_sale import (
    Rules,
    UaLoyalty,
    UaLoyalty2,
    UaLoyaltyFix,
    read,
    reasons,
    refer,
    referrer,
    sell,
    settled,
)

# The fixtures of test_commissions_at_sale: a database, and restarts with other rules.
settings = at_sale.settings
running = at_sale.running

# ---- the pool ---------------------------------------------------------------------------------


def test_a_pool_runs_work_on_at_most_its_size_of_daemon_threads_and_queues_the_rest():
    pool = DaemonPool("test-pool", 2)
    release = threading.Event()
    names: list[str] = []

    def stuck():
        names.append(threading.current_thread().name)
        assert threading.current_thread().daemon  # never joined at exit
        release.wait(10)
        return "late"

    first, second, third = (pool.submit(stuck) for _ in range(3))
    deadline = time.monotonic() + 5
    while len(names) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert names == ["test-pool", "test-pool"] and not third.running()  # queued
    assert third.cancel()  # its caller gave up: it never runs
    release.set()
    assert first.result(5) == second.result(5) == "late"
    assert pool.submit(lambda: 42).result(5) == 42  # the threads are kept, and reused
    assert names == ["test-pool", "test-pool"] and pool.busy == 0


# ---- every hook is bounded in time -------------------------------------------------------------


class Slow:
    """Each hook waits ``hold`` (an Event) for up to ``seconds``; ``calls`` counts."""

    def __init__(self):
        self.hold = threading.Event()
        self.seconds = 30.0
        self.calls = 0

    def wait(self):
        self.calls += 1
        self.hold.wait(self.seconds)


class SlowPolicy(Policy):
    id = "slow-terms"
    version = "1"
    kind = "warranty"
    slow = Slow()

    def terms(self, params, sale):
        self.slow.wait()
        day = sale.sold_at.date().isoformat()
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=day,
            ends=day,
            km_limit=None,
            summary="Covers the day of sale.",
        )

    def decide(self, terms, claim):
        raise AssertionError("not asked here")


class SlowProvider(InspectionProvider):
    id = "slow-report"
    version = "1"
    payload_type = "application/vnd.slow.report+json"
    slow = Slow()

    def normalise(self, payload):
        self.slow.wait()
        return json.loads(payload)


class SlowRule(UaLoyalty):
    id = "slow-rule"
    slow_validate = Slow()
    slow_admit = Slow()

    def validate(self, params):
        if params.get("slow"):
            self.slow_validate.wait()
        return {}

    def admit(self, referral, active):
        if referral.code.startswith("SLOW"):
            self.slow_admit.wait()


class SlowPlugin:
    @hookimpl
    def register_policies(self):
        return [SlowPolicy()]

    @hookimpl
    def register_inspection_providers(self):
        return [SlowProvider()]

    @hookimpl
    def register_commission_rules(self):
        return [SlowRule()]


@pytest.fixture
def slow_ledger(sqlite_ledger):
    for slow in (SlowPolicy.slow, SlowProvider.slow, SlowRule.slow_validate, SlowRule.slow_admit):
        slow.hold.clear()
        slow.calls = 0
    lg = with_plugin(sqlite_ledger, SlowPlugin(), "slow-plugin", call_timeout=0.3)
    yield lg
    for slow in (SlowPolicy.slow, SlowProvider.slow, SlowRule.slow_validate, SlowRule.slow_admit):
        slow.hold.set()
    lg.close()


def size(lg) -> int:
    with lg.store.reader() as s:
        from ledger.storage import log_size

        return log_size(s)


def submit(lg, raw: bytes):
    (outcome,) = asyncio.run(lg.submit([raw]))
    return outcome


def slow_sale() -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "policies": [{"id": "slow-terms"}],
    }


def test_a_slow_terms_is_a_503_and_its_late_answer_appends_nothing(slow_ledger):
    lg = slow_ledger
    dealer = onboard(lg, "bay-auto", "dealer")
    before = size(lg)
    started = time.monotonic()
    outcome = submit(lg, dealer.envelope(slow_sale()))
    assert time.monotonic() - started < 3
    assert isinstance(outcome, PluginTimedOut), outcome
    assert outcome.status == 503 and outcome.retry_after == 30
    assert outcome.plugin == "slow-plugin" and "slow-terms.terms" in str(outcome)
    SlowPolicy.slow.hold.set()  # it answers now, to no one
    time.sleep(0.5)
    assert size(lg) == before


def test_a_slow_normalise_is_a_503_not_a_request_held_for_ever(slow_ledger):
    lg = slow_ledger
    inspector = onboard(lg, "acme", "inspector")
    report = json.dumps(inspection()).encode()
    env = dsse.sign_envelope(report, inspector.key, payload_type=SlowProvider.payload_type)
    before = size(lg)
    started = time.monotonic()
    outcome = submit(lg, dsse.encode_envelope(env))
    assert time.monotonic() - started < 3
    assert isinstance(outcome, PluginTimedOut) and "slow-report.normalise" in str(outcome)
    SlowProvider.slow.hold.set()
    time.sleep(0.5)
    assert size(lg) == before


def referral(who, code: str, **params) -> bytes:
    body = {"code": code, "rule": "slow-rule", "params": params, "model": "1HG/2003"}
    body["region"] = "UA-30"
    env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
    return dsse.encode_envelope(env)


def test_a_slow_validate_or_admit_is_a_503_and_stores_no_referral(slow_ledger):
    lg = slow_ledger
    amy = referrer(lg)
    for raw, what in (
        (referral(amy, "AMY-1", slow=True), "slow-rule.validate"),
        (referral(amy, "SLOW-1"), "slow-rule.admit"),
    ):
        started = time.monotonic()
        with pytest.raises(PluginTimedOut, match=what):
            lg.create_referral(raw)
        assert time.monotonic() - started < 3
    SlowRule.slow_validate.hold.set()
    SlowRule.slow_admit.hold.set()
    time.sleep(0.3)
    from ledger.schema import ReferralRow

    with lg.store.reader() as s:
        assert s.query(ReferralRow).count() == 0
    assert lg.create_referral(referral(amy, "AMY-2"))["created"]  # back once it answers


def escaped_sale(dealer) -> bytes:
    """A sale whose JSON spells its kind with an escape: no "sale" among its bytes."""
    payload = json.dumps(slow_sale()).replace('"sale"', '"s\\u0061le"').encode()
    assert b'"sale"' not in payload
    return dsse.encode_envelope(dsse.sign_envelope(payload, dealer.key))


@pytest.mark.parametrize("spelled", ["plain", "escaped"])
def test_waiting_on_a_plugin_does_not_hold_asyncios_default_executor(slow_ledger, spelled):
    # The default executor of one thread: three checks that wait on the hung plugin
    # must leave it free for what else uses it (/readyz, other submissions' checks),
    # however the sale's JSON is spelled.
    lg = slow_ledger
    dealer = onboard(lg, "bay-auto", "dealer")
    make = (
        (lambda: dealer.envelope(slow_sale()))
        if spelled == "plain"
        else (lambda: escaped_sale(dealer))
    )
    raws = [make() for _ in range(3)]

    async def main():
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        sales = [asyncio.ensure_future(lg.submit([raw])) for raw in raws]
        await asyncio.sleep(0.05)
        started = time.monotonic()
        answer = await asyncio.get_running_loop().run_in_executor(None, lambda: "free")
        waited = time.monotonic() - started
        outcomes = [o for (o,) in await asyncio.gather(*sales)]
        return answer, waited, outcomes

    answer, waited, outcomes = asyncio.run(main())
    assert answer == "free" and waited < 0.2, waited
    assert all(isinstance(o, PluginTimedOut) for o in outcomes), outcomes


def test_a_plugin_holds_at_most_its_own_threads_and_others_go_on(slow_ledger):
    lg = slow_ledger
    dealer = onboard(lg, "bay-auto", "dealer")

    async def main():
        return await asyncio.gather(*(lg.submit([dealer.envelope(slow_sale())]) for _ in range(12)))

    outcomes = [o for (o,) in asyncio.run(main())]
    assert all(isinstance(o, PluginTimedOut) for o in outcomes)
    workers = [t for t in threading.enumerate() if t.name == "vinledger-plugin-slow-plugin"]
    assert len(workers) <= MAX_THREADS_PER_PLUGIN
    # A built-in policy's sale is not held behind the hung plugin.
    ok = dealer.envelope({**slow_sale(), "policies": [{"id": "return-7d"}]})
    started = time.monotonic()
    assert isinstance(submit(lg, ok), Appended)
    assert time.monotonic() - started < 2


# ---- a referral's rule version binds every sale on its code -------------------------------------


def test_a_new_sale_on_a_version_1_code_waits_for_version_1_with_version_2_installed(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)  # made under version 1

    lg = running(UaLoyalty2())  # the upgrade
    sold = sell(lg, dealer)  # logged, not refused
    assert settled(lg) == [(sold, "1", True)]  # pending: waits for version 1
    assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]
    (why,) = reasons(lg)
    assert "version 2 is installed; only version 1 (the referral's) computes it" in why

    # A code made after the upgrade binds version 2.
    ben = referrer(lg, "ref-ben")
    refer(lg, ben, code="UA-BEN")
    resold = sell(lg, dealer, referral_code="UA-BEN", occurred_at="2026-06-03T10:00:00Z")
    assert settled(lg) == [(sold, "1", True), (resold, "2", False)]

    lg = running(UaLoyaltyFix())  # version 1.1 back: the first sale is computed by it
    paid = read(lg)
    assert (sold, "ref-amy", "110.00", "ua-loyalty", "1.1", "held") in paid
    assert (resold, "ref-ben", "250.00", "ua-loyalty", "2", "held") in paid


def test_a_code_asked_for_again_after_an_upgrade_says_the_version_it_binds(running):
    lg = running(UaLoyalty())
    amy = referrer(lg)
    body = {"code": "UA-AMY", "rule": "ua-loyalty", "params": {}, "model": "1HG/2003",
            "region": "UA-30"}  # fmt: skip
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    first = lg.create_referral(dsse.encode_envelope(env))
    assert first["created"] and first["rule_version"] == "1"
    lg = running(UaLoyalty2())
    again = lg.create_referral(dsse.encode_envelope(env))  # a retry after a lost answer
    assert not again["created"] and again["rule_version"] == "1"  # not the installed 2


def test_a_minor_version_computes_a_new_sale_of_its_major(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    lg = running(UaLoyaltyFix())
    sold = sell(lg, dealer)
    assert settled(lg) == [(sold, "1.1", False)]


# ---- faults: statuses -------------------------------------------------------------------------


class Flaky(UaLoyalty):
    """``compute`` raises, or hangs, whenever it is called."""

    id = "flaky"
    hangs = threading.Event()  # set: hang instead of raising
    release = threading.Event()

    def validate(self, params):
        if params.get("typed") == "list":
            return ["not", "a", "dict"]
        if params.get("rate") == "bad":
            raise InvalidInput("rate must be a decimal from 0 to 1, not 'bad'", field="rate")
        return dict(params)

    def compute(self, referral, sale):
        if self.hangs.is_set():
            self.release.wait(30)
        else:
            raise KeyError("tier")
        return super().compute(referral, sale)


@pytest.fixture
def flaky_ledger(settings):
    Flaky.hangs.clear()
    Flaky.release.clear()
    from api.service import Ledger

    pm = create_plugin_manager(load_entry_points=False)
    pm.register(Rules(Flaky()), name="flaky-rules")
    lg = Ledger(settings, Store(settings.database_url), registry=Registry(pm, call_timeout=0.3))
    yield lg
    Flaky.release.set()
    lg.close()


def test_a_rule_failing_while_the_sale_is_checked_does_not_refuse_the_sale(flaky_ledger):
    lg = flaky_ledger
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy, code="FLAKY-1", rule="flaky")
    sold = sell(lg, dealer, referral_code="FLAKY-1")  # asserts it was appended
    assert settled(lg) == [(sold, "1", True)]
    (why,) = reasons(lg)
    assert "'flaky-rules' failed" in why and "KeyError" in why


def test_a_rule_hanging_while_the_sale_is_checked_does_not_refuse_the_sale(flaky_ledger):
    lg = flaky_ledger
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy, code="FLAKY-1", rule="flaky")
    Flaky.hangs.set()
    started = time.monotonic()
    sold = sell(lg, dealer, referral_code="FLAKY-1")
    assert time.monotonic() - started < 5
    assert settled(lg) == [(sold, "1", True)]
    Flaky.release.set()  # it answers now: a later read computes it
    time.sleep(0.3)
    assert reasons(lg) == [] and settled(lg) == [(sold, "1", False)]


def test_a_rule_returning_the_wrong_type_from_validate_is_its_failure(flaky_ledger):
    lg = flaky_ledger
    amy = referrer(lg)
    body = {"code": "F-1", "rule": "flaky", "params": {"typed": "list"}, "model": "1HG/2003"}
    env = dsse.sign_envelope(
        json.dumps({**body, "region": "UA-30"}).encode(), amy.key, payload_type=PAYLOAD_TYPE
    )
    with pytest.raises(PluginFailed) as err:
        lg.create_referral(dsse.encode_envelope(env))
    assert err.value.status == 500 and err.value.plugin == "flaky-rules"
    assert "flaky.validate returned list" in str(err.value)
    assert '"disabled_plugins": ["flaky-rules"]' in str(err.value)
    assert "commission rule 'flaky'" in str(err.value)  # what disabling it withdraws


def test_a_refused_rule_parameter_is_a_422_naming_it_as_a_policys_is(flaky_ledger):
    lg = flaky_ledger
    amy = referrer(lg)
    body = {"code": "F-1", "rule": "flaky", "params": {"rate": "bad"}, "model": "1HG/2003"}
    env = dsse.sign_envelope(
        json.dumps({**body, "region": "UA-30"}).encode(), amy.key, payload_type=PAYLOAD_TYPE
    )
    with pytest.raises(InvalidRecord) as err:
        lg.create_referral(dsse.encode_envelope(env))
    assert err.value.status == 422 and err.value.field == "rate"


class PlainRefusal(SlowPolicy):
    id = "plain-refusal"

    def terms(self, params, sale):
        raise InvalidInput("days must be 1 to 30", field="params.days")


class PlainRefusals:
    @hookimpl
    def register_policies(self):
        return [PlainRefusal()]


def test_a_policy_refusing_with_invalid_input_is_a_422_at_its_parameter(sqlite_ledger):
    lg = with_plugin(sqlite_ledger, PlainRefusals(), "plain")
    try:
        dealer = onboard(lg, "bay-auto", "dealer")
        outcome = submit(
            lg, dealer.envelope({**slow_sale(), "policies": [{"id": "plain-refusal"}]})
        )
        assert isinstance(outcome, InvalidRecord) and outcome.status == 422
        assert outcome.field == "$.policies[0].params.days"
    finally:
        lg.close()


# ---- a plugin that exits -----------------------------------------------------------------------


class ExitingPolicy(SlowPolicy):
    id = "exiting-terms"

    def terms(self, params, sale):
        raise SystemExit(3)  # as argparse.error() or sys.exit() in plugin code would


class ExitingPlugin:
    @hookimpl
    def register_policies(self):
        return [ExitingPolicy()]


def test_a_plugin_that_exits_fails_its_own_sale_only(sqlite_ledger):
    lg = with_plugin(sqlite_ledger, ExitingPlugin(), "exiting-plugin", call_timeout=5)
    dealer = onboard(lg, "bay-auto", "dealer")
    inspector = onboard(lg, "acme", "inspector")
    before = size(lg)
    sale = {**slow_sale(), "policies": [{"id": "exiting-terms"}]}
    outcomes = lg.submit_now(
        [inspector.envelope(inspection()), dealer.envelope(sale), inspector.envelope(
            inspection(km=50_000, day=5))]
    )  # fmt: skip
    first, failed, last = outcomes
    assert isinstance(first, Appended) and isinstance(last, Appended), outcomes
    assert isinstance(failed, PluginFailed) and failed.plugin == "exiting-plugin"
    assert "SystemExit" in str(failed)
    assert size(lg) == before + 2


# ---- a rule's refusal as the sale is logged ----------------------------------------------------


class Moody(UaLoyalty):
    """Fails at the sale's check, then refuses it as it is logged (a cap reached)."""

    id = "moody"
    calls = 0

    def compute(self, referral, sale):
        Moody.calls += 1
        if Moody.calls == 1:
            raise RuntimeError("flaky")
        raise InvalidRecord("the cap of sales this month is reached", field="referral_code")


def test_a_rule_that_refuses_the_sale_as_it_is_logged_refuses_it(running):
    """The check let the sale through (the rule failed: its commission would wait); as it
    is logged the rule answers, and refuses: the sale is refused, not logged pending."""
    from tests.plugins.test_commissions_at_sale import sale as sale_record

    Moody.calls = 0
    lg = running(Moody())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy, rule="moody")
    before = size(lg)
    (outcome,) = lg.submit_now([dealer.envelope(sale_record())])
    assert Moody.calls == 2
    assert isinstance(outcome, InvalidRecord) and "cap" in str(outcome), outcome
    assert size(lg) == before and read(lg) == []


class Capped(UaLoyalty):
    """Pays at the sale; later refuses (a monthly cap reached since)."""

    id = "ua-loyalty"
    refusing = False

    def compute(self, referral, sale):
        if Capped.refusing:
            raise InvalidRecord("the cap of sales this month is reached", field="referral_code")
        return super().compute(referral, sale)


def test_a_rule_refusing_a_sale_already_logged_leaves_it_pending_on_a_read(running):
    """A sale logged before commissions were computed at the sale is settled on a read;
    its rule's refusal then is why it waits, and no statement fails for it."""
    from tests.plugins.test_commissions_at_sale import as_the_earlier_release_left_it, forget

    lg = running(Capped())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    forget(lg, sold)
    as_the_earlier_release_left_it(lg)
    Capped.refusing = True
    try:
        assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]
        (why,) = reasons(lg)
        assert "cap of sales this month is reached" in why
    finally:
        Capped.refusing = False
