"""``vinledger backup FILE``: a consistent copy of a SQLite ledger's database while it
serves (copying ``ledger.db`` by hand misses what is still in its write-ahead log).

PostgreSQL has its own tools; the command says which, and why a log needs more than a
nightly dump (docs/reliability.md, "Backups and restores").
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
