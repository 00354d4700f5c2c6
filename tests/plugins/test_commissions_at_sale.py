"""A sale's commissions are computed as the sale is logged, in its transaction, by the
rule version installed then (plugins/commission_settling.py ``CommissionRecorder``,
through ledger/sequencer.py's follows); pending, never lost, when the rule fails or is
gone; kept as the earlier release stored them; and an entry that a plugin's output
makes too large names the plugin.

Each ledger here is a process of one database: closing it and opening another with
other rule plugins is a restart with another version installed.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, delete, inspect, select, text

from api.config import create_data_dir
from api.service import Ledger
from core import dsse
from core.errors import PluginFailed, TooLarge
from core.keys import generate_private_key
from ledger.schema import (
    Base,
    CommissionBacklogRow,
    CommissionRow,
    CommissionSaleRow,
    ReferralRow,
    upgrade_schema,
)
from ledger.sequencer import Appended
from ledger.storage import Store, log_size
from plugins.commission_settling import CommissionRecorder
from plugins.hookspecs import hookimpl
from plugins.interfaces import Commission, CommissionRule
from plugins.manager import create_plugin_manager
from plugins.referrals import PAYLOAD_TYPE
from plugins.registry import Registry
from tests.conftest import VIN, Partner, filed_when_dated, inspection, onboard

# ---- one rule, in the versions a ledger may have installed --------------------------------


class UaLoyalty(CommissionRule):
    """A fixed fee to the referrer; each version pays another amount."""

    id = "ua-loyalty"
    version = "1"
    amount = Decimal("100")
    currency: str | None = None  # pays only on sales in it; None: on every sale

    def validate(self, params):
        return {}

    def compute(self, referral, sale):
        if self.currency is not None and sale.currency != self.currency:
            return []
        return [Commission(referral.referrer, self.amount, "EUR", 1, self.id, self.version)]


class UaLoyaltyFix(UaLoyalty):
    version = "1.1"
    amount = Decimal("110")


class UaLoyalty2(UaLoyalty):
    version = "2"
    amount = Decimal("250")


class UaLoyaltyInDollars(UaLoyalty):
    currency = "USD"


class UaLoyaltyBroken(UaLoyalty):
    """Computes while the sale is checked, and raises once it is being logged."""

    def compute(self, referral, sale):
        if sale.index != -1:
            raise KeyError("tier")
        return super().compute(referral, sale)


class UaLoyalty2Broken(UaLoyaltyBroken):
    version = "2"


class Rules:
    def __init__(self, *rules: CommissionRule):
        self.rules = list(rules)

    @hookimpl
    def register_commission_rules(self):
        return self.rules


# ---- ledgers, one database ------------------------------------------------------------------


def record_at_sale(ledger: Ledger) -> Ledger:
    """The ledger's sequencer with ``CommissionRecorder`` among its follows, as
    ``api.service.Ledger`` wires it next to ``ClaimDecider`` (left as it is if so)."""
    seq = ledger.sequencer
    if not any(isinstance(f, CommissionRecorder) for f in seq.follows):
        seq.follows = (*seq.follows, CommissionRecorder(ledger.plugins))
    return ledger


@pytest.fixture
def settings(tmp_path, database_url):
    """A ledger's data directory and database (SQLite, PostgreSQL), with its genesis."""
    settings = create_data_dir(
        tmp_path / "data", origin="test.vinledger.localhost/log", database_url=database_url
    )
    store = Store(database_url)
    store.create_schema()
    lg = Ledger(settings, store, registry=Registry(create_plugin_manager(load_entry_points=False)))
    lg.genesis()
    lg.close()
    return settings


@pytest.fixture
def running(settings):
    """``running(*rules)``: the ledger started with these rule plugins; each call a
    restart (the ledger before it is closed)."""
    opened: list[Ledger] = []

    def start(*rules: CommissionRule, recording: bool = True) -> Ledger:
        while opened:
            opened.pop().close()
        pm = create_plugin_manager(load_entry_points=False)
        pm.register(Rules(*rules), name="ua-rules")
        lg = Ledger(settings, Store(settings.database_url), registry=Registry(pm))
        opened.append(record_at_sale(lg) if recording else lg)
        return lg

    yield start
    while opened:
        opened.pop().close()


def referrer(ledger: Ledger, actor_id: str = "ref-amy") -> Partner:
    p = Partner(actor_id, "referrer", generate_private_key())
    ledger.add_actor(actor_id, actor_id.title(), "referrer", p.public_pem)
    return p


def refer(ledger: Ledger, who: Partner, code: str = "UA-AMY", rule: str = "ua-loyalty") -> None:
    body = {"code": code, "rule": rule, "params": {}, "model": "1HG/2003", "region": "UA-30"}
    env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
    ledger.create_referral(dsse.encode_envelope(env))


def sale(code: str | None = "UA-AMY", **extra) -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "price": {"amount": "20000.00", "currency": "EUR"},
        "referral_code": code,
        **extra,
    }


def sell(ledger: Ledger, dealer: Partner, **extra) -> int:
    (outcome,) = ledger.submit_now([dealer.envelope(sale(**extra))])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


def read(ledger: Ledger, token: str | None = None, as_of: str = "2026-06-02") -> list[tuple]:
    from datetime import date

    token = token or ledger.settings.admin_token()
    return [
        (c["sale"], c["beneficiary"], c["amount"], c["rule"], c["rule_version"], c["status"])
        for c in ledger.commissions(token, date.fromisoformat(as_of))
    ]


def reasons(ledger: Ledger) -> list[str]:
    from datetime import date

    token = ledger.settings.admin_token()
    return [c["reason"] for c in ledger.commissions(token, date(2026, 6, 5)) if c["reason"]]


def settled(ledger: Ledger) -> list[tuple]:
    """What the database holds for each sale, read without computing anything."""
    with ledger.store.reader() as s:
        return [
            (r.sale_idx, r.rule_version, r.pending is not None)
            for r in s.scalars(select(CommissionSaleRow).order_by(CommissionSaleRow.sale_idx))
        ]


def forget(ledger: Ledger, sale_idx: int) -> None:
    """As for a sale logged before commissions were computed at the sale: no rows."""
    with ledger.store.writer.begin() as s:
        s.execute(delete(CommissionRow).where(CommissionRow.sale_idx == sale_idx))
        s.execute(delete(CommissionSaleRow).where(CommissionSaleRow.sale_idx == sale_idx))


def as_the_earlier_release_left_it(ledger: Ledger) -> None:
    """The earlier release stored a sale's commissions on the first read of them, and
    nothing else: no ``commission_sales`` row, no backlog."""
    with ledger.store.writer.begin() as s:
        s.execute(delete(CommissionSaleRow))
        s.execute(delete(CommissionBacklogRow))


def stored_by_the_earlier_release(ledger: Ledger, sale_idx: int) -> None:
    """What a process of the earlier release, still serving during a rolling upgrade,
    stores as it reads the commissions of a sale that has no ``commissions`` rows:
    computed by the version it has installed, in its own transaction."""
    with ledger.store.writer.begin() as s:
        s.add(
            CommissionRow(
                sale_idx=sale_idx,
                level=1,
                code="UA-AMY",
                dealer="bay-auto",
                beneficiary="ref-amy",
                amount="100.00",
                currency="EUR",
                rule="ua-loyalty",
                rule_version="1",
            )
        )


class UaLoyaltyRaced(UaLoyaltyFix):
    """Computes a logged sale only once a process of the earlier release has stored
    the sale's commission meanwhile."""

    ledger: Ledger

    def compute(self, referral, sale):
        if sale.index != -1:
            stored_by_the_earlier_release(self.ledger, sale.index)
        return super().compute(referral, sale)


def race_the_earlier_release(running, ledger: Ledger) -> Ledger:
    """The ledger restarted with ``UaLoyaltyRaced``; PostgreSQL only, as SQLite's
    writers take turns (BEGIN IMMEDIATE): no other process writes while one reads."""
    assert not ledger.store.is_sqlite, "PostgreSQL only (ON_POSTGRESQL)"
    rule = UaLoyaltyRaced()
    rule.ledger = running(rule)
    return rule.ledger


def made_before_versions_were_recorded(ledger: Ledger, code: str = "UA-AMY") -> None:
    """As a referral made before referrals recorded their rule's version."""
    with ledger.store.writer.begin() as s:
        s.get(ReferralRow, code).rule_version = None


def size(ledger: Ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


# ---- computed at the sale, kept whatever is installed later ---------------------------------


def test_a_commission_keeps_the_rule_version_installed_at_its_sale(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)  # nobody reads the commissions before the upgrade
    assert settled(lg) == [(sold, "1", False)]  # stored in the sale's own transaction

    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]


def test_a_sale_that_earned_nothing_is_not_computed_again_by_a_later_version(running):
    lg = running(UaLoyaltyInDollars())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)  # in EUR: version 1 pays only in USD
    lg = running(UaLoyalty2())
    assert read(lg) == []
    assert settled(lg) == [(sold, "1", False)]


def test_a_referral_records_the_rule_version_it_was_made_under(running):
    lg = running(UaLoyalty())
    refer(lg, referrer(lg))
    with lg.store.reader() as s:
        assert s.get(ReferralRow, "UA-AMY").rule_version == "1"


def test_the_ledger_records_commissions_as_each_sale_is_logged(running):
    """``api.service.Ledger`` itself wires the recorder: a sale's commissions are in
    the database before anyone reads them."""
    lg = running(UaLoyalty(), recording=False)
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    assert settled(lg) == [(sold, "1", False)]


def test_a_returned_sale_voids_the_commission_computed_at_the_sale(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer, policies=[{"id": "return-7d"}])
    back = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-04T09:00:00Z",
        "odometer_km": 48_100,
        "sale": sold,
        "policy": "return-7d",
    }
    with filed_when_dated(lg, back):
        (outcome,) = lg.submit_now([dealer.envelope(back)])
    assert isinstance(outcome, Appended), outcome
    assert read(lg, as_of="2026-06-03")[0][-1] == "held"
    assert read(lg, as_of="2026-06-30")[0][-1] == "voided"


def test_a_disputed_sale_pays_nothing_while_the_dispute_is_open(running):
    """A sale recorded wrongly is disputed and recorded again: the old sale's commission
    must not stay payable beside the new one's."""
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    dispute = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-06-10T09:00:00Z",
        "disputes": sold,
        "reason": "the sale was dated wrongly",
    }
    with filed_when_dated(lg, dispute):
        lg.operator_submit(json.dumps(dispute).encode())
    assert read(lg, as_of="2026-06-09")[0][-1] == "payable"
    assert read(lg, as_of="2026-06-30")[0][-1] == "disputed"
    resolved = {**dispute, "occurred_at": "2026-07-01T09:00:00Z", "status": "resolved"}
    with filed_when_dated(lg, resolved):
        lg.operator_submit(json.dumps(resolved).encode())
    assert read(lg, as_of="2026-07-02")[0][-1] == "payable"


# ---- pending, never lost ----------------------------------------------------------------------


def test_a_sale_whose_rule_is_gone_when_it_is_logged_is_kept_with_a_pending_commission(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    rival = onboard(lg, "rival", "dealer")
    refer(lg, amy)
    checked = lg.check(dealer.envelope(sale()))  # the referral is checked, then...

    lg = running()  # ...the rule is disabled before the sale is logged
    (outcome,) = lg.sequencer.sequence([checked])
    assert isinstance(outcome, Appended), outcome  # the sale is not lost
    sold = outcome.index
    assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]
    (why,) = reasons(lg)
    assert "'ua-loyalty' version 1 is not installed" in why
    # The dealer and the referrer see it; nobody else does.
    for who in ("bay-auto", "ref-amy"):
        assert [c[-1] for c in read(lg, lg.issue_token(who))] == ["pending"]
    assert read(lg, lg.issue_token(rival.actor_id)) == []

    lg = running(UaLoyalty2())  # another major version never computes it
    assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]
    (why,) = reasons(lg)
    assert "version 2 is installed" in why and "version 1" in why

    lg = running(UaLoyaltyFix())  # the same major version does, once
    assert read(lg) == [(sold, "ref-amy", "110.00", "ua-loyalty", "1.1", "held")]
    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, "ref-amy", "110.00", "ua-loyalty", "1.1", "held")]


def test_a_rule_that_fails_as_the_sale_is_logged_leaves_a_pending_commission(running):
    lg = running(UaLoyaltyBroken())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    before = size(lg)
    sold = sell(lg, dealer)
    assert size(lg) > before
    assert settled(lg) == [(sold, "1", True)]
    (why,) = reasons(lg)
    assert "'ua-loyalty' version 1 failed" in why and "'ua-rules'" in why and "tier" in why
    assert "nothing was appended" not in why  # the sale was

    lg = running(UaLoyalty())
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]


# ---- sales logged before this: computed once, never searched for again --------------------------


def test_a_sale_from_before_is_computed_on_the_first_read_and_the_log_not_read_again(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    forget(lg, sold)
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    # Reads after the first look only at sales logged since: this one is not found again.
    forget(lg, sold)
    assert read(lg) == []


def test_a_sale_from_before_waits_for_its_referrals_major_version(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    forget(lg, sold)
    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]


# ---- kept as the earlier release stored them ----------------------------------------------


def test_reading_after_the_upgrade_does_not_store_the_earlier_releases_commissions_again(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    as_the_earlier_release_left_it(lg)

    lg = running(UaLoyalty())  # the same version: it would compute the same rows
    for _ in range(2):
        assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    assert settled(lg) == [(sold, "1", False)]


def test_commissions_the_earlier_release_stored_on_a_read_are_kept_as_stored(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    read_then = sell(lg, dealer)
    logged_since = sell(lg, dealer, occurred_at="2026-06-03T10:00:00Z")
    as_the_earlier_release_left_it(lg)
    forget(lg, logged_since)  # logged after the earlier release last read: never computed

    lg = running(UaLoyalty2())  # would leave both pending: not the referral's version
    assert read(lg) == [
        (read_then, "ref-amy", "100.00", "ua-loyalty", "1", "held"),
        (logged_since, None, None, "ua-loyalty", "1", "pending"),
    ]
    lg = running(UaLoyaltyFix())  # would compute 110.00 for both
    assert read(lg) == [
        (read_then, "ref-amy", "100.00", "ua-loyalty", "1", "held"),
        (logged_since, "ref-amy", "110.00", "ua-loyalty", "1.1", "held"),
    ]
    assert settled(lg) == [(read_then, "1", False), (logged_since, "1.1", False)]


def test_a_pending_commission_a_process_of_the_earlier_release_computed_is_kept(running):
    lg = running(UaLoyaltyBroken())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    assert settled(lg) == [(sold, "1", True)]
    stored_by_the_earlier_release(lg, sold)  # it has no commissions row

    lg = running(UaLoyalty2())  # would keep it pending: not the referral's version
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    assert settled(lg) == [(sold, "1", False)]
    lg = running(UaLoyaltyFix())  # would compute 110.00
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]


# SQLite's writers take turns: no other process writes while one reads the commissions.
ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


@ON_POSTGRESQL
def test_a_sale_from_before_stored_by_the_earlier_release_while_computed_is_kept(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)
    forget(lg, sold)

    lg = race_the_earlier_release(running, lg)
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    assert settled(lg) == [(sold, "1", False)]


@ON_POSTGRESQL
def test_a_pending_commission_stored_by_the_earlier_release_while_computed_is_kept(running):
    lg = running(UaLoyaltyBroken())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    sold = sell(lg, dealer)

    lg = race_the_earlier_release(running, lg)
    assert read(lg) == [(sold, "ref-amy", "100.00", "ua-loyalty", "1", "held")]
    assert settled(lg) == [(sold, "1", False)]


# ---- an entry too large: whose fault ----------------------------------------------------------


def _terms(policy: str, summary: str) -> dict:
    return {
        "policy": policy,
        "version": "3",
        "kind": "warranty",
        "starts": "2026-06-01",
        "ends": "2026-09-01",
        "km_limit": None,
        "components": [],
        "exclusions": [],
        "summary": summary,
    }


def test_terms_that_make_a_sale_too_large_fail_the_policy_and_keep_nothing(running):
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    checked = lg.check(dealer.envelope(sale()))
    terms = [_terms("short-terms", "One sentence."), _terms("long-terms", "x" * 70_000)]
    before = size(lg)
    (outcome,) = lg.sequencer.sequence([dataclasses.replace(checked, derived={"terms": terms})])
    assert isinstance(outcome, PluginFailed), outcome
    assert outcome.status == 500 and outcome.plugin == "long-terms"
    assert "'long-terms' (version 3)" in str(outcome) and "attachments" not in str(outcome)
    assert size(lg) == before
    assert settled(lg) == []  # no commission for a sale that was not logged


def test_a_normalised_inspection_that_makes_the_entry_too_large_fails_its_provider(running):
    lg = running()
    inspector = onboard(lg, "acme", "inspector")
    checked = lg.check(inspector.envelope(inspection()))
    record = {**inspection(), "notes": "n" * 70_000}
    derived = {"provider": "autoscope/1", "record": record}
    (outcome,) = lg.sequencer.sequence([dataclasses.replace(checked, derived=derived)])
    assert isinstance(outcome, PluginFailed) and outcome.plugin == "autoscope", outcome
    assert "'autoscope/1'" in str(outcome)


def test_a_submission_too_large_by_itself_is_still_the_submitters_to_fix(running):
    lg = running()
    inspector = onboard(lg, "acme", "inspector")
    items = [{"code": f"c{n}", "result": "ok", "note": "n" * 400} for n in range(130)]
    (outcome,) = lg.submit_now([inspector.envelope(inspection(items=items))])
    assert isinstance(outcome, TooLarge) and "attachments" in str(outcome), outcome


# ---- a database made before referrals recorded their rule version ---------------------------


def test_upgrade_schema_adds_what_an_earlier_database_lacks(database_url):
    engine = create_engine(database_url)
    new = {"referrals", "commission_sales", "commission_backlog"}
    Base.metadata.create_all(engine, [t for t in Base.metadata.sorted_tables if t.name not in new])
    with engine.begin() as c:  # the referrals table as the earlier release made it
        c.execute(
            text(
                "CREATE TABLE referrals (code VARCHAR(64) PRIMARY KEY, referrer VARCHAR(64) "
                "REFERENCES actors (actor_id), upline VARCHAR(64), rule VARCHAR(64), "
                "params TEXT, model VARCHAR(64), region VARCHAR(64), "
                "created_at TIMESTAMP WITH TIME ZONE)"
            )
        )
    upgrade_schema(engine)
    upgrade_schema(engine)  # and again, at the next start: nothing to do
    found = inspect(engine)
    assert new <= set(found.get_table_names())
    assert "rule_version" in {c["name"] for c in found.get_columns("referrals")}
    engine.dispose()


def test_a_referral_from_before_waits_for_the_version_installed_at_its_sale(running):
    lg = running(UaLoyaltyBroken())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    made_before_versions_were_recorded(lg)
    sold = sell(lg, dealer)
    assert settled(lg) == [(sold, "1", True)]

    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, None, None, "ua-loyalty", "1", "pending")]
    lg = running(UaLoyaltyFix())
    assert read(lg) == [(sold, "ref-amy", "110.00", "ua-loyalty", "1.1", "held")]


def test_a_referral_from_before_whose_rule_was_gone_at_the_sale_takes_the_first_back(running):
    """No version is known to wait for: the first one installed computes it, or else is
    the one it waits for; the reason tells the operator so."""
    lg = running(UaLoyalty())
    amy, dealer = referrer(lg), onboard(lg, "bay-auto", "dealer")
    refer(lg, amy)
    made_before_versions_were_recorded(lg)
    checked = lg.check(dealer.envelope(sale()))

    lg = running()  # the rule is gone as the sale is logged
    (outcome,) = lg.sequencer.sequence([checked])
    assert isinstance(outcome, Appended), outcome
    sold = outcome.index
    assert read(lg) == [(sold, None, None, "ua-loyalty", None, "pending")]
    (why,) = reasons(lg)
    assert "made before referrals recorded their rule's version" in why
    assert "the first version of the rule installed will compute it" in why

    lg = running(UaLoyalty2Broken())  # the first back fails: now it waits for version 2
    assert read(lg) == [(sold, None, None, "ua-loyalty", "2", "pending")]
    lg = running(UaLoyalty())
    assert read(lg) == [(sold, None, None, "ua-loyalty", "2", "pending")]
    lg = running(UaLoyalty2())
    assert read(lg) == [(sold, "ref-amy", "250.00", "ua-loyalty", "2", "held")]
