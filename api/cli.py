"""The ``vinledger`` command line, for operators, partners, dealers and buyers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import msgspec

from api.cli_accounts import commissions, referrals
from api.cli_admin import actors, admin_token, data_option
from api.cli_backup import backup, status
from api.cli_monitor import monitor
from api.cli_read import verify
from api.cli_receipts import verify_receipt
from api.cli_submit import echo_decision, sign, submit
from core.errors import StorageUnavailable, VinledgerError


def fail(message: str | VinledgerError, code: int = 1):
    if isinstance(message, VinledgerError):
        message = _said(message)
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


_OUTAGES = {
    "unreachable": "unreachable",
    "full": "out of disk space",
    "busy": "busy: a lock or a connection did not come free in time",
    "read-only": "read-only (a standby, or its files made read-only)",
    "io": "failing to read or write its files",
}


def _said(err: VinledgerError) -> str:
    """``err`` for the operator: a database that cannot serve is named (its password
    left out) with its own error, not given the advice an API client gets."""
    if not isinstance(err, StorageUnavailable):
        return str(err)
    database = err.database or "of the ledger"
    return (
        f"the database {database} is {_OUTAGES.get(err.state, 'unavailable')} "
        f"({err.cause}); check that it is up and that config.json's database_url "
        "(or $VINLEDGER_DATABASE_URL) names it"
    )


def _open_ledger(data_dir: Path):
    """The ledger in ``data_dir``, once its database is known to extend what this
    ledger has published (ledger/continuity.py): nothing signs onto a fork."""
    from api.config import load_settings
    from api.service import Ledger
    from ledger.continuity import mark_path, record_mark

    try:
        settings = load_settings(data_dir)
        settings.check_database()
        ledger = Ledger(settings)
    except VinledgerError as err:
        fail(err)
    try:
        record_mark(ledger.store, ledger.vkey, mark_path(ledger.settings.data_dir))
    except VinledgerError as err:
        ledger.close()  # and record nothing: the database is not this log's
        fail(err)
    return ledger


def _close_ledger(ledger) -> None:
    """Close ``ledger``, first recording the checkpoint its command may have signed."""
    from ledger.continuity import mark_path, record_mark

    try:
        record_mark(ledger.store, ledger.vkey, mark_path(ledger.settings.data_dir))
    finally:
        ledger.close()


class _Group(click.Group):
    """Every command: a ``VinledgerError`` is a one-line error and exit status 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except VinledgerError as err:
            fail(err)


@click.group(cls=_Group)
@click.version_option(package_name="vinledger")
def main() -> None:
    """vinledger: a vehicle history that buyers verify instead of trust."""


main.add_command(verify)
main.add_command(verify_receipt)
main.add_command(monitor)
main.add_command(actors)
main.add_command(sign)
main.add_command(submit)
main.add_command(backup)
main.add_command(status)
main.add_command(admin_token)
main.add_command(commissions)
main.add_command(referrals)


# ---- operator ------------------------------------------------------------------------


def initialise(data_dir: Path, origin: str, database_url: str | None, time_zone: str = "UTC"):
    from api.config import DATA_FILES, create_data_dir
    from api.service import Ledger
    from ledger.storage import Store

    own = (*DATA_FILES, "ledger.db")  # the SQLite file too, if init makes it
    made = [data_dir / name for name in own if not (data_dir / name).exists()]
    try:
        settings = create_data_dir(
            data_dir, origin=origin, database_url=database_url, time_zone=time_zone
        )
        store = Store(settings.database_url)
        store.create_schema()
        ledger = Ledger(settings, store)
        ledger.genesis()
    except BaseException:
        # A refused init (a database that already holds a log, one that cannot be
        # reached) leaves no keys or config behind that could be served as a log.
        for path in made:
            path.unlink(missing_ok=True)
        raise
    return ledger


@main.command()
@data_option
@click.option("--origin", default=None, help="log origin, e.g. ledger.example.com/log")
@click.option("--database-url", default=None, help="SQLAlchemy URL (default: SQLite in DIR)")
@click.option(
    "--time-zone",
    default="UTC",
    show_default=True,
    help="where guarantees count calendar days, an IANA zone (e.g. Asia/Shanghai)",
)
def init(data_dir: Path, origin: str | None, database_url: str | None, time_zone: str) -> None:
    """Create a ledger: database, log key, operator key, admin token."""
    from api.config import DEFAULT_ORIGIN, shown_url

    try:
        ledger = initialise(data_dir, origin or DEFAULT_ORIGIN, database_url, time_zone)
    except VinledgerError as err:
        fail(err)
    s = ledger.settings
    click.echo(f"Created a ledger in {data_dir}")
    click.echo(f"  database      {shown_url(s.database_url)}")
    click.echo(f"  time zone     {s.time_zone} (where guarantees count calendar days)")
    click.echo(f"  log key       {s.log_key_path} (mode 0600)")
    click.echo(f"  operator key  {s.operator_key_path} (mode 0600)")
    click.echo(f"  admin token   {s.token_path} (mode 0600)")
    click.echo("Verifier key of the log (publish it; clients pin it):")
    click.echo(ledger.vkey)
    _close_ledger(ledger)


@main.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),  # api.app.LOG_LEVELS
    default="info",
    show_default=True,
    help="the ledger's own log lines (refusals and admin actions are info)",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="a line per request, with its path (VINs) and client address",
)
def serve(
    data_dir: Path, host: str, port: int, workers: int, log_level: str, access_log: bool
) -> None:
    """Serve the API for the ledger in DIR."""
    import uvicorn

    from api.config import loose_permissions, sqlite_path
    from api.metrics import worker_counters

    ledger = _open_ledger(data_dir)  # fail early, with a clear message, on a bad DIR
    ledger.close()
    try:
        ledger.settings.admin_token()
    except VinledgerError as err:
        fail(err)
    for path in (data_dir, data_dir / "config.json", sqlite_path(ledger.settings.database_url)):
        if path is not None and (warning := loose_permissions(path)):
            click.echo(f"warning: {warning}", err=True)
    os.environ["VINLEDGER_DATA"] = str(data_dir)
    # For the app factory, in every worker (api.app.configure_logging).
    os.environ["VINLEDGER_LOG_LEVEL"] = log_level
    os.environ["VINLEDGER_ACCESS_LOG"] = "1" if access_log else "0"
    click.echo(f"Serving {data_dir} on http://{host}:{port} (Ctrl-C to stop)")
    with worker_counters(workers):  # GET /metrics adds up every worker's counters
        uvicorn.run(
            "api.app:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="warning",
            access_log=access_log,
        )


@main.group()
def keys() -> None:
    """Revoke keys."""


@keys.command("revoke")
@data_option
@click.argument("keyid")
@click.option("--reason", default="revoked by the operator", show_default=True)
def keys_revoke(data_dir, keyid, reason) -> None:
    """Append a revocation of KEYID: it signs nothing after this entry."""
    from core.fields import key_id_problem

    if problem := key_id_problem(keyid):
        fail(problem)
    ledger = _open_ledger(data_dir)
    try:
        a = ledger.revoke_key(keyid, reason)
    except VinledgerError as err:
        fail(err)
    finally:
        _close_ledger(ledger)
    click.echo(f"Key {keyid} revoked at entry {a.index}")


@main.command("append")
@data_option
@click.argument("record", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def append_command(data_dir, record: Path) -> None:
    """Append RECORD.json as the operator (a dispute, a complaint, a correction, a recall)."""
    from api.routes.records import claim_decisions, claims_among

    ledger = _open_ledger(data_dir)
    try:
        a = ledger.operator_submit(record.read_bytes())
        decision = claim_decisions(ledger.store, claims_among([a])).get(a.index)
    finally:
        _close_ledger(ledger)
    word = "appended" if a.created else "already in the log"
    click.echo(f"{word}: entry {a.index}")
    if decision is not None:
        echo_decision(msgspec.to_builtins(decision))


@main.group()
def tokens() -> None:
    """API tokens for dealers and referrers (to read their commissions)."""


@tokens.command("issue")
@data_option
@click.argument("actor_id")
def tokens_issue(data_dir, actor_id) -> None:
    """Print a new bearer token for ACTOR_ID; only its hash is kept."""
    ledger = _open_ledger(data_dir)
    try:
        click.echo(ledger.issue_token(actor_id))
    finally:
        _close_ledger(ledger)


@tokens.command("revoke")
@data_option
@click.argument("actor_id")
def tokens_revoke(data_dir, actor_id) -> None:
    """Revoke every API token of ACTOR_ID at once (then issue a new one if needed)."""
    ledger = _open_ledger(data_dir)
    try:
        n = ledger.revoke_tokens(actor_id)
    finally:
        _close_ledger(ledger)
    click.echo(f"revoked {n} token{'' if n == 1 else 's'} of {actor_id}")


@main.command()
@data_option
@click.option(
    "--signatures/--no-signatures",
    default=True,
    show_default=True,
    help="also verify every DSSE signature against the key valid at its index, each "
    "signer's role and what each record references (claims, corrections, ...)",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=lambda: min(os.cpu_count() or 1, 8),
    show_default="the number of CPUs, at most 8",
    help="worker processes that check chunks of the log side by side",
)
def audit(data_dir: Path, signatures: bool, jobs: int) -> None:
    """Replay the whole log and check every hash, chain link, signature and checkpoint."""
    from core.errors import AuditError
    from ledger.audit import audit as run_audit

    ledger = _open_ledger(data_dir)
    try:
        result = run_audit(ledger.store, ledger.vkey, signatures=signatures, jobs=jobs)
    except AuditError as err:
        fail(f"audit FAILED: {err}")
    finally:
        _close_ledger(ledger)
    click.secho(
        f"audit OK: {result.size} entries, {result.checkpoints} checkpoints, "
        f"{result.vins} vehicles, {result.signatures} signatures verified",
        fg="green",
    )


@main.command("plugins")
@data_option
def plugins_command(data_dir: Path) -> None:
    """List the plugins this ledger loads, with their versions and what they register;
    exit 1 if two of them claim the same thing, which would stop the ledger."""
    from api.config import load_settings
    from plugins.manager import (
        create_plugin_manager,
        installed_plugin_names,
        list_plugins,
        unknown_disabled,
    )
    from plugins.registry import Registry

    if (data_dir / "config.json").exists():
        disabled = load_settings(data_dir).disabled_plugins
    else:
        disabled = []
        click.echo(
            f"(no ledger in {data_dir}: every installed plugin is listed, none disabled; "
            "give --data DIR for a ledger's own list)",
            err=True,
        )
    pm = create_plugin_manager(disabled)
    registry = Registry(pm, strict=False)
    for info in list_plugins(pm):
        # An installed plugin names its distribution: the one to uninstall or upgrade.
        where = "built-in" if info.builtin else "installed"
        if not info.builtin and info.distribution:
            where += f" from {info.distribution}"
        click.echo(f"{info.name} {info.version} ({where})")
        for table, item in registry.registered.get(info.name, []):
            click.echo(f"    {_registered_line(table, item)}")
        failed = info.failed or registry.failed.get(info.name)
        if failed:
            click.secho(f"    FAILED: {failed}", fg="red")
    installed = installed_plugin_names()
    for name in disabled:
        if name in installed:
            click.echo(f"{name} (disabled in config.json)")
    for warning in unknown_disabled(disabled):
        click.secho(f"warning: {warning}", fg="yellow")
    for conflict in registry.conflicts:
        click.secho(f"error: {conflict}", fg="red", err=True)
    if registry.conflicts:
        sys.exit(1)


def _registered_line(table: str, item) -> str:
    if table == "providers":
        return f"provider {item.id} version {item.version} for {item.payload_type}"
    kind = {"policies": "policy", "rules": "rule"}[table]
    return f"{kind} {item.id} version {item.version}"


# ---- partners and dealers ---------------------------------------------------------------


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def keygen(file: Path) -> None:
    """Write a new Ed25519 key to FILE (mode 0600) and its public key to FILE.pub."""
    from api.config import write_secret
    from core.keys import (
        generate_private_key,
        key_id,
        private_key_to_pem,
        public_key_pem,
    )

    key = generate_private_key()
    try:
        write_secret(file, private_key_to_pem(key))
    except VinledgerError as err:  # the file exists, or its directory does not
        fail(err)
    pub = Path(str(file) + ".pub")
    pub.write_bytes(public_key_pem(key.public_key()))
    click.echo(f"private key  {file}")
    click.echo(f"public key   {pub}")
    click.echo(f"key id       {key_id(key.public_key())}")


@main.command()
@data_option
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--serve/--no-serve", "do_serve", default=True, show_default=True)
def demo(data_dir: Path, host: str, port: int, do_serve: bool) -> None:
    """Create a ledger with realistic demo data, print a history link and serve it.

    A --data directory that already holds a ledger is served as it is, not seeded
    again (so the same command starts the demo again after a stop)."""
    from api.demo import guide, seed

    if (data_dir / "config.json").exists():
        click.echo(f"Using the existing ledger in {data_dir} (not seeded again)")
        ledger = _open_ledger(data_dir)
        featured = None
    else:
        from api.config import DEFAULT_ORIGIN

        ledger = initialise(data_dir, DEFAULT_ORIGIN, None)
        featured = seed(ledger)
    from ledger.schema import EntryRow

    with ledger.store.reader() as s:
        row = s.query(EntryRow).filter(EntryRow.vin.is_not(None)).order_by(EntryRow.idx).first()
    vin = featured or (row.vin if row else None)
    base = f"http://{host}:{port}"
    click.echo(f"Ledger in {data_dir}. Verifier key of the log:")
    click.echo(f"  {ledger.vkey}")
    if vin:
        click.echo("Vehicle history:")
        click.echo(f"  {base}/vehicles/{vin}")
        click.echo(f"  {base}/vehicles/{vin}/history   (JSON)")
        for line in guide(ledger, base):
            click.echo(line)
        click.echo("Verify it yourself, offline:")
        click.echo(f"  vinledger verify {base}/vehicles/{vin}/bundle --vkey '{ledger.vkey}'")
        click.echo("Watch the whole log, so no bundle can leave an entry out (then add --monitor):")
        click.echo(f"  vinledger monitor {base} --vkey '{ledger.vkey}' --state ./vinledger-monitor")
    _close_ledger(ledger)
    if do_serve:
        click.echo(f"Serving on {base} (Ctrl-C to stop)")
        os.environ["VINLEDGER_DATA"] = str(data_dir)
        import uvicorn

        uvicorn.run(
            "api.app:app_from_environment", factory=True, host=host, port=port, log_level="warning"
        )


if __name__ == "__main__":
    main()
