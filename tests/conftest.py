"""Fixtures shared by the whole suite: databases, ledgers and signing partners.

Storage tests run on SQLite and on a real PostgreSQL server (``VINLEDGER_TEST_PG``,
default the local server with trust auth). Without that server the PostgreSQL cases
are skipped locally; in CI (``CI=true``) they fail instead, so a missing service can
never pass silently.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import hypothesis
import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PG_ADMIN_URL = os.environ.get(
    "VINLEDGER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# No per-example deadline: on a shared two-core machine a first example that imports a
# module or warms a cache can take a second, and a deadline would fail a correct test.
hypothesis.settings.register_profile("vinledger", deadline=None)
hypothesis.settings.load_profile("vinledger")


def need(reason: str):
    """Skip locally, fail in CI: a test that needs a missing service never passes."""
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


@contextlib.contextmanager
def fresh_pg_database(prefix: str, **settings: str):
    """A new PostgreSQL database's URL (``settings``: its defaults, e.g.
    ``default_transaction_isolation``), dropped afterwards whatever holds it."""
    from sqlalchemy import create_engine, text

    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("select 1"))
    except Exception as err:
        need(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {err}")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
        for key, value in settings.items():
            c.execute(text(f"ALTER DATABASE \"{name}\" SET {key} = '{value}'"))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    with fresh_pg_database("vinledger_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    from ledger.schema import Base
    from ledger.storage import Store

    url = request.getfixturevalue("pg_database")
    store = Store(url)

    Base.metadata.drop_all(store.write_engine)
    store.dispose()
    return url


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'ledger.db'}"


def make_ledger(data_dir: Path, url: str):
    from api.config import create_data_dir
    from api.service import Ledger
    from ledger.storage import Store

    settings = create_data_dir(data_dir, origin="test.vinledger.localhost/log", database_url=url)
    store = Store(url)
    store.create_schema()
    ledger = Ledger(settings, store)
    ledger.genesis()
    return ledger


def with_plugin(base, plugin, name: str, **registry):
    """``base``'s settings and store with only ``plugin`` registered (as ``name``),
    judging time at 2026-06-04 12:00 UTC; ``registry``: Registry's options."""
    from datetime import UTC, datetime

    from api.service import Ledger
    from plugins.manager import create_plugin_manager
    from plugins.registry import Registry

    pm = create_plugin_manager(load_entry_points=False)
    pm.register(plugin, name=name)
    return Ledger(
        base.settings,
        base.store,
        registry=Registry(pm, **registry),
        clock=lambda: datetime(2026, 6, 4, 12, 0, tzinfo=UTC),
    )


@pytest.fixture
def ledger(tmp_path, database_url):
    """A ledger with only its genesis entries, on SQLite and on PostgreSQL."""
    lg = make_ledger(tmp_path / "data", database_url)
    yield lg
    lg.close()


@pytest.fixture
def sqlite_ledger(tmp_path, sqlite_url):
    lg = make_ledger(tmp_path / "data", sqlite_url)
    yield lg
    lg.close()


@pytest.fixture
def client(sqlite_ledger):
    """The app over ``sqlite_ledger``, through Litestar's test client."""
    from litestar.testing import TestClient

    from api.app import create_app

    with TestClient(create_app(sqlite_ledger)) as c:
        yield c


@dataclass
class Partner:
    actor_id: str
    role: str
    key: object

    @property
    def keyid(self) -> str:
        from core.keys import key_id

        return key_id(self.key.public_key())

    @property
    def public_pem(self) -> bytes:
        from core.keys import public_key_pem

        return public_key_pem(self.key.public_key())

    def envelope(self, record: dict) -> bytes:
        from core import dsse

        payload = json.dumps(record).encode()
        return dsse.encode_envelope(dsse.sign_envelope(payload, self.key))


def onboard(ledger, actor_id: str, role: str) -> Partner:
    from core.keys import generate_private_key

    p = Partner(actor_id, role, generate_private_key())
    ledger.add_actor(actor_id, actor_id.replace("-", " ").title(), role, p.public_pem)
    return p


VIN = "1HGCM82633A004352"
VIN2 = "LSVAU218XN2183294"


def inspection(vin: str = VIN, km: int = 48_210, day: int = 4, **extra) -> dict:
    rec = {
        "kind": "inspection",
        "vin": vin,
        "occurred_at": f"2026-05-{day:02d}T09:30:00Z",
        "odometer_km": km,
        "provider": "acme-inspections",
        "inspector": "INS-0042",
        "grade": "B",
        "items": [{"code": "engine", "result": "ok"}],
        "flags": {
            "accident": False,
            "flood": False,
            "fire": False,
            "structural": False,
            "airbag": False,
        },
    }
    rec.update(extra)
    return rec


def maintenance(vin: str = VIN, km: int = 40_000, day: int = 1) -> dict:
    return {
        "kind": "maintenance",
        "vin": vin,
        "occurred_at": f"2026-03-{day:02d}T10:00:00Z",
        "odometer_km": km,
        "shop": "quicklane",
        "items": [{"description": "oil and filter"}],
    }


@contextlib.contextmanager
def filed_when_dated(ledger, record: dict):
    """Within the block the ledger's clock reads an hour after ``record``'s date, if it
    is a claim: the tests' claims are dated in 2026, and a ledger judges a claim by
    when it is filed (within 72 hours of its date). Other records: the real clock."""
    if record.get("kind") not in ("return_request", "warranty_claim"):
        yield
        return
    from core.fields import parse_time

    at = parse_time(record["occurred_at"]) + timedelta(hours=1)
    real, ledger.clock = ledger.clock, lambda: at
    try:
        yield
    finally:
        ledger.clock = real


def seed_two_vehicles(ledger, days: int) -> tuple[Partner, Partner]:
    """A workshop servicing VIN and an inspector inspecting VIN2, one of each a day,
    each day its own batch (so its own checkpoint). Answers (workshop, inspector)."""
    shop = onboard(ledger, "quicklane", "workshop")
    inspector = onboard(ledger, "acme", "inspector")
    for d in range(1, days + 1):
        ledger.submit_now(
            [
                shop.envelope(maintenance(km=10_000 * d, day=d)),
                inspector.envelope(inspection(vin=VIN2, km=5_000 * d, day=d)),
            ]
        )
    return shop, inspector


# ---- a real server, started through the CLI ----------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vinledger(
    *args: str, data: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    """Runs the CLI in a child process, as a user would."""
    extra = ["--data", str(data)] if data is not None else []
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args, *extra],
        capture_output=True,
        text=True,
        check=check,
    )


def start_server(
    data: Path, port: int | None = None, *options: str
) -> tuple[subprocess.Popen, str]:
    """``vinledger serve --data DATA [OPTIONS]`` in a child process, once it answers:
    (process, url).

    Its output goes to a log file beside the data directory, which a failure shows.
    """
    port = port or free_port()
    log_path = data.parent / f"serve-{port}.log"
    serve = ["serve", "--data", str(data), "--port", str(port), *options]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "api.cli", *serve],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail("server did not start: " + log_path.read_text(errors="replace"))


@pytest.fixture
def server(tmp_path):
    """``vinledger init`` then ``vinledger serve`` on a free port: (url, vkey, data dir)."""
    data = tmp_path / "data"
    out = vinledger("init", data=data).stdout
    vkey = out.strip().splitlines()[-1]
    proc, url = start_server(data)
    yield url, vkey, data
    proc.terminate()
    proc.wait(10)
