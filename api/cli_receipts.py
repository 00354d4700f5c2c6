"""``vinledger verify-receipt``: check the receipts a submission left, offline.

A receipt is the ledger's answer to a submission (docs/formats.md, **The receipt**):
``vinledger submit --receipts FILE`` keeps one a line, with the ``file:line`` it
was for; a receipt saved from ``POST /records`` is one JSON object. Each is checked
against the log's verifier key alone (``ledger.verify_receipt``): that its entry is
in a checkpoint the log signed. Nothing is fetched, so a receipt checked years later
proves what it proved the day it was given, whatever the ledger says then.
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
            f"{len(sizes):,} checkpoints signed by {name}"
        )
    click.secho(f"OK: {said} ({trees})", fg="green")
