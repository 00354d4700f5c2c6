"""``vinledger verify-receipt``: check the receipts a submission left, offline.

A receipt is the ledger's answer to a submission (docs/formats.md, **The receipt**):
``vinledger submit --receipts FILE`` keeps one a line, with the ``file:line`` it
was for; a receipt saved from ``POST /records`` is one JSON object. Each is checked
against the log's verifier key alone (``ledger.verify_receipt``): that its entry is
in a checkpoint the log signed. Nothing is fetched, so a receipt checked years later
proves what it proved the day it was given, whatever the ledger says then. What the
proof does not cover (``status``, ``created``, ``warnings``, a claim's ``decision``) is
said after the verdict: it is the ledger's word, or an edit.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click


def receipts_in(data: bytes) -> Iterator[tuple[str, bytes]]:
    """(where, JSON) of each receipt in ``data``: one JSON object (a receipt saved from
    ``POST /records``, pretty-printed or not), or JSON Lines of them."""
    import msgspec

    try:
        msgspec.json.decode(data)
    except msgspec.DecodeError:
        pass  # more than one JSON value: JSON Lines
    else:
        yield "the receipt", data
        return
    for n, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield f"line {n}", line


class _Unproven:
    """The fields of the good receipts that their proofs do not cover, and the entries
    that hold their claims' decisions."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.decisions: list[int] = []

    def add(self, line: bytes, index: int) -> None:
        import msgspec

        from ledger.verify_receipt import PROVEN

        doc = msgspec.json.decode(line)  # it decoded as a receipt: an object
        self.fields |= set(doc) - PROVEN - {"where"}  # where: the submitter's own note
        if doc.get("decision") is not None:
            self.decisions.append(index + 1)  # the sequencer logs it right after the claim

    def said(self, receipts: str) -> str | None:
        parts = []
        if plain := ", ".join(sorted(self.fields - {"decision"})):
            parts.append(f"{plain} (what the ledger said when it answered, or an edit)")
        if self.decisions:
            shown = ", ".join(f"{i:,}" for i in self.decisions[:5])
            more = f" and {len(self.decisions) - 5:,} more" if len(self.decisions) > 5 else ""
            entries = "entry" if len(self.decisions) == 1 else "entries"
            parts.append(
                f"decision: check {entries} {shown}{more} with `vinledger verify` "
                "(the vehicle's bundle)"
            )
        return f"not proven by the {receipts}: {'; '.join(parts)}" if parts else None


def _named(where: str, line: bytes) -> str:
    """The receipt's own ``where`` (the input it was for), beside its line."""
    import msgspec

    try:
        said = msgspec.json.decode(line).get("where")
    except (msgspec.DecodeError, AttributeError):
        return where
    return f"{where} ({said})" if isinstance(said, str) else where


@click.command("verify-receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vkey", required=True, help="the log's verifier key, or a file holding it")
def verify_receipt(file: Path, vkey: str) -> None:
    """Check receipts offline against the log's key: FILE is what `vinledger submit
    --receipts FILE` wrote (a receipt a line) or one receipt saved from POST /records.
    Each must hold its entry, in a checkpoint the log signed, by an inclusion proof
    that leads to the checkpoint's root. Exits 1 if any does not."""
    from api.cli import fail
    from api.cli_read import _read_vkey
    from core.errors import VinledgerError
    from core.note import parse_verifier_key
    from ledger.verify_receipt import decode_receipt
    from ledger.verify_receipt import verify_receipt as check

    vkey = _read_vkey(vkey)
    try:
        parse_verifier_key(vkey)
    except VinledgerError as err:
        fail(f"--vkey: {err}")
    opened: dict = {}  # the checkpoints, by note: a batch's receipts share one
    unproven = _Unproven()
    good = bad = 0
    first = ""
    for where, line in receipts_in(file.read_bytes()):
        try:
            entry = check(decode_receipt(line), vkey, opened)
        except VinledgerError as err:
            bad += 1
            click.secho(f"{file}: {_named(where, line)}: FAILED: {err}", fg="red", err=True)
            continue
        good += 1
        unproven.add(line, entry.index)
        first = (
            first or f"entry {entry.index} ({entry.kind}{f' of {entry.vin}' if entry.vin else ''})"
        )
    name = vkey.split("+", 1)[0]
    if bad:
        fail(f"{bad:,} of {good + bad:,} receipts in {file} do not check against {name}'s key")
    if good == 0:
        fail(f"{file} holds no receipts")
    sizes = sorted(cp.size for cp in opened.values())
    trees = f"size {sizes[0]:,}" if len(sizes) == 1 else f"sizes {sizes[0]:,} to {sizes[-1]:,}"
    if good == 1:
        said = f"the receipt checks: {first} is in the log, in a checkpoint signed by {name}"
    else:
        said = (
            f"all {good:,} receipts check: their entries are in the log, in "
            f"{len(sizes):,} checkpoint{'' if len(sizes) == 1 else 's'} signed by {name}"
        )
    click.secho(f"OK: {said} ({trees})", fg="green")
    if (note := unproven.said("receipt" if good == 1 else "receipts")) is not None:
        click.echo(note)
