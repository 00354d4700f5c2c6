"""The database engines and what their errors mean: SQLite (the embedded default) or
PostgreSQL with timeouts, and the errors that say the database cannot serve now
(unreachable, out of space, busy), which leave here as ``StorageUnavailable`` so the
sequencer's thread, the API and the CLI all report them as one, without a traceback.
"""

from __future__ import annotations

import os
import sqlite3

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import ExceptionContext, make_url

from core.errors import StorageUnavailable

# PostgreSQL, through libpq (psycopg): how long the ledger waits before a request fails
# with 503 storage-unavailable instead of hanging (docs/reliability.md says why these).
CONNECT_TIMEOUT = 10  # seconds to reach the server
LOCK_TIMEOUT_MS = 30_000  # a lock another session holds; no statement_timeout (audits)
_LIBPQ = {
    "connect_timeout": CONNECT_TIMEOUT,
    # A connection the network dropped fails within about a minute, not TCP's hours.
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "tcp_user_timeout": 60_000,
}


def postgres_engine(url: str) -> Engine:
    """One engine for the sequencer and readers, with timeouts the URL may override.

    The sequencer waits on a row lock of log_state and then reads what the other
    process committed: that needs READ COMMITTED, whatever the database's
    default_transaction_isolation says (REPEATABLE READ fails the wait).
    """
    parsed = make_url(url)
    args: dict = {}
    if parsed.get_driver_name() in ("psycopg", "psycopg2"):
        args = {k: v for k, v in _LIBPQ.items() if k not in parsed.query}
        # The URL's own options come after ours, so its `-c lock_timeout=...` wins.
        own = parsed.query.get("options", ())
        own = [own] if isinstance(own, str) else list(own)
        args["options"] = " ".join([f"-c lock_timeout={LOCK_TIMEOUT_MS}", *own])
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        isolation_level="READ COMMITTED",
        connect_args=args,
    )
    event.listen(engine, "handle_error", _outage_of)
    return engine


def sqlite_engine(url: str, *, immediate: bool) -> Engine:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock
    # up front; we switch it off and emit BEGIN ourselves. Writers use BEGIN IMMEDIATE
    # so two processes never both read the log size and then race to extend it.
    engine = create_engine(url)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")  # an acknowledged entry survives power loss
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    event.listen(engine, "handle_error", _outage_of)
    return engine


# ---- outages: the database cannot serve now -----------------------------------------

# What a client reads for each state of the database, and how long it should wait.
_STATES = {
    "unreachable": ("the ledger's database is unreachable or lost its connection", 5),
    "full": ("the ledger's database is out of disk space", 30),
    "busy": ("the ledger's database is busy: a lock or a connection did not come free in time", 5),
    "read-only": (
        "the ledger's database takes no writes now (a read-only standby, or its files "
        "made read-only); reading still works",
        30,
    ),
    "io": ("the ledger's database could not read or write its files (a disk error)", 30),
}
_SQLITE_STATES = (
    ("database or disk is full", "full"),
    ("is locked", "busy"),  # the database, or a table: busy_timeout ran out
    ("readonly database", "read-only"),  # SQLITE_READONLY: the file or its folder
    ("disk i/o error", "io"),
    ("unable to open database file", "unreachable"),
)


def outage_state(err: BaseException, *, operational: bool, disconnected: bool) -> str | None:
    """Which outage the driver's error ``err`` is (a key of ``_STATES``), or None: any
    other database error is a bug or a broken schema, not an outage."""
    if disconnected:
        return "unreachable"
    if isinstance(err, sqlite3.Error):  # SQLite names the condition only in its message
        message = str(err).lower()
        return next((state for words, state in _SQLITE_STATES if words in message), None)
    code = getattr(err, "sqlstate", None) or getattr(err, "pgcode", None)
    if code == "25006":  # read_only_sql_transaction: a standby, or writes switched off
        return "read-only"
    if not operational:
        return None
    if code == "53100":  # disk_full
        return "full"
    if code is None or code.startswith(("08", "57P")):  # no connection, server shut down
        return "unreachable"
    if code in _BUSY:
        return "busy"
    return None  # a limit, a missing file, a broken setup: a fault to see, not to retry


# PostgreSQL's SQLSTATEs of a server that is fine but could not serve this in time.
_BUSY = frozenset(
    {
        "55P03",  # lock_not_available (lock_timeout)
        "57014",  # query_canceled (statement_timeout)
        "53300",  # too_many_connections
        "53200",  # out_of_memory
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
    }
)


def read_only_cause(connection) -> str | None:
    """Why the database would refuse a write now (None: it would take one), for
    ``/readyz``: a server whose database turned read-only (a failover to a standby,
    files made read-only) answers every submission 503 and must leave the rotation."""
    if connection.dialect.name == "postgresql":
        # On during recovery (a hot standby) as when writes were switched off; any role
        # may read it, unlike pg_is_in_recovery() where EXECUTE was revoked.
        read_only = connection.exec_driver_sql("SHOW transaction_read_only").scalar()
        return "transaction_read_only is on" if read_only == "on" else None
    path = connection.engine.url.database
    if connection.dialect.name != "sqlite" or not path or path == ":memory:":
        return None
    for place in (path, f"{path}-wal", os.path.dirname(os.path.abspath(path))):
        if os.path.exists(place) and not os.access(place, os.W_OK):
            return f"{place} is not writable"
    return None


def outage(state: str, err: BaseException, database: str) -> StorageUnavailable:
    what, retry_after = _STATES[state]
    lines = str(err).strip().splitlines()
    return StorageUnavailable(
        f"{what}; try again in a few seconds. A submission may or may not have been "
        "appended: send the same envelope again, which answers with its entry if it was. "
        "If this persists, tell the operator.",
        state=state,
        cause=lines[0] if lines else type(err).__name__,
        database=database,
        retry_after=retry_after,
    )


def _outage_of(ctx: ExceptionContext) -> StorageUnavailable | None:
    """The engines' ``handle_error``: an outage leaves SQLAlchemy as
    ``StorageUnavailable``, so that every caller (the sequencer's thread, the API, the
    CLI) reports it as one and only the unexpected keeps its traceback. SQLAlchemy still
    invalidates a lost connection first."""
    err = ctx.original_exception
    if ctx.is_pre_ping or not isinstance(err, ctx.dialect.loaded_dbapi.Error):
        return None  # the pool reconnects on its own; an interrupt stays one
    state = outage_state(
        err,
        operational=isinstance(ctx.sqlalchemy_exception, sa_exc.OperationalError),
        disconnected=ctx.is_disconnect,
    )
    if state is None:
        return None
    return outage(state, err, ctx.engine.url.render_as_string(hide_password=True))


def unavailable(err: BaseException) -> StorageUnavailable | None:
    """``err`` as ``StorageUnavailable`` if it says the database cannot serve now, else
    None. The engines translate their own errors already (``_outage_of``); this is for
    what escapes them: SQLAlchemy's errors raised elsewhere, and its pool's timeout."""
    if isinstance(err, StorageUnavailable):
        return err
    if isinstance(err, sa_exc.TimeoutError):  # no pooled connection came free in time
        return outage("busy", err, "")
    if not isinstance(err, sa_exc.DBAPIError):
        return None
    state = outage_state(
        err.orig,
        operational=isinstance(err, sa_exc.OperationalError),
        disconnected=err.connection_invalidated,
    )
    return None if state is None else outage(state, err.orig, "")
