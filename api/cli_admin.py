"""The operator's commands for actors: ``vinledger actors add`` and ``actors show``,
and the ``--data`` option every command on a ledger's data directory takes.

The error helpers live in ``api.cli``, which imports this module: they are imported
where they are used, as in ``api.cli_read``.
"""

from __future__ import annotations

from pathlib import Path

import click

DATA_HELP = "data directory (default ./vinledger-data, or $VINLEDGER_DATA)"

ROLES = ["operator", "inspector", "workshop", "insurer", "registry", "dealer", "referrer"]


def data_option(f):
    return click.option(
        "--data",
        "data_dir",
        type=click.Path(file_okay=False, path_type=Path),
        envvar="VINLEDGER_DATA",
        default="vinledger-data",
        show_default=True,
        help=DATA_HELP,
    )(f)


@click.group()
def actors() -> None:
    """Onboard inspectors, workshops, insurers, registries, dealers and referrers."""


@actors.command("add")
@data_option
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--public-key",
    "public_key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public (or private) key of the actor",
)
@click.option("--id", "actor_id", default=None, help="actor id (default: from NAME)")
@click.option("--upline", default=None, help="upline referrer's actor id")
def actors_add(data_dir, name, role, public_key, actor_id, upline) -> None:
    """Append NAME as an actor with ROLE and grant it the key, signed by the operator.

    Without --id, the id is made from NAME ("Škoda Praha" is skoda-praha) and must be
    new. For an existing actor (a new key) give its --id, its NAME, --role and --upline
    as they are: an actor entry is never changed, so anything else is refused."""
    from api.cli import _close_ledger, _open_ledger, fail
    from api.routes.admin import actor_id_from, derived_id_taken
    from core.errors import VinledgerError
    from core.fields import ACTOR_ID_HINT, actor_id_problem
    from core.keys import key_id, load_public_key

    derived = not actor_id  # none given (or an empty --id)
    actor_id = actor_id or actor_id_from(name)
    if not actor_id:
        fail(
            f"no actor id can be made from the name {name!r} (it has no Latin letter or "
            "digit); give one with --id, e.g. --id acme"
        )
    if derived and actor_id_problem(actor_id):
        fail(
            f"the actor id made from the name {name!r} would be {actor_id!r}; "
            f"{ACTOR_ID_HINT}. Give one with --id, e.g. --id {actor_id}-{role}"
        )
    ledger = _open_ledger(data_dir)
    try:
        if derived and (taken := derived_id_taken(ledger, actor_id, name, "--id")):
            raise taken
        appended = ledger.add_actor(actor_id, name, role, public_key.read_bytes(), upline)
    except VinledgerError as err:
        fail(err)
    finally:
        _close_ledger(ledger)
    click.echo(f"Actor {actor_id} ({role}) key {key_id(load_public_key(public_key.read_bytes()))}")
    for a in appended:
        click.echo(f"  appended entry {a.index}")


@actors.command("show")
@data_option
@click.argument("actor_id", metavar="ACTOR")
def actors_show(data_dir, actor_id) -> None:
    """List ACTOR (name, role, upline) and every key granted to it: its id, the entry
    that granted it and the one that revoked it, with the reason, if any. The key id to
    revoke is here."""
    from api.cli import _close_ledger, _open_ledger, fail
    from api.routes.admin import revocation_reasons
    from core.fields import actor_id_problem

    if problem := actor_id_problem(actor_id):
        fail(problem)
    ledger = _open_ledger(data_dir)
    try:
        actor = ledger.actor_keys(actor_id)
        reasons = revocation_reasons(ledger, actor["keys"])
    finally:
        _close_ledger(ledger)
    from ledger.monitor_entries import printable, quoted

    name = printable(actor["name"])  # a name from before names were checked may hold anything
    click.echo(f"{actor['actor_id']}: {name} ({actor['role']}), entry {actor['index']}")
    if actor["upline"]:
        click.echo(f"  upline    {actor['upline']}")
    for key in actor["keys"]:
        state = f"granted at entry {key['granted_at_index']}"
        if key["revoked_at_index"] is None:
            state += ", valid"
        else:
            # Quoted as JSON: free text cannot pass for a line of this listing.
            reason = quoted(reasons[key["revoked_at_index"]])
            state += f", revoked at entry {key['revoked_at_index']}: {reason}"
        click.echo(f"  key       {key['key_id']}  {state}")


@click.command("admin-token")
@data_option
def admin_token(data_dir: Path) -> None:
    """Replace DIR's admin.token with a new random token, for a token lost or leaked.

    Running servers take the new one at once (they read the file on every admin
    request); the old one is refused from then on."""
    from api.cli import fail
    from api.config import renew_admin_token

    if not (data_dir / "config.json").exists():
        fail(f"no ledger in {data_dir}: give the --data directory of the ledger")
    path = data_dir / "admin.token"
    try:
        renew_admin_token(path)
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror or err}")
    click.echo(f"A new admin token is in {path} (mode 0600); the old one")
    click.echo("no longer opens the admin API, in running servers too. Give the new one to")
    click.echo("whoever uses the admin API: `Authorization: Bearer $(cat admin.token)`.")
