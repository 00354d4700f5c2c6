"""What an operator checks and keeps of a data directory's log.

``vinledger backup FILE``: a consistent copy of a SQLite ledger's database while it
serves (copying ``ledger.db`` by hand misses what is still in its write-ahead log).
PostgreSQL has its own tools; the command says which, and why a log needs more than a
nightly dump (docs/reliability.md, "Backups and restores").

``vinledger status``: the log's size, latest checkpoint, published mark and rules
level, read without writing anything (not even the mark), so it is safe beside a
running server and on a restored copy.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import click

from api.cli_admin import data_option

PG_ADVICE = (
    "this ledger's database is PostgreSQL: back it up with its own tools. A log cannot "
    "lose an entry it acknowledged without forking, so run a synchronous standby or "
    "continuous WAL archiving (point-in-time recovery) and use pg_dump for snapshots; "
    "see docs/reliability.md, 'Backups and restores'"
)


@click.command()
@data_option
@click.argument("dest", type=click.Path(dir_okay=False, path_type=Path))
def backup(data_dir: Path, dest: Path) -> None:
    """Copy the ledger's SQLite database to DEST, consistent while it serves."""
    from api.cli import fail
    from api.config import load_settings

    settings = load_settings(data_dir)
    prefix = "sqlite:///"
    if not settings.database_url.startswith(prefix):
        fail(PG_ADVICE)
    source = Path(settings.database_url[len(prefix) :].partition("?")[0])
    if not source.exists():
        fail(f"no database at {source}: check config.json's database_url")
    try:  # only the owner reads it, as the database itself
        os.close(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        fail(f"{dest} exists; name a new file (a backup never overwrites one)")
    except OSError as err:
        fail(f"cannot create {dest}: {err.strerror}")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        # In one step: one read snapshot, which in WAL mode never blocks the ledger's
        # writers (a step-wise copy starts over on each of their commits, for ever).
        src.backup(dst, pages=-1)
        size = dst.execute("SELECT max(size) FROM checkpoints").fetchone()[0] or 0
    except sqlite3.Error as err:
        dst.close()
        dest.unlink(missing_ok=True)
        fail(f"the backup failed and was removed: {err}")
    finally:
        src.close()
    dst.close()
    click.echo(f"Backed up {source} to {dest}: the log up to checkpoint size {size}.")
    click.echo(
        "Keep the data directory's keys (log.key, operator.key) backed up apart from it. "
        "A ledger refuses to sign onto a restored copy once it has published more than "
        "the copy holds (docs/reliability.md, 'Backups and restores')."
    )


@click.command()
@data_option
def status(data_dir: Path) -> None:
    """Show the log's size, latest checkpoint, published mark, rules level and database
    kind; exit 1 if the database is behind the mark (or off it). Writes nothing."""
    from api.cli import fail
    from api.config import load_settings, shown_url
    from core.errors import ForkRisk
    from ledger.continuity import check_continuity, mark_path, read_mark
    from ledger.signing import LogSigner
    from ledger.storage import Store

    settings = load_settings(data_dir)
    settings.check_database()
    vkey = LogSigner(settings.origin, settings.log_key()).vkey
    store = Store(settings.database_url)
    try:
        facts = _facts(store)
        published = read_mark(mark_path(data_dir), vkey)
        try:
            check_continuity(store, vkey, mark_path(data_dir))
            problem = None
        except ForkRisk as err:
            problem = err
    finally:
        store.dispose()
    kind = "SQLite" if store.is_sqlite else "PostgreSQL"
    click.echo(f"ledger        {settings.origin} in {data_dir}")
    click.echo(f"database      {kind}, {shown_url(settings.database_url)}")
    click.echo(f"log size      {facts['size']:,} entries")
    click.echo(f"checkpoint    {facts['checkpoint']}")
    if published is None:  # a new ledger, or a mark removed: nothing to be behind
        click.echo(f"published     none yet ({mark_path(data_dir).name})")
    else:
        held = "the database holds it" if problem is None else "the database does NOT hold it"
        click.echo(f"published     size {published.size:,} ({mark_path(data_dir).name}): {held}")
    click.echo(f"rules level   {facts['rules']}")
    if problem is not None:
        fail(problem)


def _facts(store) -> dict:
    """The log's size, latest checkpoint and rules level, as lines to print."""
    from datetime import UTC

    from sqlalchemy import inspect, text

    from ledger.schema import RULES_LEVEL
    from ledger.storage import latest_checkpoint, log_size

    with store.reader() as s:
        size = log_size(s)
        row = latest_checkpoint(s)
        # A database from before rules levels has no such column (status migrates nothing).
        columns = {c["name"] for c in inspect(s.connection()).get_columns("log_state")}
        query = text("SELECT rules FROM log_state WHERE id = 1")
        rules = s.execute(query).scalar() if "rules" in columns else None
    checkpoint = "none yet"
    if row is not None:
        at = row.created_at  # SQLite gives it back without its zone, UTC
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        when = at.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        checkpoint = f"size {row.size:,}, signed {when}"
    of = "before rules levels" if rules is None else rules
    return {"size": size, "checkpoint": checkpoint, "rules": f"{of} (this release: {RULES_LEVEL})"}
