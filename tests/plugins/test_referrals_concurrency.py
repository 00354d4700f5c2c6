"""plugins/referrals.py and plugins/commission_settling.py under concurrent requests,
on SQLite and on PostgreSQL.

Each test holds two requests at a rule call until both have read the database, so
that both go on to write what only one of them may: the same referral code, or the
same sale's commissions (a sale from before they were computed at the sale, or a
pending one). A rule's plugin code runs between two transactions, never inside one,
so on both databases both requests reach it together; what each then writes is read
again, or guarded, in the short transaction that stores it. And a rule that takes
its time holds up no submission to the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import pytest
from sqlalchemy import create_engine, delete, text

from core import dsse
from core.errors import KeyRevoked, VinledgerError
from core.keys import generate_private_key
from ledger.schema import CommissionBacklogRow, CommissionRow, CommissionSaleRow
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, fresh_pg_database, inspection, make_ledger, onboard

WAIT = 1.0  # seconds the first request waits for the second at the barrier


def referrer(ledger, actor_id) -> Partner:
    p = Partner(actor_id, "referrer", generate_private_key())
    ledger.add_actor(actor_id, actor_id.title(), "referrer", p.public_pem)
    return p


def referral(who: Partner, code: str) -> bytes:
    body = {
        "code": code,
        "rule": "flat",
        "params": {"amount": "150", "currency": "EUR"},
        "model": "1HG/2003",
        "region": "US-CA",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
    return dsse.encode_envelope(env)


def hold_at(monkeypatch, rule, method: str) -> None:
    """``rule.method`` waits until two requests are in it (or WAIT has passed)."""
    barrier = threading.Barrier(2)
    original = getattr(rule, method)

    def held(*args):
        # On SQLite the other request waits for the write lock, and the barrier breaks.
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=WAIT)
        return original(*args)

    monkeypatch.setattr(rule, method, held)


def at_once(*calls) -> list[Any]:
    """Each call's result, or the HTTP status it would be answered with."""
    out: list[Any] = [None] * len(calls)

    def run(n, call):
        try:
            out[n] = call()
        except VinledgerError as err:
            out[n] = err.status
        except Exception as err:  # what the API answers as 500
            out[n] = (500, f"{type(err).__name__}: {err}")

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return out


def test_one_code_created_twice_at_once_is_one_referral_and_one_409(ledger, monkeypatch):
    amy, bob = referrer(ledger, "ref-amy"), referrer(ledger, "ref-bob")
    hold_at(monkeypatch, ledger.plugins.rule("flat"), "validate")
    results = at_once(
        lambda: ledger.create_referral(referral(amy, "SPRING-26")),
        lambda: ledger.create_referral(referral(bob, "SPRING-26")),
    )
    created = [r for r in results if isinstance(r, dict)]
    assert len(created) == 1 and [r for r in results if r is not created[0]] == [409], results


def test_the_same_code_asked_for_twice_at_once_by_its_referrer_is_its_code_both_times(
    ledger, monkeypatch
):
    """A retry sent while the first request still runs: on PostgreSQL both get past the
    read, one stores the code and the other's insert clashes; it reads again and gets
    the code, not "taken; choose another"."""
    amy = referrer(ledger, "ref-amy")
    hold_at(monkeypatch, ledger.plugins.rule("flat"), "validate")
    envelope = referral(amy, "SPRING-26")
    results = at_once(
        lambda: ledger.create_referral(envelope), lambda: ledger.create_referral(envelope)
    )
    assert all(isinstance(r, dict) for r in results), results
    assert sorted(r["created"] for r in results) == [False, True]
    assert {r["code"] for r in results} == {"SPRING-26"}


def sold(ledger) -> int:
    """A sale naming SPRING-26, a code of ref-amy's; its index."""
    amy = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    ledger.create_referral(referral(amy, "SPRING-26"))
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-06-01T10:00:00Z",
        "dealer": "bay-auto",
        "price": {"amount": "20000.00", "currency": "EUR"},
        "referral_code": "SPRING-26",
    }
    (outcome,) = ledger.submit_now([dealer.envelope(sale)])
    assert not isinstance(outcome, Exception), outcome
    return outcome.index


def read_twice_at_once(ledger) -> None:
    """Both readers are answered, alike, and the commission is stored once."""
    admin = ledger.settings.admin_token()
    first, second = at_once(lambda: ledger.commissions(admin), lambda: ledger.commissions(admin))
    assert isinstance(first, list) and isinstance(second, list), (first, second)
    stored = [(c["sale"], c["beneficiary"], c["amount"]) for c in first]
    assert stored == [(c["sale"], c["beneficiary"], c["amount"]) for c in second]
    assert [(who, amount) for _, who, amount in stored] == [("ref-amy", "150.00")]
    assert len(ledger.commissions(admin)) == 1


def test_a_sale_from_before_read_twice_at_once_is_stored_once(ledger, monkeypatch):
    """A sale logged before commissions were computed at the sale has no rows: the
    first reads compute it."""
    index = sold(ledger)
    with ledger.store.writer.begin() as s:
        for table in (CommissionRow, CommissionSaleRow):
            s.execute(delete(table).where(table.sale_idx == index))
    hold_at(monkeypatch, ledger.plugins.rule("flat"), "compute")
    read_twice_at_once(ledger)


def test_a_pending_commission_read_twice_at_once_is_stored_once(ledger, monkeypatch):
    """As a sale logged while its rule was disabled, read once the rule is back."""
    index = sold(ledger)
    with ledger.store.writer.begin() as s:
        s.execute(delete(CommissionRow).where(CommissionRow.sale_idx == index))
        s.execute(delete(CommissionSaleRow).where(CommissionSaleRow.sale_idx == index))
        s.add(
            CommissionSaleRow(
                sale_idx=index,
                code="SPRING-26",
                dealer="bay-auto",
                rule="flat",
                rule_version="1",
                pending="commission rule 'flat' version 1 is not installed on this ledger",
            )
        )
        s.add(CommissionBacklogRow(id=1, next_idx=index + 1))
    hold_at(monkeypatch, ledger.plugins.rule("flat"), "compute")
    read_twice_at_once(ledger)


def test_two_referrals_for_one_slot_at_once_admit_one(ledger, monkeypatch):
    amy, bob = referrer(ledger, "ref-amy"), referrer(ledger, "ref-bob")

    def slot(who: Partner, code: str) -> bytes:
        body = {
            "code": code,
            "rule": "limited-slots",
            "params": {"amount": "150", "currency": "EUR", "slots": 1},
            "model": "1HG/2003",
            "region": "US-CA",
        }
        env = dsse.sign_envelope(json.dumps(body).encode(), who.key, payload_type=PAYLOAD_TYPE)
        return dsse.encode_envelope(env)

    hold_at(monkeypatch, ledger.plugins.rule("limited-slots"), "admit")
    results = at_once(
        lambda: ledger.create_referral(slot(amy, "AMY-26")),
        lambda: ledger.create_referral(slot(bob, "BOB-26")),
    )
    created = [r for r in results if isinstance(r, dict)]
    assert len(created) == 1 and [r for r in results if r is not created[0]] == [409], results


def test_a_rule_judging_a_referral_holds_up_no_submission(sqlite_ledger, monkeypatch):
    """A rule's validate and admit run outside any transaction: on SQLite, whose
    writers are one at a time, a rule that takes its time would otherwise hold up every
    submission to the log until it answered (or its call timed out)."""
    ledger = sqlite_ledger
    amy, inspector = referrer(ledger, "ref-amy"), onboard(ledger, "acme", "inspector")
    judging, release = threading.Event(), threading.Event()
    rule = ledger.plugins.rule("flat")
    admit = rule.admit

    def slow_admit(*args):
        judging.set()
        release.wait(3)
        return admit(*args)

    monkeypatch.setattr(rule, "admit", slow_admit)
    made: list[Any] = []
    worker = threading.Thread(
        target=lambda: made.extend(
            at_once(lambda: ledger.create_referral(referral(amy, "SPRING-26")))
        )
    )
    worker.start()
    try:
        assert judging.wait(WAIT * 5)
        started = time.monotonic()
        (outcome,) = asyncio.run(ledger.submit([inspector.envelope(inspection())]))
        took = time.monotonic() - started
    finally:
        release.set()
        worker.join(timeout=30)
    assert outcome.created and took < 1.5, took
    assert made and made[0]["created"] and made[0]["code"] == "SPRING-26", made


def unsettled(ledger, index: int, how: str) -> None:
    """Sale ``index`` as a read finds it: ``pending`` (its rule failed as it was logged)
    or ``from before`` (logged before commissions were computed at the sale)."""
    with ledger.store.writer.begin() as s:
        s.execute(delete(CommissionRow).where(CommissionRow.sale_idx == index))
        s.execute(delete(CommissionSaleRow).where(CommissionSaleRow.sale_idx == index))
        if how == "pending":
            why = "commission rule 'flat' version 1.1 failed: it did not answer"
            s.add(CommissionSaleRow(sale_idx=index, code="SPRING-26", dealer="bay-auto",
                                    rule="flat", rule_version="1", pending=why))  # fmt: skip
            s.add(CommissionBacklogRow(id=1, next_idx=index + 1))


@pytest.mark.parametrize("how", ["pending", "from before"])
def test_a_rule_settling_a_commission_on_a_read_holds_up_no_submission(
    sqlite_ledger, monkeypatch, how
):
    """A read of the commissions runs the rule of a pending sale, or of a sale logged
    before, outside any transaction and stores what it computed in a short one: on
    SQLite a rule that takes its time would otherwise hold up every submission."""
    ledger = sqlite_ledger
    index = sold(ledger)
    unsettled(ledger, index, how)
    inspector = onboard(ledger, "acme", "inspector")
    computing, release = threading.Event(), threading.Event()
    rule = ledger.plugins.rule("flat")
    compute = rule.compute

    def slow_compute(*args):
        computing.set()
        release.wait(3)
        return compute(*args)

    monkeypatch.setattr(rule, "compute", slow_compute)
    read: list[Any] = []
    admin = ledger.settings.admin_token()
    reading = threading.Thread(target=lambda: read.append(ledger.commissions(admin)))
    reading.start()
    try:
        assert computing.wait(WAIT * 5)
        started = time.monotonic()
        (outcome,) = asyncio.run(ledger.submit([inspector.envelope(inspection())]))
        took = time.monotonic() - started
    finally:
        release.set()
        reading.join(timeout=30)
    assert outcome.created and took < 1.5, took
    assert [(c["sale"], c["amount"], c["status"]) for c in read[0]] == [
        (index, "150.00", "payable")
    ]


@pytest.fixture
def pg_ledger(tmp_path):
    with fresh_pg_database("vinledger_revoke") as url:
        lg = make_ledger(tmp_path / "data", url)
        yield lg
        lg.close()


def test_a_key_revoked_while_its_referral_waits_to_be_stored_is_refused(pg_ledger):
    """PostgreSQL: the referral's write waits for the codes lock (another referral being
    stored) while the operator revokes the key that signed it; once it has the lock it
    reads the key revoked. (SQLite's writers are one at a time: nothing waits there.)"""
    ledger = pg_ledger
    amy = referrer(ledger, "ref-amy")
    other = create_engine(ledger.store.url, isolation_level="AUTOCOMMIT")
    codes = text("SELECT pg_advisory_lock(hashtextextended('vinledger-codes', 0))")
    waiting = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
    try:
        with other.connect() as c:
            c.execute(codes)
            made: list[Any] = []

            def create() -> None:
                try:
                    made.append(ledger.create_referral(referral(amy, "SPRING-26")))
                except VinledgerError as err:
                    made.append(err)

            worker = threading.Thread(target=create)
            worker.start()
            deadline = time.monotonic() + 10
            while not c.execute(waiting).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
            ledger.revoke_key(amy.keyid, "stolen laptop")
            c.execute(text("SELECT pg_advisory_unlock(hashtextextended('vinledger-codes', 0))"))
            worker.join(timeout=30)
    finally:
        other.dispose()
    assert len(made) == 1 and isinstance(made[0], KeyRevoked), made
