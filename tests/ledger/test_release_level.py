"""An older release never writes to a database a newer one has opened.

A rolling upgrade, or a rollback, leaves processes of two releases on one database; the
older could append what the newer one's checkers refuse (a claim dated before its sale,
say), and an append-only log cannot take that back. So the database remembers the
highest rules level that opened it, and a release below it refuses it: at start, and
inside the sequencer's lock for a process that was running when the newer one came."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient
from sqlalchemy import update

from api.app import create_app
from api.service import Ledger
from core.errors import NewerRelease
from ledger.schema import RULES_LEVEL, LogState
from ledger.storage import Store, log_size
from tests.conftest import VIN, inspection, onboard


def _set_level(ledger: Ledger, level: int | None) -> None:
    with ledger.store.writer.begin() as s:
        s.execute(update(LogState).where(LogState.id == 1).values(rules=level))


def _level(ledger: Ledger) -> int | None:
    with ledger.store.reader() as s:
        return s.get(LogState, 1).rules


def _size(ledger: Ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def test_a_new_ledger_and_one_an_earlier_release_made_carry_this_releases_level(ledger):
    assert _level(ledger) == RULES_LEVEL
    _set_level(ledger, None)  # as a release before levels left it
    again = Ledger(ledger.settings, Store(ledger.settings.database_url))
    try:
        assert _level(again) == RULES_LEVEL
    finally:
        again.close()


def test_a_database_a_newer_release_opened_is_refused_at_start(ledger):
    _set_level(ledger, RULES_LEVEL + 1)
    with pytest.raises(NewerRelease, match="newer vinledger release") as refused:
        Ledger(ledger.settings, Store(ledger.settings.database_url))
    assert "must not write to it" in str(refused.value) and refused.value.status == 503
    assert _level(ledger) == RULES_LEVEL + 1  # and not lowered


def test_a_running_older_process_stops_appending_when_a_newer_release_opens_the_database(
    ledger,
):
    shop = onboard(ledger, "acme", "inspector")
    before = _size(ledger)
    with TestClient(create_app(ledger)) as client:
        first = client.post("/records", content=shop.envelope(inspection(day=1)))
        assert first.status_code == 201, first.text
        _set_level(ledger, RULES_LEVEL + 1)  # a newer release started beside this one
        r = client.post("/records", content=shop.envelope(inspection(day=2)))
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["type"].endswith("/older-release")
        assert "Upgrade this installation" in r.json()["detail"]
        assert _size(ledger) == before + 1  # the refused one was not appended
        # Reads go on: the log is whole, only this process may not write to it.
        assert client.get(f"/vehicles/{VIN}/history").status_code == 200


def test_the_cli_of_an_older_release_says_so_in_one_line(tmp_path):
    from tests.conftest import vinledger

    data = tmp_path / "data"
    vinledger("init", data=data)
    from api.config import load_settings

    settings = load_settings(data)
    store = Store(settings.database_url)
    with store.writer.begin() as s:
        s.execute(update(LogState).where(LogState.id == 1).values(rules=RULES_LEVEL + 1))
    store.dispose()
    r = vinledger("audit", data=data, check=False)
    assert r.returncode == 1 and r.stderr.startswith("error: "), r.stderr
    assert "newer vinledger release" in r.stderr and "Traceback" not in r.stderr


def test_an_older_process_writes_nothing_beside_the_log_and_is_not_ready(ledger):
    from tests.plugins.test_referrals_concurrency import referral, referrer

    amy = referrer(ledger, "ref-amy")
    dealer = onboard(ledger, "bay-auto", "dealer")
    _set_level(ledger, RULES_LEVEL + 1)
    with pytest.raises(NewerRelease):
        ledger.create_referral(referral(amy, "SPRING-26"))
    with pytest.raises(NewerRelease):
        ledger.issue_token(dealer.actor_id)
    with TestClient(create_app(ledger)) as client:
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["type"].endswith("/older-release"), r.text


def test_a_newer_database_is_refused_before_anything_in_it_changes(ledger):
    from sqlalchemy import inspect, text

    with ledger.store.writer.begin() as s:
        s.execute(text("DROP TABLE api_tokens"))
    _set_level(ledger, RULES_LEVEL + 1)
    with pytest.raises(NewerRelease):
        Ledger(ledger.settings, Store(ledger.settings.database_url))
    with ledger.store.reader() as s:
        assert not inspect(s.connection()).has_table("api_tokens")
