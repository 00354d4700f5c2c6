"""An operator's restore, through the CLI in child processes: a database from an older
backup is refused by every command that would sign, with one line saying what
happened and what to do; a refused `init` leaves no keys behind."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys

import pytest

from tests.conftest import vinledger


def backup(db, to) -> None:
    src, dst = sqlite3.connect(db), sqlite3.connect(to)
    src.backup(dst)
    src.close()
    dst.close()


def add_actor(data, tmp_path, name: str, check: bool = True):
    key = tmp_path / f"{name}.key"
    if not key.exists():
        vinledger("keygen", str(key))
    return vinledger(
        "actors", "add", name, "--role", "inspector", "--public-key", f"{key}.pub",
        data=data, check=check,
    )  # fmt: skip


def test_a_restored_older_database_is_refused_by_every_signing_command(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    add_actor(data, tmp_path, "Acme")
    backup(data / "ledger.db", tmp_path / "nightly.db")
    add_actor(data, tmp_path, "Bravo")  # published: entries 4 and 5
    backup(tmp_path / "nightly.db", data / "ledger.db")  # the disaster and the restore

    refused = add_actor(data, tmp_path, "Carol", check=False)
    assert refused.returncode == 1
    assert "Traceback" not in refused.stderr
    assert "holds 4 entries, but this ledger published a checkpoint of 6" in refused.stderr
    assert "Restore a backup that holds them all, or start a new log" in refused.stderr
    serve = subprocess.run(
        [sys.executable, "-m", "api.cli", "serve", "--data", str(data), "--port", "1"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert serve.returncode == 1 and "published a checkpoint of 6" in serve.stderr
    assert "Traceback" not in serve.stderr
    # Nothing was signed onto the restored database meanwhile.
    with sqlite3.connect(data / "ledger.db") as c:
        assert c.execute("select max(size) from checkpoints").fetchone() == (4,)


def test_a_refused_init_leaves_no_keys_that_could_be_served(tmp_path):
    vinledger("init", data=tmp_path / "live")
    url = f"sqlite:///{tmp_path / 'live' / 'ledger.db'}"
    stray = tmp_path / "stray"
    out = vinledger("init", "--database-url", url, data=stray, check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert sorted(p.name for p in stray.iterdir()) == []


def test_a_data_directory_of_another_log_cannot_sign_onto_this_one(tmp_path):
    vinledger("init", data=tmp_path / "live")
    url = f"sqlite:///{tmp_path / 'live' / 'ledger.db'}"
    vinledger("init", data=tmp_path / "other")  # its own log, its own keys
    config = tmp_path / "other" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "database_url": url}))
    mark = tmp_path / "other" / "published-checkpoint"
    own = mark.read_text()  # its own genesis checkpoint
    out = add_actor(tmp_path / "other", tmp_path, "Acme", check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "not by this data directory's log key" in out.stderr
    assert mark.read_text() == own  # the live log's checkpoint was not taken as its own


def test_a_copied_data_directory_opens_its_own_database(tmp_path):
    # A staging copy or a test restore of the directory must not write to the original.
    vinledger("init", data=tmp_path / "live")
    shutil.copytree(tmp_path / "live", tmp_path / "copy")
    add_actor(tmp_path / "copy", tmp_path, "Acme")
    sizes = {}
    for name in ("live", "copy"):
        with sqlite3.connect(tmp_path / name / "ledger.db") as c:
            sizes[name] = c.execute("select max(size) from checkpoints").fetchone()[0]
    assert sizes == {"live": 2, "copy": 4}
    config = json.loads((tmp_path / "live" / "config.json").read_text())
    assert config["database_url"] == "sqlite:///ledger.db"


def test_a_backup_taken_while_serving_restores_the_whole_log(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    add_actor(data, tmp_path, "Acme")
    out = vinledger("backup", str(tmp_path / "b.db"), data=data).stdout
    assert "up to checkpoint size 4" in out
    assert (tmp_path / "b.db").stat().st_mode & 0o077 == 0
    again = vinledger("backup", str(tmp_path / "b.db"), data=data, check=False)
    assert again.returncode == 1 and "never overwrites" in again.stderr
    # Restored before anything more was published: served as it is.
    (data / "ledger.db").unlink()
    for suffix in ("-wal", "-shm"):
        (data / f"ledger.db{suffix}").unlink(missing_ok=True)
    shutil.copy(tmp_path / "b.db", data / "ledger.db")
    add_actor(data, tmp_path, "Bravo")
    assert "OK" in vinledger("audit", data=data).stdout


def test_a_directory_holding_a_logs_mark_is_not_initialised_again(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    for name in ("config.json", "log.key", "operator.key", "admin.token", "ledger.db"):
        (data / name).unlink()
    out = vinledger("init", data=data, check=False)  # the mark of the log it served stays
    assert out.returncode == 1 and "already holds a ledger" in out.stderr
    assert not (data / "log.key").exists()


def test_an_older_config_with_a_relative_database_keeps_its_meaning(tmp_path):
    # Releases before the data directory named its own database stored a relative
    # `init --database-url sqlite:///x.db` as given, read from the working directory.
    work = tmp_path / "work"
    work.mkdir()
    subprocess.run(
        [sys.executable, "-m", "api.cli", "init", "--database-url", "sqlite:///x.db",
         "--data", "d"], cwd=work, check=True, capture_output=True,
    )  # fmt: skip
    config = work / "d" / "config.json"
    config.write_text(
        json.dumps({**json.loads(config.read_text()), "database_url": "sqlite:///x.db"})
    )
    audit = subprocess.run(
        [sys.executable, "-m", "api.cli", "audit", "--data", "d"],
        cwd=work, capture_output=True, text=True,
    )  # fmt: skip
    assert audit.returncode == 0 and "audit OK: 2 entries" in audit.stdout, audit.stderr
    # From elsewhere it names no database: said in one line, no empty database made.
    lost = vinledger("audit", data=work / "d", check=False)
    assert lost.returncode == 1 and "no database at x.db" in lost.stderr
    assert "Traceback" not in lost.stderr and not (tmp_path / "x.db").exists()


@pytest.mark.parametrize(("name", "says"), [("log.key", "a new key"), ("operator.key", "granted")])
def test_a_missing_key_file_is_said_in_one_line(tmp_path, name, says):
    data = tmp_path / "d"
    vinledger("init", data=data)
    (data / name).unlink()
    # Reading needs neither key now; revoking a key needs both (it signs and logs).
    assert vinledger("audit", data=data, check=False).returncode == (name == "log.key")
    out = vinledger("keys", "revoke", "ab" * 32, data=data, check=False)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert f"{data / name} is missing" in out.stderr and says in out.stderr
