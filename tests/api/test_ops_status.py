"""`vinledger status`: what an operator checks first, read without writing anything."""

from __future__ import annotations

import shutil

from click.testing import CliRunner

from api.cli import main
from tests.conftest import onboard


def status(ledger):
    return CliRunner().invoke(main, ["status", "--data", str(ledger.settings.data_dir)])


def record_mark(ledger) -> None:
    from ledger.continuity import mark_path
    from ledger.continuity import record_mark as record

    record(ledger.store, ledger.vkey, mark_path(ledger.settings.data_dir))


def test_status_of_a_ledger_that_holds_its_mark(sqlite_ledger):
    onboard(sqlite_ledger, "acme", "inspector")
    result = status(sqlite_ledger)
    assert result.exit_code == 0, result.output
    lines = {line[:14].strip(): line[14:] for line in result.output.splitlines()}
    assert lines["log size"] == "4 entries"
    assert lines["checkpoint"].startswith("size 4, signed 20") and lines["checkpoint"].endswith("Z")
    assert lines["published"] == "none yet (published-checkpoint)"
    assert lines["rules level"] == "2 (this release: 2)"
    assert lines["database"].startswith("SQLite, sqlite:///")
    record_mark(sqlite_ledger)
    assert (
        "published     size 4 (published-checkpoint): the database holds it"
        in status(sqlite_ledger).output
    )


def test_status_writes_nothing_and_says_when_the_database_is_behind(sqlite_ledger, tmp_path):
    db = tmp_path / "ledger.db"
    data = str(sqlite_ledger.settings.data_dir)
    backup = CliRunner().invoke(main, ["backup", str(tmp_path / "old.db"), "--data", data])
    assert backup.exit_code == 0, backup.output  # 2 entries
    onboard(sqlite_ledger, "acme", "inspector")
    record_mark(sqlite_ledger)
    mark = sqlite_ledger.settings.data_dir / "published-checkpoint"
    before = mark.read_bytes()
    onboard(sqlite_ledger, "bcme", "inspector")  # the database is now ahead of the mark
    assert status(sqlite_ledger).exit_code == 0
    assert mark.read_bytes() == before  # status never advances the mark
    sqlite_ledger.close()
    shutil.copy(tmp_path / "old.db", db)  # a restore from before the mark
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"ledger.db{suffix}").unlink(missing_ok=True)
    result = status(sqlite_ledger)
    assert result.exit_code == 1
    assert "published     size 4 (published-checkpoint): the database does NOT hold it" in (
        result.output
    )
    assert "error: the database holds 2 entries" in result.output
    assert mark.read_bytes() == before


def test_status_of_a_database_from_before_rules_levels(sqlite_ledger):
    from sqlalchemy import text

    onboard(sqlite_ledger, "acme", "inspector")
    with sqlite_ledger.store.write_engine.begin() as c:  # as a database from before them
        c.execute(text("ALTER TABLE log_state DROP COLUMN rules"))
    sqlite_ledger.close()
    result = status(sqlite_ledger)
    assert result.exit_code == 0, result.output
    assert "rules level   before rules levels (this release: 2)" in result.output
    assert "log size      4 entries" in result.output
