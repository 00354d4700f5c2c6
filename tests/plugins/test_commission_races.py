"""Commissions settled by another process while a read lists or settles them (the rule
runs outside any transaction, so the database may change between the read and the
write): a listing shows every sale once, and a pending sale bound meanwhile to another
rule version is not settled by this process's version. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, event, text

from ledger.schema import CommissionRow, CommissionSaleRow, ReferralRow
from tests.conftest import fresh_pg_database, make_ledger
from tests.plugins.test_referrals_concurrency import sold


@pytest.fixture(params=["sqlite", "postgres"])
def lg(request, tmp_path):
    if request.param == "sqlite":
        led = make_ledger(tmp_path / "data", f"sqlite:///{tmp_path}/l.db")
        yield led
        led.close()
        return
    with fresh_pg_database("vinledger_races") as url:
        led = make_ledger(tmp_path / "data", url)
        yield led
        led.close()


def pending(lg, index: int, why: str, version: str | None = "1") -> None:
    with lg.store.writer.begin() as s:
        s.query(CommissionRow).filter_by(sale_idx=index).delete()
        s.query(CommissionSaleRow).filter_by(sale_idx=index).update(
            {"pending": why, "rule_version": version}
        )


def test_a_sale_settled_elsewhere_while_a_statement_is_read_is_listed(lg, monkeypatch):
    # PostgreSQL's READ COMMITTED gave the paid and the pending query a snapshot each:
    # a sale settled between them was in neither.
    index = sold(lg)
    pending(lg, index, "commission rule 'flat' failed: boom")

    def broken(*args):
        raise RuntimeError("boom")  # it fails in this process this time

    monkeypatch.setattr(lg.plugins.rule("flat"), "compute", broken)
    other = create_engine(lg.store.url)  # another process's reader, settling it
    fired = []

    def settle_elsewhere(conn, cursor, statement, params, context, executemany):
        if not fired and "FROM commission_sales JOIN referrals" in statement:
            fired.append(statement)
            with other.begin() as c:
                c.execute(
                    text("UPDATE commission_sales SET pending = NULL WHERE sale_idx = :i"),
                    {"i": index},
                )
                c.execute(
                    text(
                        "INSERT INTO commissions (sale_idx, level, code, dealer, beneficiary,"
                        " amount, currency, rule, rule_version) VALUES (:i, 1, 'SPRING-26',"
                        " 'bay-auto', 'ref-amy', '150.00', 'EUR', 'flat', '1')"
                    ),
                    {"i": index},
                )

    event.listen(lg.store.read_engine, "before_cursor_execute", settle_elsewhere)
    try:
        rows = lg.commissions(lg.settings.admin_token())
    finally:
        event.remove(lg.store.read_engine, "before_cursor_execute", settle_elsewhere)
        other.dispose()
    assert fired
    assert [c["sale"] for c in rows] == [index], rows


def test_a_pending_sale_bound_to_another_version_meanwhile_is_left_to_it(lg, monkeypatch):
    # A referral older than rule versions, its rule missing at the sale: the first
    # version installed computes it. Another process (1.1) fails on it meanwhile and so
    # binds it to 1.x; this process (2.0) must not settle it by 2.0.
    index = sold(lg)
    with lg.store.writer.begin() as s:
        s.query(ReferralRow).update({"rule_version": None})
    pending(lg, index, "commission rule 'flat' is not installed on this ledger", None)
    rule = lg.plugins.rule("flat")
    monkeypatch.setattr(rule, "version", "2.0")
    compute = rule.compute
    other = create_engine(lg.store.url)

    def while_another_binds_it_to_1(*args):
        with other.begin() as c:
            c.execute(
                text(
                    "UPDATE commission_sales SET rule_version = '1.1', pending = "
                    "'commission rule ''flat'' version 1.1 failed: timeout' WHERE sale_idx = :i"
                ),
                {"i": index},
            )
        return compute(*args)

    monkeypatch.setattr(rule, "compute", while_another_binds_it_to_1)
    try:
        lg.commissions(lg.settings.admin_token())
    finally:
        other.dispose()
    with lg.store.reader() as s:
        row = s.get(CommissionSaleRow, index)
        paid = s.query(CommissionRow).filter_by(sale_idx=index).all()
    assert (row.rule_version, paid) == ("1.1", []), (row.rule_version, row.pending, paid)
