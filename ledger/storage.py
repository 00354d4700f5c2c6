"""Storage of the log through SQLAlchemy 2: SQLite (the embedded default) or PostgreSQL.

The tables are in ``ledger.schema``, the engines in ``ledger.engines``. Here: ``Store``
(the two engines of one database) and the queries,
each taking the session or connection of the unit of work it belongs to; the hot
paths read and write on the driver's own cursor.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.elements import TextClause

from ledger.engines import outage, outage_state, postgres_engine, sqlite_engine
from ledger.schema import (
    RULES_LEVEL,
    ActorRow,
    Base,
    CheckpointRow,
    EntryRow,
    KeyRow,
    LogState,
    NodeRow,
    check_release,
    refuse_newer,
    upgrade_schema,
)

try:
    import fcntl
except ImportError:  # not on Windows: SQLite's own busy handler serialises alone
    fcntl = None


def utcnow() -> datetime:
    return datetime.now(UTC)


def stored_utc(at: datetime) -> datetime:
    """A time read back from a timestamp column, aware and in UTC (SQLite gives back the
    stored UTC time without its zone; PostgreSQL in the session's)."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


class Store:
    """The two engines of one database: one for the sequencer, one for readers.

    On SQLite they differ in how they begin a transaction (see ``sqlite_engine``);
    on PostgreSQL they are the same engine and the sequencer locks ``log_state``.
    """

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = sqlite_engine(url, immediate=True)
            self.read_engine = sqlite_engine(url, immediate=False)
        else:
            self.write_engine = self.read_engine = postgres_engine(url)
        self.writer = sessionmaker(self.write_engine, expire_on_commit=False)
        self.reader = sessionmaker(self.read_engine, expire_on_commit=False)
        self.node_cache = NodeCache()
        database = make_url(url).database if self.is_sqlite else None
        self._lock_path = (
            f"{database}-sequencer.lock"
            if fcntl is not None and database and database != ":memory:"
            else None
        )

    @contextlib.contextmanager
    def sequencer_lock(self) -> Iterator[None]:
        """Sequencers of every process queue here before they begin (SQLite files only).

        SQLite's busy handler polls for the write lock with sleeps that grow to 100 ms,
        so processes sharing one file spent most of a contended batch asleep; a
        blocking ``flock`` wakes the next sequencer as soon as the lock is free. Each
        call opens its own file description, so threads of one process queue too.
        PostgreSQL needs nothing: the sequencer's row lock wakes waiters itself.
        """
        if self._lock_path is None:
            yield
            return
        try:
            f = open(self._lock_path, "a")  # noqa: SIM115 (a with below closes it)
        except OSError as err:  # its directory is gone or not ours: so is the database
            raise outage("unreachable", err, self.url) from err
        with f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def upgrade_schema(self) -> None:
        """Bring a database made by an earlier release up to this one's tables and
        columns (``ledger.schema.upgrade_schema``); changes nothing on a current one.
        Processes starting together (``serve --workers``) take turns."""
        if self.is_sqlite:
            with self.sequencer_lock():
                upgrade_schema(self.write_engine)
            return
        key = "hashtextextended('vinledger-schema', 0)"
        with self.write_engine.connect() as c:  # a session lock: the DDL runs beside it
            # Another process's upgrade may take longer than LOCK_TIMEOUT_MS: wait it out.
            c.execute(text("SET LOCAL lock_timeout = 0"))
            c.execute(text(f"SELECT pg_advisory_lock({key})"))
            try:
                upgrade_schema(self.write_engine)
            finally:
                c.execute(text(f"SELECT pg_advisory_unlock({key})"))
                c.commit()

    @contextlib.contextmanager
    def writing(self) -> Iterator[Session]:
        """A write transaction beside the log (referrals, commissions, tokens); refused,
        as the sequencer's are, once a newer release has opened the database."""
        with self.writer.begin() as s:
            check_release(s.connection())
            yield s

    def ping(self, timeout: float) -> int:
        """The log's size, read with a short statement timeout on PostgreSQL: whether
        the database answers now (``/readyz``). A plain read takes no lock the
        sequencer holds, so a long batch does not make the ledger look down."""
        with self.reader() as s:
            if not self.is_sqlite:
                s.execute(text(f"SET LOCAL statement_timeout = {int(timeout * 1000)}"))
            check_release(s.connection())  # an older process is not ready to serve
            return log_size(s)

    def create_schema(self) -> None:
        Base.metadata.create_all(self.write_engine)
        with self.writer.begin() as s:
            if s.get(LogState, 1) is None:
                s.add(LogState(id=1, size=0, rules=RULES_LEVEL))

    def dispose(self) -> None:
        self.write_engine.dispose()
        self.read_engine.dispose()


# ---- queries: each takes the session of the unit of work it belongs to -------------


@functools.lru_cache(maxsize=32)
def _insert_sql(table: str, columns: tuple[str, ...], paramstyle: str) -> str:
    if paramstyle in ("named", "qmark", "numeric"):  # sqlite3 takes :name with dicts
        marks = [f":{col}" for col in columns]
    else:  # psycopg: pyformat
        marks = [f"%({col})s" for col in columns]
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(marks)})"


def insert_rows(c, table, rows: Sequence[dict]) -> None:
    """INSERT ``rows`` (dicts with every column) with the driver's own executemany.

    For the sequencer's bulk rows, SQLAlchemy's per-value processing cost more than
    the insert itself (cProfile: ~25 ms of a 1,000-entry batch), so values go to the
    driver as they are: ints, str, bytes, None, and times through ``driver_time``.
    """
    if rows:
        columns = tuple(table.c.keys())
        c.exec_driver_sql(_insert_sql(table.name, columns, c.dialect.paramstyle), list(rows))


def driver_time(c, column, value: datetime):
    """``value`` as the driver takes it for ``column`` (a string on SQLite)."""
    process = column.type.bind_processor(c.dialect)
    return value if process is None else process(value)


def lock_log_state(c) -> int:
    """The log's size, locked until the end of the transaction (the sequencer's lock);
    ``NewerRelease`` if a newer release has opened the database since this one did.

    On SQLite the transaction already holds the write lock (BEGIN IMMEDIATE); on
    PostgreSQL the row lock serialises sequencers in every process.
    """
    table = LogState.__table__
    query = select(table.c.size, table.c.rules).where(table.c.id == 1).with_for_update()
    size, level = c.execute(query).one()
    refuse_newer(level)  # a newer release started meanwhile
    return size


def set_log_size(c, size: int) -> None:
    table = LogState.__table__
    c.execute(table.update().where(table.c.id == 1).values(size=size))


def log_size(s: Session) -> int:
    return s.execute(select(LogState.size).where(LogState.id == 1)).scalar_one()


@functools.lru_cache(maxsize=512)
def _point_lookup(table: str, a: str, b: str, count: int, columns: str) -> TextClause:
    """``SELECT columns FROM table WHERE (a = ? AND b = ?) OR …`` for ``count`` keys.

    An OR of key equalities, not a row-value IN: SQLite answers ``(a, b) IN (…)`` with a
    full table scan (measured: 490 ms against 0.1 ms for one proof's 19 nodes among 2M
    nodes) but each equality with a primary-key search, and PostgreSQL uses its index
    either way. Plain text, cached per count: building the same expression with the ORM
    cost more than the query.
    """
    where = " OR ".join(f"({a} = :a{i} AND {b} = :b{i})" for i in range(count))
    return text(f"SELECT {columns} FROM {table} WHERE {where}")


def _keys_params(keys: Sequence[tuple]) -> dict:
    params = {}
    for i, (x, y) in enumerate(keys):
        params[f"a{i}"] = x
        params[f"b{i}"] = y
    return params


# The driver's own placeholder for each DB-API paramstyle that has a positional one.
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


@functools.lru_cache(maxsize=512)
def _nodes_query(count: int) -> str:
    return "SELECT level, n, hash FROM nodes WHERE " + " OR ".join(
        ["(level = ? AND n = ?)"] * count
    )


def _driver_rows(conn, sql: str, params: tuple) -> list[tuple]:
    """Rows of a read on the connection's own driver cursor: no SQLAlchemy row objects.

    Fetching a proof's nodes row by row through SQLAlchemy's result cost half as much
    again as the lookups themselves. Nodes never change, so a read outside the
    connection's transaction (when it has not begun one yet) sees the same.
    """
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        return cur.fetchall()
    except conn.dialect.loaded_dbapi.Error as err:  # not SQLAlchemy's: _outage_of never saw it
        if (translated := driver_error(conn, raw, cur, err)) is err:
            raise
        raise translated from err
    finally:
        cur.close()


def stream_driver_rows(conn, sql: str, params: tuple) -> Iterator[tuple]:
    """``_driver_rows`` one row at a time (the audit's long range reads: a chunk's rows
    at once are megabytes the C library gives back and takes again for the next)."""
    raw = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.execute(sql, params)
        yield from cur
    except conn.dialect.loaded_dbapi.Error as err:
        if (translated := driver_error(conn, raw, cur, err)) is err:
            raise
        raise translated from err
    finally:
        cur.close()


def driver_error(conn, raw, cur, err: Exception) -> Exception:
    """What to raise for a driver's own error: an outage (503) or the error itself."""
    dbapi = conn.dialect.loaded_dbapi
    state = outage_state(
        err,
        operational=isinstance(err, dbapi.OperationalError),
        disconnected=conn.dialect.is_disconnect(err, raw, cur),
    )
    if state is None:
        return err
    return outage(state, err, conn.engine.url.render_as_string(hide_password=True))


def select_rows(c, sql: str, params: Sequence) -> list[tuple]:
    """Rows of ``sql``, whose parameters are ``?`` marks, on the driver's own cursor.

    For the read paths that run on every request (proofs, bundles): SQLAlchemy's
    statement and result handling cost more than these small indexed reads.
    """
    conn = c.connection() if isinstance(c, Session) else c
    mark = _MARKS.get(conn.dialect.paramstyle)
    if mark is None:  # a driver with named parameters only
        names = iter(range(len(params)))
        named = re.sub(r"\?", lambda _: f":p{next(names)}", sql)
        values = {f"p{i}": v for i, v in enumerate(params)}
        return [tuple(r) for r in conn.execute(text(named), values)]
    return _driver_rows(conn, sql if mark == "?" else sql.replace("?", mark), tuple(params))


def read_nodes(c, coords: Sequence[tuple[int, int]]) -> list[bytes]:
    """The stored hashes of ``coords`` in order; KeyError names a missing node.

    On a session or a connection, through ``select_rows``: binding two named
    parameters per node through SQLAlchemy cost twice as long as the query itself
    (measured for a bundle's 152 nodes: 1.3 ms against 0.4 ms).
    """
    if not coords:
        return []
    found: dict[tuple[int, int], bytes] = {}
    wanted = list(dict.fromkeys(coords))
    # Chunked so a big request stays within every backend's parameter limit.
    for i in range(0, len(wanted), 400):
        chunk = wanted[i : i + 400]
        params = [x for coord in chunk for x in coord]
        for level, n, h in select_rows(c, _nodes_query(len(chunk)), params):
            found[(level, n)] = bytes(h)
    try:
        return [found[c] for c in coords]
    except KeyError as err:
        raise KeyError(f"tree node {err.args[0]} is missing from storage") from None


class NodeCache:
    """Hashes of big stored subtrees (``MIN_LEVEL`` and up: 256 leaves or more), in memory.

    The upper levels of the tree are in nearly every proof and bundle, and a perfect
    subtree's hash never changes once stored, so nothing here is ever invalidated. At
    most one node in 256 qualifies and at most ``limit`` are kept (about 10 MB);
    when full it starts over. Readers only: the sequencer keeps its own right edge.
    """

    MIN_LEVEL = 8

    def __init__(self, limit: int = 65_536):
        self.limit = limit
        self._nodes: dict[tuple[int, int], bytes] = {}

    def read(self, c, coords: Sequence[tuple[int, int]]) -> list[bytes]:
        """``read_nodes(c, coords)``, answering what it can from memory."""
        nodes = self._nodes
        have = {x: h for x in coords if (h := nodes.get(x)) is not None}
        missing = [x for x in dict.fromkeys(coords) if x not in have]
        if missing:
            have.update(zip(missing, read_nodes(c, missing), strict=True))
            big = {x: have[x] for x in missing if x[0] >= self.MIN_LEVEL}
            if len(nodes) + len(big) > self.limit:
                nodes.clear()
            if len(big) <= self.limit:
                nodes.update(big)
        return [have[x] for x in coords]


def read_node_range(s: Session, level: int, start: int, stop: int) -> list[bytes]:
    rows = s.execute(
        select(NodeRow.hash)
        .where(NodeRow.level == level, NodeRow.n >= start, NodeRow.n < stop)
        .order_by(NodeRow.n)
    )
    return [r[0] for r in rows]


def read_entries(s: Session, start: int, stop: int) -> list[bytes]:
    rows = s.execute(
        select(EntryRow.data)
        .where(EntryRow.idx >= start, EntryRow.idx < stop)
        .order_by(EntryRow.idx)
    )
    return [r[0] for r in rows]


def entry_by_index(s: Session, idx: int) -> EntryRow | None:
    return s.get(EntryRow, idx)


@functools.lru_cache(maxsize=512)
def _in_lookup(sql: str, count: int) -> TextClause:
    """``sql`` with ``IN (:k0, …)`` for ``count`` keys: text cached per count, because
    SQLAlchemy's expanding IN re-renders the statement on every call."""
    return text(sql.replace("(:keys)", "(" + ", ".join(f":k{i}" for i in range(count)) + ")"))


def _in_params(keys: Sequence) -> dict:
    return {f"k{i}": k for i, k in enumerate(keys)}


def indexes_by_digest(s: Session, digests: Sequence[bytes]) -> dict[bytes, int]:
    """Which of ``digests`` are already in the log, and at which index: one query per 400."""
    found: dict[bytes, int] = {}
    for i in range(0, len(digests), 400):
        chunk = digests[i : i + 400]
        query = _in_lookup("SELECT digest, idx FROM entries WHERE digest IN (:keys)", len(chunk))
        found.update({bytes(d): idx for d, idx in s.execute(query, _in_params(chunk))})
    return found


def vin_heads(s: Session, vins: Sequence[str]) -> dict[str, tuple[int, bytes] | None]:
    """The last chain position and leaf hash of each VIN (None: no entry yet)."""
    heads: dict[str, tuple[int, bytes] | None] = dict.fromkeys(vins)
    for i in range(0, len(vins), 400):
        chunk = vins[i : i + 400]
        query = _in_lookup(
            "SELECT vin, max(vin_seq) FROM entries WHERE vin IN (:keys) GROUP BY vin", len(chunk)
        )
        last = [tuple(r) for r in s.execute(query, _in_params(chunk))]
        if not last:
            continue
        query = _point_lookup("entries", "vin", "vin_seq", len(last), "vin, vin_seq, leaf_hash")
        rows = s.execute(query, _keys_params(last))
        heads.update({vin: (seq, bytes(leaf)) for vin, seq, leaf in rows})
    return heads


def entries_for_vin(s: Session, vin: str) -> list[EntryRow]:
    return list(
        s.execute(select(EntryRow).where(EntryRow.vin == vin).order_by(EntryRow.vin_seq)).scalars()
    )


def latest_checkpoint(s: Session) -> CheckpointRow | None:
    return s.execute(
        select(CheckpointRow).order_by(CheckpointRow.size.desc()).limit(1)
    ).scalar_one_or_none()


def checkpoints(s: Session) -> Iterable[CheckpointRow]:
    return s.execute(select(CheckpointRow).order_by(CheckpointRow.size)).scalars()


@dataclass(frozen=True)
class SigningKey:
    key_id: str
    actor_id: str
    public_key: bytes
    revoked_idx: int | None
    role: str


def granted_keys(c, key_ids: Sequence[str]) -> dict[str, SigningKey]:
    """Those of ``key_ids`` granted on this ledger, with their actors' roles: one query."""
    found: dict[str, SigningKey] = {}
    for i in range(0, len(key_ids), 400):
        chunk = list(key_ids[i : i + 400])
        query = _in_lookup(
            "SELECT k.key_id, k.actor_id, k.public_key, k.revoked_idx, a.role FROM keys k "
            "JOIN actors a ON a.actor_id = k.actor_id WHERE k.key_id IN (:keys)",
            len(chunk),
        )
        for kid, actor, public, revoked, role in c.execute(query, _in_params(chunk)):
            found[kid] = SigningKey(kid, actor, bytes(public), revoked, role)
    return found


def signing_key(c, key_ids: Sequence[str]) -> SigningKey | None:
    """The first of ``key_ids`` granted on this ledger, with its actor's role.

    One plain query on a connection or session: this runs for every submission.
    """
    if not key_ids:
        return None
    found = granted_keys(c, key_ids)
    return next((found[k] for k in key_ids if k in found), None)


def actor_role(c, actor_id: str) -> str | None:
    table = ActorRow.__table__
    return c.execute(select(table.c.role).where(table.c.actor_id == actor_id)).scalar()


def entry_facts(c, idx: int) -> tuple[str | None, str, str] | None:
    """(VIN, signer's actor, kind) of the entry at ``idx``, or None."""
    t = EntryRow.__table__
    row = c.execute(select(t.c.vin, t.c.actor_id, t.c.kind).where(t.c.idx == idx)).first()
    return None if row is None else tuple(row)


def entry_leaf_and_data(c, idx: int) -> tuple[bytes, bytes]:
    t = EntryRow.__table__
    leaf, data = c.execute(select(t.c.leaf_hash, t.c.data).where(t.c.idx == idx)).one()
    return bytes(leaf), bytes(data)


def entries_leaf_and_data(c, indexes: Sequence[int]) -> dict[int, tuple[bytes, bytes]]:
    """``entry_leaf_and_data`` of many entries: one query per 400 (the answers to a
    batch of envelopes already in the log, as when a bulk load is run again)."""
    found: dict[int, tuple[bytes, bytes]] = {}
    for i in range(0, len(indexes), 400):
        chunk = indexes[i : i + 400]
        query = _in_lookup(
            "SELECT idx, leaf_hash, data FROM entries WHERE idx IN (:keys)", len(chunk)
        )
        found.update(
            {
                idx: (bytes(leaf), bytes(data))
                for idx, leaf, data in c.execute(query, _in_params(chunk))
            }
        )
    return found


def get_key(s: Session, key_id: str) -> KeyRow | None:
    return s.get(KeyRow, key_id)


def get_actor(s: Session, actor_id: str) -> ActorRow | None:
    return s.get(ActorRow, actor_id)


def keys_of_actor(s: Session, actor_id: str) -> list[KeyRow]:
    """Every key granted to ``actor_id``, revoked or not, in the order of their grants."""
    return list(
        s.execute(
            select(KeyRow).where(KeyRow.actor_id == actor_id).order_by(KeyRow.granted_idx)
        ).scalars()
    )
