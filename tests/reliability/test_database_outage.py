"""The ledger when its database is slow, locked or gone.

An outage answers 503 problem+json ``storage-unavailable`` with ``Retry-After`` (never
a 500), logs one line without a traceback, and the server carries on once the database
is back; ``/readyz`` reports it; the CLI says it in one line and exits 1.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from litestar.testing import TestClient
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError

from api.app import create_app
from ledger.storage import Store
from tests.conftest import (
    PG_ADMIN_URL,
    fresh_pg_database,
    inspection,
    make_ledger,
    onboard,
    vinledger,
)

PROBLEM = "application/problem+json"
# Nothing listens here (the range is ours): a database that is gone.
CLOSED = "postgresql+psycopg://vl:s3cret@127.0.0.1:18901/vl_outage_gone"


@pytest.fixture
def outage_url():
    """A database of its own: the tests terminate every connection to it."""
    with fresh_pg_database("vl_outage") as url:
        yield url


def admin_sql(url: str, sql: str) -> list:
    """``sql`` run from a connection of our own to ``url``'s database (autocommit)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            return list(c.execute(text(sql)))
    finally:
        engine.dispose()


def terminate(url: str, where: str = "true") -> int:
    name = url.rsplit("/", 1)[1].split("?")[0]
    rows = admin_sql(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{name}' AND pid <> pg_backend_pid() AND {where}",
    )
    return len(rows)


def log_size(client) -> int:
    return int(client.get("/log/checkpoint").text.split("\n")[1])


def assert_unavailable(r, *words: str) -> dict:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    assert 0 < int(r.headers["retry-after"]) <= 60
    body = r.json()
    assert body["type"].endswith("/storage-unavailable"), body
    assert "send the same envelope again" in body["detail"], body
    for w in words:
        assert w in body["detail"], body
    return body


class Logged(logging.Handler):
    """What vinledger's loggers write (the app's start replaces the root's handlers, and
    with them pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> Logged:
        logging.getLogger("vinledger").addHandler(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger("vinledger").removeHandler(self)


def read_only(url: str, on: str) -> None:
    """Switch the database's writes off ("on") or back on ("off") for new sessions."""
    engine = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")  # not read-only
    try:
        with engine.connect() as c:
            name = url.rsplit("/", 1)[1].split("?")[0]
            c.execute(text(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {on}'))
    finally:
        engine.dispose()


def one_warning(logged: Logged) -> logging.LogRecord:
    """The server's log of one failure: one line, no traceback."""
    assert len(logged.records) == 1, [r.getMessage() for r in logged.records]
    [record] = logged.records
    assert record.exc_info is None and record.exc_text is None
    assert "\n" not in record.getMessage()
    return record


@pytest.mark.postgres
def test_connections_terminated_between_requests_never_answer_500(tmp_path, outage_url):
    ledger = make_ledger(tmp_path / "data", outage_url)
    inspector = onboard(ledger, "acme", "inspector")
    try:
        with TestClient(create_app(ledger)) as client:
            sent = [inspector.envelope(inspection(day=1))]
            assert client.post("/records", content=sent[0]).status_code == 201
            for day in range(2, 6):
                assert terminate(outage_url) > 0
                sent.append(inspector.envelope(inspection(day=day, km=48_210 + day)))
                for r in (client.post("/records", content=sent[-1]), client.get("/readyz")):
                    if r.status_code >= 500:
                        assert_unavailable(r)
                    else:
                        assert r.status_code in (200, 201), r.text
            # Recovered: every envelope sent is in the log once; sending it again says so.
            for env in sent:
                r = client.post("/records", content=env)
                assert r.status_code in (200, 201), r.text
            again = [client.post("/records", content=env).status_code for env in sent]
            assert again == [200] * len(sent)
    finally:
        ledger.close()


@pytest.mark.postgres
def test_a_database_turned_read_only_answers_503_and_leaves_the_rotation(tmp_path, outage_url):
    # A failover to a read-only standby, as an operator would see it: never a 500 and a
    # traceback per request, and /readyz says so, so a load balancer stops sending.
    ledger = make_ledger(tmp_path / "data", outage_url)
    inspector = onboard(ledger, "acme", "inspector")
    try:
        with TestClient(create_app(ledger)) as client:
            before = log_size(client)
            read_only(outage_url, "on")
            terminate(outage_url)  # new sessions take the setting
            env = inspector.envelope(inspection(day=2))
            with Logged() as logged:
                refused = client.post("/records", content=env)
                ready = client.get("/readyz")
            assert_unavailable(refused, "takes no writes now")
            assert_unavailable(ready, "takes no writes now")
            assert all(r.exc_info is None for r in logged.records)  # no traceback logged
            assert client.get("/healthz").status_code == 200
            assert log_size(client) == before  # reading still works
            read_only(outage_url, "off")
            terminate(outage_url)
            assert client.post("/records", content=env).status_code == 201
            assert client.get("/readyz").status_code == 200
    finally:
        ledger.close()


@pytest.mark.postgres
def test_a_connection_lost_in_a_request_answers_503_and_logs_one_line(tmp_path, outage_url):
    ledger = make_ledger(tmp_path / "data", outage_url)
    inspector = onboard(ledger, "acme", "inspector")
    env = inspector.envelope(inspection())
    holder = create_engine(outage_url).connect()
    try:
        with TestClient(create_app(ledger)) as client:
            before = log_size(client)
            # The sequencer waits for the lock we hold; its connection is then killed.
            holder.execute(text("SELECT size FROM log_state WHERE id = 1 FOR UPDATE"))

            def kill_the_waiter() -> None:
                for _ in range(200):
                    if terminate(outage_url, "wait_event_type = 'Lock'"):
                        return
                    time.sleep(0.05)

            killer = threading.Thread(target=kill_the_waiter)
            killer.start()
            with Logged() as logged:
                r = client.post("/records", content=env)
            killer.join()
            assert_unavailable(r, "unreachable")
            assert "terminat" in one_warning(logged).getMessage()
            holder.rollback()
            assert log_size(client) == before
            assert client.post("/records", content=env).status_code == 201
    finally:
        holder.close()
        ledger.close()


@pytest.mark.postgres
def test_a_lock_held_past_lock_timeout_answers_503_and_appends_nothing(tmp_path, outage_url):
    # The operator's own setting in the URL wins over the ledger's 30 s default.
    url = outage_url + "?options=-c%20lock_timeout%3D1000"
    ledger = make_ledger(tmp_path / "data", url)
    inspector = onboard(ledger, "acme", "inspector")
    env = inspector.envelope(inspection())
    holder = create_engine(outage_url).connect()
    # Should the request hang, the lock goes after 30 s and the test fails, not hangs.
    safety = threading.Timer(30, lambda: terminate(outage_url, "state LIKE 'idle in%'"))
    try:
        with TestClient(create_app(ledger)) as client:
            before = log_size(client)
            holder.execute(text("SELECT size FROM log_state WHERE id = 1 FOR UPDATE"))
            safety.start()
            start = time.monotonic()
            r = client.post("/records", content=env)
            assert time.monotonic() - start < 15
            assert_unavailable(r, "busy")
            holder.rollback()
            assert log_size(client) == before
            assert client.post("/records", content=env).status_code == 201
    finally:
        safety.cancel()
        holder.close()
        ledger.close()


def test_sqlite_out_of_space_answers_503_and_logs_one_line(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    engine = sqlite_ledger.store.write_engine
    with engine.connect() as c:
        limit = [c.exec_driver_sql("PRAGMA page_count").scalar()]

    @event.listens_for(engine, "checkout")
    def _cap(dbapi_conn, _record, _proxy):  # the disk is full at the current size
        dbapi_conn.execute(f"PRAGMA max_page_count = {limit[0]}")

    with TestClient(create_app(sqlite_ledger)) as client:
        before = log_size(client)
        with Logged() as logged:
            for day in range(1, 29):
                items = [{"code": f"c{i}", "result": "ok", "note": "x" * 400} for i in range(10)]
                env = inspector.envelope(inspection(day=day, items=items))
                r = client.post("/records", content=env)
                if r.status_code != 201:
                    break
                before += 1
        assert_unavailable(r, "out of disk space")
        assert "full" in one_warning(logged).getMessage()
        assert log_size(client) == before
        limit[0] = 1_000_000  # space again
        assert client.post("/records", content=env).status_code == 201


def test_readyz_answers_whether_the_database_does(sqlite_ledger):
    with TestClient(create_app(sqlite_ledger)) as client:
        r = client.get("/readyz")
        assert r.status_code == 200 and r.json() == {"ok": True, "size": log_size(client)}
        assert "/readyz" not in client.get("/schema/openapi.json").json()["paths"]
        working, sqlite_ledger.store = sqlite_ledger.store, Store(CLOSED)
        try:
            body = assert_unavailable(client.get("/readyz"), "unreachable")
            assert "s3cret" not in str(body) and "18901" not in str(body)
            assert client.get("/healthz").status_code == 200  # alive, not ready
        finally:
            sqlite_ledger.store.dispose()
            sqlite_ledger.store = working


@pytest.mark.parametrize("command", [["audit"], ["serve", "--port", "18902"]])
def test_cli_says_the_database_is_unreachable_in_one_line(tmp_path, command):
    data = tmp_path / "data"
    vinledger("init", data=data)
    env = {**os.environ, "VINLEDGER_DATABASE_URL": CLOSED}
    r = subprocess.run(
        [sys.executable, "-m", "api.cli", *command, "--data", str(data)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 1, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "127.0.0.1:18901/vl_outage_gone" in r.stderr and "unreachable" in r.stderr
    assert "s3cret" not in r.stderr


@pytest.mark.parametrize(
    ("message", "words"),
    [
        ("database is locked", "busy"),
        ("database or disk is full", "out of disk space"),
        ("unable to open database file", "unreachable"),
        ("attempt to write a readonly database", "takes no writes now"),
        ("disk I/O error", "could not read or write its files"),
    ],
)
def test_sqlite_errors_that_mean_unavailable(message, words):
    from ledger.engines import unavailable

    err = OperationalError("INSERT", {}, sqlite3.OperationalError(message))
    found = unavailable(err)
    assert found is not None and words in found.detail and found.cause == message
    bug = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    assert unavailable(bug) is None


class _PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__(f"error {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "state"),
    [
        ("55P03", "busy"),  # lock_timeout
        ("57014", "busy"),  # statement_timeout
        ("40P01", "busy"),  # deadlock
        ("08006", "unreachable"),
        ("57P01", "unreachable"),  # admin shutdown
        ("53100", "full"),
        ("54000", None),  # program_limit_exceeded: a fault, not a wait
        ("58P01", None),  # undefined_file
        ("F0000", None),  # config_file_error
    ],
)
def test_only_postgresql_errors_that_pass_are_outages(sqlstate, state):
    """A 503 says "try again": a broken setup would be retried for ever, its traceback lost."""
    from ledger.engines import outage_state

    assert outage_state(_PgError(sqlstate), operational=True, disconnected=False) == state
