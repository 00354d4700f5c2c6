"""``vinledger submit`` with many records: a partner's bulk load (an archive of past
inspections, a registry's title history), in batches, safe to interrupt and run again.

Records come from files (a record or a signed envelope each) or from JSON Lines files
(``.jsonl``: one record or envelope a line). Each is checked here as the ledger would
check it, signed (Ed25519 signing is deterministic: the same record and key make the
same envelope) and sent in batches to ``POST /records/batch``. Whatever happens to a
batch on the way (no answer, a gateway's error page, a busy server), it is sent again
unchanged: the ledger answers an envelope it holds with its entry and never logs it
twice, so running the same command again after any failure finishes the job.

What it leaves besides its output: the ledger's receipts and the refused rows, each
in a file of its own when asked (``api.submit_files``). While it runs, a line on
stderr every ``PROGRESS_SECONDS`` says how far it is (on a terminal, or with
``--progress``: a log stays one line a record). SIGTERM (a cron job's timeout,
systemd stopping its unit, a CI job cancelled) stops it as Ctrl-C does: the counts so
far, and what to do (exit 143).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click

from api.submit_files import Keeper, WriteFailed
from core.errors import VinledgerError

# What a batch may hold: the server takes up to 1,000 envelopes and 16 MiB a batch;
# smaller batches keep each answer quick and a retry cheap.
DEFAULT_BATCH = 200
MAX_BATCH = 1000
MAX_BATCH_BYTES = 8 * 1024 * 1024
ATTEMPTS = 6  # a batch is sent at most this often; waits 1, 2, 4, 8, 16 s between
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})
PROGRESS_SECONDS = 5.0
JSON_LINES = (".jsonl", ".ndjson")


@dataclass
class Item:
    """One record or envelope of the input, and where it came from (``file:line``)."""

    where: str
    envelope: bytes | None = None
    refused: str | None = None  # why it was not sent (refused here)
    row: bytes | None = None  # the JSON Lines row as read; None for a whole file


@dataclass
class Tally:
    appended: int = 0
    again: int = 0
    refused: list[str] = field(default_factory=list)  # "where: why"
    waiting: int = 0  # read and checked, waiting for the batch being sent to go
    last_size: int | None = None
    warned: int = 0  # logged, with warnings (a VIN's check digit)
    keep: Keeper = field(default_factory=Keeper)  # receipts and refused rows

    @property
    def total(self) -> int:
        return self.appended + self.again + len(self.refused)


def read_items(paths: Iterable[Path]) -> Iterator[tuple[str, bytes, bool]]:
    """(where, bytes, a JSON Lines row?) of every record or envelope in ``paths``, in
    order, lazily."""
    for path in paths:
        if path.suffix.lower() in JSON_LINES:
            with path.open("rb") as f:
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        yield f"{path}:{n}", line.rstrip(b"\r\n"), True
        else:
            yield str(path), path.read_bytes(), False


def count_items(paths: Iterable[Path]) -> int:
    """How many ``read_items`` yields, for the progress line."""
    count = 0
    for path in paths:
        if path.suffix.lower() in JSON_LINES:
            with path.open("rb") as f:
                count += sum(1 for line in f if line.strip())
        else:
            count += 1
    return count


def prepare(where: str, data: bytes, key, payload_type: str | None, row: bool = False) -> Item:
    """The signed envelope for one input, or why it is refused before sending; one
    input nothing can read (nested past any parser, say) is refused, never the run.
    ``row``: ``data`` is a JSON Lines row, kept to write into the refused file."""
    try:
        item = _prepare(where, data, key, payload_type)
    except Exception as err:  # one bad line must not stop a bulk load
        item = Item(where, refused=f"cannot be read ({type(err).__name__}: {err})")
    item.row = data if row else None
    return item


def _prepare(where: str, data: bytes, key, payload_type: str | None) -> Item:
    from api.cli_submit import envelope_in, record_problem, shape_hint
    from core import dsse
    from plugins.referrals import PAYLOAD_TYPE as REFERRAL

    try:
        signed = envelope_in(data)
    except VinledgerError as err:
        return Item(where, refused=str(err))
    if signed is not None:
        if signed.payload_type == REFERRAL:
            return Item(where, refused="a referral code: submit it alone, `vinledger submit FILE`")
        return Item(where, envelope=dsse.encode_envelope(signed))
    if payload_type == REFERRAL:
        return Item(where, refused="a referral code: submit it alone, `vinledger submit FILE`")
    if key is None:  # many envelopes in one file are no record either: say how to send them
        return Item(where, refused=shape_hint(data) or "a record: give --key to sign it")
    if (problem := record_problem(data, payload_type)) is not None:
        return Item(where, refused=problem)
    env = dsse.sign_envelope(data, key, payload_type or dsse.PAYLOAD_TYPE)
    return Item(where, envelope=dsse.encode_envelope(env))


def batches(items: Iterable[Item], size: int, tally: Tally) -> Iterator[list[Item]]:
    """``items`` to send, in batches of at most ``size`` and ``MAX_BATCH_BYTES``; those
    refused here are counted and said at once. A full batch goes at once, so no item is
    held back unsent when the run stops (``Tally.waiting`` counts one that is)."""
    batch: list[Item] = []
    held = 0
    for item in items:
        if item.refused is not None:
            refuse(tally, item, f"not sent: {item.refused}")
            continue
        if batch and held + len(item.envelope) > MAX_BATCH_BYTES:
            tally.waiting = 1  # this item, until the batch before it is sent
            yield batch
            tally.waiting = 0
            batch, held = [], 0
        batch.append(item)
        held += len(item.envelope) + 1
        if len(batch) == size:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def refuse(tally: Tally, item: Item, why: str) -> None:
    tally.refused.append(f"{item.where}: {why}")
    tally.keep.refusal(item.where, item.row, why)
    click.secho(f"{item.where}: {why}", fg="yellow", err=True)


def echo_warnings(where: str, answer: dict) -> None:
    """The ledger's warnings on a record it logged: odd but accepted (a VIN's check
    digit that does not add up), each most likely a typo to look for."""
    for warning in answer.get("warnings") or ():
        click.secho(f"{where}: warning: {warning}", fg="yellow", err=True)


class Stop(Exception):
    """What the ledger answered a whole batch would be its answer to every batch (no
    ledger at the URL, a proxy refusing, the ledger down for good): the run stops."""


MAX_WAIT_SECONDS = 300.0  # the longest a server's Retry-After is obeyed


def send(client, batch: list[Item], tally: Tally, quiet: bool, pause=time.sleep) -> None:
    """One batch to the ledger, again and again while no answer or a passing error
    comes (the same envelopes: never logged twice); each result said and counted. A
    batch too large for the way to the ledger (413) is sent in halves; any other
    refusal of the whole batch, or one that outlasts every attempt, raises ``Stop``."""
    from api.cli_submit import echo_decision
    from api.client import ClientError, NoAnswer

    for attempt in range(1, ATTEMPTS + 1):
        try:
            results = client.submit_batch([item.envelope for item in batch])
            break
        except ClientError as err:
            if err.status == 413 and len(batch) > 1:
                half = len(batch) // 2
                send(client, batch[:half], tally, quiet, pause)
                send(client, batch[half:], tally, quiet, pause)
                return
            passing = isinstance(err, NoAnswer) or err.status in RETRY_STATUSES
            if not passing or attempt == ATTEMPTS:
                for item in batch:
                    refuse(tally, item, f"not logged: {err}")
                then = (
                    f"gave up after {ATTEMPTS} attempts"
                    if passing
                    else "the ledger refused the whole batch, as it would every batch"
                )
                raise Stop(
                    f"{then}: stopped. Run the same command again once that is put right: "
                    "what was logged is answered with its entry, never twice"
                ) from None
            wait = err.retry_after if err.retry_after is not None else 2 ** (attempt - 1)
            wait = min(wait, MAX_WAIT_SECONDS)
            click.echo(
                f"batch of {len(batch)} from {batch[0].where}: {err}; sending it again in "
                f"{wait:g} s (attempt {attempt + 1} of {ATTEMPTS})",
                err=True,
            )
            pause(wait)
    if len(results) != len(batch):
        for item in batch:
            refuse(tally, item, f"the ledger answered {len(results)} results for a batch "
                   f"of {len(batch)}; run the same command again")  # fmt: skip
        return
    for item, r in zip(batch, results, strict=True):
        status = r.get("status", 0)
        if status in (200, 201) and "index" in r:
            if status == 201:
                tally.appended += 1
            else:
                tally.again += 1
            tally.last_size = max(tally.last_size or 0, r.get("size", 0))
            tally.keep.receipt(item.where, r)
            if not quiet:
                word = "appended" if status == 201 else "already in the log"
                click.echo(f"{item.where}: {word}: entry {r['index']}")
            if r.get("warnings"):
                tally.warned += 1
                echo_warnings(item.where, r)
            if "decision" in r:
                echo_decision(r["decision"])
        else:
            detail = r.get("detail") or r.get("title") or r
            refuse(tally, item, f"refused ({status} {r.get('title', '')}): {detail}")
    tally.keep.flush()  # a run stopped after this batch keeps its receipts


class Terminated(KeyboardInterrupt):
    """SIGTERM, taken as Ctrl-C is: cron, systemd and CI stop a job with it."""


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM raises ``Terminated`` while this lasts; a second one ends the process at
    once, as SIGTERM does by default (the first is still being wound up)."""

    def stop(signum, frame) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread (an embedding program's): leave it be
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def interrupted_code(err: KeyboardInterrupt) -> int:
    """The exit status: 143 (128 + SIGTERM) for SIGTERM, as a shell reports it; 1 for
    Ctrl-C."""
    return 128 + signal.SIGTERM if isinstance(err, Terminated) else 1


class Progress:
    """A line on stderr every ``PROGRESS_SECONDS``: how many of how many, how fast, and
    the counts so far."""

    def __init__(self, total: int, clock=time.monotonic):
        self.total = total
        self.clock = clock
        self.start = self.last = clock()

    def tick(self, tally: Tally) -> None:
        now = self.clock()
        if now - self.last < PROGRESS_SECONDS:
            return
        self.last = now
        done = tally.total
        rate = done / max(now - self.start, 1e-6)
        share = f" ({done / self.total:.0%})" if self.total else ""
        left = (
            f", about {(self.total - done) / rate:,.0f} s left"
            if rate and done < self.total
            else ""
        )
        click.echo(
            f"{done:,} of {self.total:,} records done{share}, {rate:,.0f} a second{left}: "
            f"{tally.appended:,} appended, {tally.again:,} already in the log, "
            f"{len(tally.refused):,} refused",
            err=True,
        )


def submit_many(
    paths: list[Path],
    key_file: Path | None,
    url: str,
    payload_type: str | None,
    timeout: float,
    batch_size: int,
    quiet: bool,
    keep: Keeper | None = None,
    progress: bool = False,
) -> None:
    """``progress``: say how far the load is every ``PROGRESS_SECONDS``."""
    from api.cli import fail
    from api.cli_submit import load_key
    from api.client import VinledgerClient

    key = load_key(key_file) if key_file is not None else None
    keep = keep or Keeper()
    if (problem := keep.check_inputs(paths)) is not None:
        fail(problem)
    tally = Tally(keep=keep)
    raw = read_items(paths)
    items = (prepare(where, data, key, payload_type, row) for where, data, row in raw)
    try:
        with sigterm_as_interrupt(), keep:
            shown = Progress(count_items(paths)) if progress else None
            with VinledgerClient(url, timeout=timeout) as client:
                for batch in batches(items, batch_size, tally):
                    send(client, batch, tally, quiet)
                    if shown is not None:
                        shown.tick(tally)
    except (Stop, WriteFailed) as stop:
        unsent = tally.waiting + sum(1 for _ in raw)  # counted, neither checked nor signed
        _summary(tally, unsent)
        fail(str(stop))
    except KeyboardInterrupt as err:
        _summary(tally)
        fail(
            "interrupted: the batch being sent may have been logged. Run the same command "
            "again: what is in the log is answered with its entry, never logged twice",
            interrupted_code(err),
        )
    except OSError as err:
        fail(f"cannot read the records: {err}")
    _summary(tally)
    if tally.refused:
        raise SystemExit(1)


def _summary(tally: Tally, unsent: int = 0) -> None:
    size = f"; the log holds {tally.last_size:,} entries" if tally.last_size else ""
    rest = f"; {unsent:,} more not sent" if unsent else ""
    warned = f"; {tally.warned:,} logged with warnings (look for typos)" if tally.warned else ""
    kept = tally.keep
    files = ""
    if kept.receipts_path is not None:
        files += f"; receipts in {kept.receipts_path}"
    if kept.refused_path is not None and tally.refused:
        files += f"; refused rows in {kept.refused_path} (why: {kept.refused_path}.reasons)"
    click.echo(
        f"{tally.total:,} records: {tally.appended:,} appended, {tally.again:,} already in "
        f"the log, {len(tally.refused):,} refused or not sent{rest}{warned}{size}{files}",
        err=bool(tally.refused) or bool(unsent),
    )
