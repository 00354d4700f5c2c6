"""The partner's commands: sign a record, and submit it (or an envelope signed before).

``vinledger sign`` makes the DSSE envelope offline, with nothing but the key, so a
record can be signed where the key is kept and sent later, or from elsewhere, with
``vinledger submit ENVELOPE.json`` (or any HTTP client: it is the body of
``POST /records``, one of ``POST /records/batch``'s ``envelopes``).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli_bulk import DEFAULT_BATCH, MAX_BATCH
from api.cli_read import timeout_option
from api.submit_files import Keeper
from core.errors import VinledgerError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_PAYLOAD_TYPE = click.option(
    "--payload-type",
    default=None,
    help="a report in an inspection provider's own format, signed as it is "
    "(e.g. application/vnd.checklist.inspection-report+json; `vinledger plugins` lists "
    "the providers); the ledger's provider checks it",
)


def echo_decision(decision: dict) -> None:
    """The ledger's decision on a claim, as a receipt carries it."""
    verdict = "APPROVED" if decision["approved"] else "REFUSED"
    click.secho(
        f"decision: {verdict} under {decision['policy']} (entry {decision['index']}): "
        f"{decision['reason']}",
        fg="green" if decision["approved"] else "yellow",
    )


def record_problem(data: bytes, payload_type: str | None) -> str | None:
    """Why the ledger would refuse the record ``data``, said before anything is signed
    or sent; None when it would not (a provider's report is its provider's to check)."""
    from core import dsse
    from core.records import parse_record
    from core.strict_json import check_unique_keys

    try:
        if payload_type is None or payload_type == dsse.PAYLOAD_TYPE:
            parse_record(data)
        if payload_type is None or dsse.is_json_type(payload_type):
            check_unique_keys(data, "the record")
    except RecursionError:
        return "the record nests JSON arrays or objects too deeply; flatten it"
    except VinledgerError as err:
        if (shape := shape_hint(data)) is not None:
            return f"{err}; {shape}"
        # Only when it is no record of ours at all: a report in another format, maybe.
        foreign = payload_type is None and err.field in (None, "$", "$.kind")
        hint = " (a report in a provider's own format? give its --payload-type)" if foreign else ""
        return f"{err}{hint}"
    return None


def shape_hint(data: bytes) -> str | None:
    """How to submit ``data`` when it holds many records or envelopes rather than one: a
    JSON array, or JSON Lines saved under another name (.json, .txt)."""
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith(b"["):
        return (
            "this is a JSON array; submit one record or envelope (an object) a file, or one "
            "a line in a JSON Lines file named .jsonl: jq -c '.[]' FILE > records.jsonl"
        )
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    try:
        first = json.loads(lines[0])
    except (ValueError, RecursionError):
        return None
    if not isinstance(first, dict):
        return None
    return (
        "this looks like JSON Lines (one record or envelope a line): rename the file to end in "
        ".jsonl (records.json -> records.jsonl) to submit each line as a record"
    )


def _checked(record: Path, payload_type: str | None) -> bytes:
    """The record's bytes, refused here as the ledger would refuse them."""
    from api.cli import fail

    data = record.read_bytes()
    if (problem := record_problem(data, payload_type)) is not None:
        fail(f"{record}: {problem}")
    return data


def load_key(key_file: Path):
    from api.cli import fail
    from core.keys import load_private_key

    try:
        return load_private_key(key_file.read_bytes())
    except VinledgerError as err:
        fail(f"{key_file}: {err}")


def envelope_in(data: bytes):
    """``data`` as a signed envelope, if it is one (a JSON object of exactly its keys)."""
    from core import dsse

    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, or nested past the parser: a record's
        return None  # checks say what is wrong with it
    if not isinstance(doc, dict) or set(doc) != {"payload", "payloadType", "signatures"}:
        return None
    return dsse.decode_envelope(data)


@click.command()
@click.argument("record", type=_FILE)
@click.option("--key", "key_file", required=True, type=_FILE)
@_PAYLOAD_TYPE
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the envelope here (default: standard output)",
)
def sign(record: Path, key_file: Path, payload_type: str | None, out: Path | None) -> None:
    """Sign RECORD.json with your key, offline: prints the DSSE envelope to submit later
    (`vinledger submit ENVELOPE.json`)."""
    from core import dsse

    data = _checked(record, payload_type)
    env = dsse.sign_envelope(
        data, load_key(key_file), payload_type=payload_type or dsse.PAYLOAD_TYPE
    )
    text = dsse.encode_envelope(env).decode() + "\n"
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)


@click.command()
@click.argument("records", metavar="RECORD...", nargs=-1, required=True, type=_FILE)
@click.option(
    "--key",
    "key_file",
    type=_FILE,
    default=None,
    help="your private key (not for an envelope signed with `vinledger sign`)",
)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True)
@_PAYLOAD_TYPE
@timeout_option
@click.option(
    "--batch-size",
    type=click.IntRange(1, MAX_BATCH),
    default=DEFAULT_BATCH,
    show_default=True,
    help="records a request, for many records",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="for many records: say only what was refused, warned of, and the count",
)
@click.option(
    "--receipts",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="append the ledger's receipt of each record logged (or in the log already) to "
    "this JSON Lines file, with its file:line; check them offline with `vinledger "
    "verify-receipt FILE --vkey VKEY`",
)
@click.option(
    "--refused",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="write the refused JSON Lines rows, as they were, to this file (fix it and "
    "submit it), and why each was refused to FILE.reasons",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="for many records: a line on stderr every few seconds saying how far the load "
    "is [default: when stderr is a terminal]",
)
def submit(
    records: tuple[Path, ...],
    key_file: Path | None,
    url: str,
    payload_type: str | None,
    timeout: float,
    batch_size: int,
    quiet: bool,
    receipts: Path | None,
    refused: Path | None,
    progress: bool | None,
) -> None:
    """Sign RECORD.json with your key and submit it, or submit an envelope signed before
    with `vinledger sign`; prints where it is in the log, and for a return request or
    warranty claim the ledger's decision.

    Many at once: several files, or JSON Lines files (.jsonl, one record or envelope a
    line), go in batches; each is said with its file (and line), and the command exits
    1 if any was refused.

    Safe to run again: when no answer came (a dropped connection, a timeout, a
    gateway's error page), the record may have been logged; the same command again,
    with the file unchanged, answers with its entry ("already in the log") and never
    logs it twice. On a bad network, sign once (`vinledger sign`) and submit the
    envelope as often as it takes. SIGTERM stops it as Ctrl-C does (exit 143)."""
    from api.cli import fail
    from api.cli_bulk import JSON_LINES, submit_many

    keep = Keeper(receipts, refused)
    if len(records) > 1 or records[0].suffix.lower() in JSON_LINES:
        if progress is None:
            progress = click.get_text_stream("stderr").isatty()
        submit_many(
            list(records), key_file, url, payload_type, timeout, batch_size, quiet, keep, progress
        )
        return
    if (problem := keep.check_inputs(list(records))) is not None:
        fail(problem)
    with keep:
        _submit_one(records[0], key_file, url, payload_type, timeout, keep)


def _submit_one(
    record: Path,
    key_file: Path | None,
    url: str,
    payload_type: str | None,
    timeout: float,
    keep: Keeper,
) -> None:
    from api.cli import fail
    from api.cli_bulk import echo_warnings, interrupted_code, sigterm_as_interrupt
    from api.client import SAFE_RETRY, ClientError, VinledgerClient
    from core import dsse

    def refused(why: str):
        keep.refusal(str(record), None, why)
        fail(f"{record}: {why}")

    try:
        signed = envelope_in(record.read_bytes())
    except VinledgerError as err:
        refused(str(err))
    if signed is not None and (key_file or payload_type):
        fail(f"{record} is an envelope signed already: submit it without --key or --payload-type")
    if signed is None and key_file is None:
        if (shape := shape_hint(record.read_bytes())) is not None:
            refused(shape)  # many records or envelopes, not one to sign
        fail(f"{record} is a record: give --key to sign it (or sign it with `vinledger sign`)")
    from plugins.referrals import PAYLOAD_TYPE as REFERRAL

    kind = signed.payload_type if signed is not None else payload_type
    sending = False  # Ctrl-C before the request went out leaves nothing logged
    try:
        with sigterm_as_interrupt(), VinledgerClient(url, timeout=timeout) as client:
            if kind == REFERRAL:  # a referral code goes beside the log, not in it
                env = signed or dsse.sign_envelope(
                    record.read_bytes(), load_key(key_file), REFERRAL
                )
                sending = True
                made = client.create_referral(env)
                held = "" if made.get("created", True) else " (yours already: made before)"
                click.echo(
                    f"referral code {made['code']} ({made['rule']}) for {made['referrer']}{held}"
                )
                return
            if signed is None:
                data = record.read_bytes()
                if (problem := record_problem(data, payload_type)) is not None:
                    refused(problem)
                ptype = payload_type or dsse.PAYLOAD_TYPE
                signed = dsse.sign_envelope(data, load_key(key_file), ptype)
            sending = True
            r = client.submit_envelope(signed)
    except ClientError as err:
        keep.refusal(str(record), None, str(err))
        fail(str(err))
    except KeyboardInterrupt as err:
        if not sending:
            fail("interrupted before anything was sent: nothing was logged", interrupted_code(err))
        fail(f"interrupted before the ledger answered. {SAFE_RETRY}.", interrupted_code(err))
    keep.receipt(str(record), r)
    word = "appended" if r["status"] == 201 else "already in the log"
    click.echo(f"{word}: entry {r['index']}, leaf hash {r['leaf_hash']}")
    echo_warnings(str(record), r)
    if "decision" in r:
        echo_decision(r["decision"])
    click.echo(f"included in checkpoint of size {r['size']}:")
    click.echo(r["checkpoint"], nl=False)
    if keep.receipts_path is not None:
        click.echo(f"receipt (with the inclusion proof) appended to {keep.receipts_path}")
