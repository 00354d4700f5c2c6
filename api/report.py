"""A verification report, printed for a person."""

from __future__ import annotations

import click

from ledger.monitor_entries import printable
from ledger.verify import Report


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
    for e in report.entries:
        state = click.style("FAIL", fg="red", bold=True) if e.index in failed else "    "
        who = printable(e.signer.actor_id)
        click.echo(f"  {state} entry {e.index:>6}  {printable(e.kind):<16} signed by {who}")
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
