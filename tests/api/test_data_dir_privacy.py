"""What the log never publishes stays on the operator's side of the machine too: the
data directory and everything `init` writes are its owner's alone, a database
password is never printed nor (when given in the environment) written, and a file the
CLI cannot create is one line, not a traceback."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from tests.conftest import fresh_pg_database, start_server, vinledger


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    """The usual umask (022), whatever the test runner's is: files are made 0644."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_init_makes_the_directory_and_its_files_readable_by_the_owner_only(tmp_path, open_umask):
    data = tmp_path / "new" / "ledger-data"
    vinledger("init", data=data)
    assert mode(data) == 0o700
    for name in ("config.json", "ledger.db", "log.key", "operator.key", "admin.token"):
        assert mode(data / name) == 0o600, name
    # SQLite makes its write-ahead log and shared-memory files with the database's mode.
    c = sqlite3.connect(data / "ledger.db")
    c.execute("pragma journal_mode=wal")
    c.execute("create table t(x)")
    for name in ("ledger.db-wal", "ledger.db-shm"):
        assert mode(data / name) == 0o600, name
    c.close()


def test_serve_warns_of_a_database_others_may_read(tmp_path, open_umask):
    """A data directory made by an earlier release has a 0644 database: the operator is
    told, and told how to close it."""
    data = tmp_path / "d"
    vinledger("init", data=data)
    os.chmod(data / "ledger.db", 0o644)
    proc, url = start_server(data)
    proc.terminate()
    proc.wait(timeout=30)
    said = (tmp_path / f"serve-{url.rsplit(':', 1)[1]}.log").read_text()
    assert f"warning: {data / 'ledger.db'} may be read by other users" in said
    assert f"chmod 600 {data / 'ledger.db'}" in said
    assert "config.json may be read" not in said
    assert f"warning: {data} may be read" not in said  # init made it 0700


def test_init_into_an_empty_directory_closes_it_and_serve_warns_of_an_open_one(
    tmp_path, open_umask
):
    data = tmp_path / "made-by-hand"
    data.mkdir(mode=0o755)
    vinledger("init", data=data)
    assert mode(data) == 0o700
    os.chmod(data, 0o755)
    proc, url = start_server(data)
    proc.terminate()
    proc.wait(timeout=30)
    said = (tmp_path / f"serve-{url.rsplit(':', 1)[1]}.log").read_text()
    assert f"warning: {data} may be read by other users" in said and f"chmod 700 {data}" in said


def test_a_database_password_is_never_printed_and_never_written(tmp_path, open_umask):
    with fresh_pg_database("vinledger_pw") as url:
        secret = "S3cret-Passw0rd"
        with_password = url.replace("postgres@", f"postgres:{secret}@", 1)
        assert secret in with_password
        given = vinledger("init", "--database-url", with_password, data=tmp_path / "given")
        assert secret not in given.stdout + given.stderr
        assert "postgres:***@" in given.stdout
        assert mode(tmp_path / "given" / "config.json") == 0o600

        # From the environment, the URL is not written at all.
        env = {**os.environ, "VINLEDGER_DATABASE_URL": with_password}
        data = tmp_path / "env"
        run = subprocess.run(
            [sys.executable, "-m", "api.cli", "init", "--data", str(data)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        # The database already holds the first ledger's log: init refuses it, as always.
        assert run.returncode == 1 and secret not in run.stdout + run.stderr
    with fresh_pg_database("vinledger_pw") as url:
        env = {**os.environ, "VINLEDGER_DATABASE_URL": url.replace("postgres@", "postgres:x@")}
        run = subprocess.run(
            [sys.executable, "-m", "api.cli", "init", "--data", str(data)],
            capture_output=True, text=True, env=env, check=True,
        )  # fmt: skip
        config = (data / "config.json").read_text()
        assert json.loads(config)["database_url"] == "$VINLEDGER_DATABASE_URL"
        assert "postgres:" not in config
        assert not (data / "ledger.db").exists()  # no SQLite file made beside it
        # Later commands read it from the environment, and say so when it is missing.
        checked = subprocess.run(
            [sys.executable, "-m", "api.cli", "audit", "--data", str(data)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        unset = {k: v for k, v in env.items() if k != "VINLEDGER_DATABASE_URL"}
        refused = subprocess.run(
            [sys.executable, "-m", "api.cli", "audit", "--data", str(data)],
            capture_output=True, text=True, env=unset, check=False,
        )  # fmt: skip
        assert refused.returncode == 1 and "Traceback" not in refused.stderr
        assert "set VINLEDGER_DATABASE_URL" in refused.stderr


def test_keygen_into_a_missing_directory_is_one_line(tmp_path):
    run = vinledger("keygen", str(tmp_path / "keys" / "acme.key"), check=False)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert f"no directory {tmp_path / 'keys'}" in run.stderr
    vinledger("keygen", str(tmp_path / "acme.key"))
    again = vinledger("keygen", str(tmp_path / "acme.key"), check=False)
    assert again.returncode == 1 and "already exists" in again.stderr


def test_an_attachment_taken_down_is_cached_for_a_day_at_most(client, sqlite_ledger):
    """A document found to name its owner is removed from DATA/attachments: the ledger
    stops serving it at once, and tells caches to keep it a day, not for ever."""
    data = b"%PDF-1.7 inspection report"
    sha = hashlib.sha256(data).hexdigest()
    held = sqlite_ledger.attachment_path(sha)
    held.parent.mkdir(parents=True, exist_ok=True)
    held.write_bytes(data)
    r = client.get(f"/attachments/{sha}")
    assert r.status_code == 200 and r.content == data
    assert r.headers["cache-control"] == "public, max-age=86400"
    held.unlink()
    assert client.get(f"/attachments/{sha}").status_code == 404
