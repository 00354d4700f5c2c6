"""A verification report, printed for a person."""

from __future__ import annotations

import json

import click

from ledger.entry import record_bytes
from ledger.monitor_entries import printable
from ledger.verify import Report


def revoked_later(report: Report) -> dict[str, tuple[int, str, str]]:
    """The keys the bundle's proved trust entries revoke: key ID to (the revocation's log
    index, when it was logged, its reason). An entry signed with one was signed before
    (the ledger logs nothing signed with a revoked key), but maybe not by its partner:
    a key is revoked because it was stolen or lost, too."""
    out = {}
    for entry in report.trust:
        if entry.kind != "key_revoke":
            continue
        try:
            record = json.loads(record_bytes(entry))
        except ValueError:
            continue  # proved, but not a record this version reads: nothing to say
        if isinstance(record, dict) and isinstance(record.get("key_id"), str):
            out[record["key_id"]] = (entry.index, entry.sequenced_at, str(record.get("reason")))
    return out


def print_report(report: Report) -> None:
    cp = report.checkpoint
    click.echo(f"Vehicle {printable(report.vin or '?')}")
    if cp is not None:
        click.echo(f"Checkpoint: {printable(cp.origin)}, size {cp.size}")
    for f in report.findings:
        mark = click.style("ok  ", fg="green") if f.ok else click.style("FAIL", fg="red", bold=True)
        if f.ok and f.check == "signature":
            continue  # one line per entry below instead
        click.echo(f"  {mark} {f.check:<10} {printable(f.detail)}")
    failed = {f.index for f in report.failures}
    click.echo("Entries:")
    revoked = revoked_later(report)
    for e in report.entries:
        state = click.style("FAIL", fg="red", bold=True) if e.index in failed else "    "
        who = printable(e.signer.actor_id)
        click.echo(f"  {state} entry {e.index:>6}  {printable(e.kind):<16} signed by {who}")
        if (gone := revoked.get(e.signer.keyid)) is not None:
            said = f"{'':>15}signed with a key revoked later, on {gone[1][:10]} (entry {gone[0]})"
            click.secho(said, fg="yellow")
    used = {e.signer.keyid for e in report.entries}
    for key_id, (index, at, reason) in sorted(revoked.items(), key=lambda k: k[1]):
        if key_id in used:  # why, once per key
            why = f"Key {printable(key_id[:16])}… was revoked on {at[:10]} (entry {index}): "
            click.secho(why + printable(reason), fg="yellow")
    shown = {e.index for e in [*report.entries, *report.trust]}
    for index in sorted(i for i in failed if i is not None and i not in shown):
        fail = click.style("FAIL", fg="red", bold=True)
        click.echo(f"  {fail} entry {index:>6}  (not proven to be in the log: see above)")
    if report.ok:
        click.secho(
            "VERIFIED: every entry is in the signed log, correctly signed and chained.",
            fg="green",
            bold=True,
        )
    else:
        n = len(report.failures)
        click.secho(f"NOT VERIFIED: {n} check{'s' if n != 1 else ''} failed.", fg="red", bold=True)
