"""``vinledger submit`` with many records: a partner's bulk load (an archive of past
inspections, a registry's title history), in batches, safe to interrupt and run again.

Records come from files (a record or a signed envelope each) or from JSON Lines files
(``.jsonl``: one record or envelope a line). Each is checked here as the ledger would
check it, signed (Ed25519 signing is deterministic: the same record and key make the
same envelope) and sent in batches to ``POST /records/batch``. Whatever happens to a
batch on the way (no answer, a gateway's error page, a busy server), it is sent again
unchanged: the ledger answers an envelope it holds with its entry and never logs it
twice, so running the same command again after any failure finishes the job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import click

from core.errors import VinledgerError

# What a batch may hold: the server takes up to 1,000 envelopes and 16 MiB a batch;
# smaller batches keep each answer quick and a retry cheap.
DEFAULT_BATCH = 200
MAX_BATCH = 1000
MAX_BATCH_BYTES = 8 * 1024 * 1024
ATTEMPTS = 6  # a batch is sent at most this often; waits 1, 2, 4, 8, 16 s between
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})


@dataclass
class Item:
    """One record or envelope of the input, and where it came from (``file:line``)."""

    where: str
    envelope: bytes | None = None
    refused: str | None = None  # why it was not sent (refused here)


@dataclass
class Tally:
    appended: int = 0
    again: int = 0
    refused: list[str] = field(default_factory=list)  # "where: why"
    waiting: int = 0  # read and checked, waiting for the batch being sent to go
    last_size: int | None = None

    @property
    def total(self) -> int:
        return self.appended + self.again + len(self.refused)


def read_items(paths: Iterable[Path]) -> Iterator[tuple[str, bytes]]:
    """(where, bytes) of every record or envelope in ``paths``, in order, lazily."""
    for path in paths:
        if path.suffix.lower() in (".jsonl", ".ndjson"):
            with path.open("rb") as f:
                for n, line in enumerate(f, start=1):
                    if line.strip():
                        yield f"{path}:{n}", line.rstrip(b"\r\n")
        else:
            yield str(path), path.read_bytes()


def prepare(where: str, data: bytes, key, payload_type: str | None) -> Item:
    """The signed envelope for one input, or why it is refused before sending; one
    input nothing can read (nested past any parser, say) is refused, never the run."""
    try:
        return _prepare(where, data, key, payload_type)
    except Exception as err:  # one bad line must not stop a bulk load
        return Item(where, refused=f"cannot be read ({type(err).__name__}: {err})")


def _prepare(where: str, data: bytes, key, payload_type: str | None) -> Item:
    from api.cli_submit import envelope_in, record_problem
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
    if key is None:
        return Item(where, refused="a record: give --key to sign it")
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
            refuse(tally, item.where, f"not sent: {item.refused}")
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


def refuse(tally: Tally, where: str, why: str) -> None:
    tally.refused.append(f"{where}: {why}")
    click.secho(f"{where}: {why}", fg="yellow", err=True)


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
                    refuse(tally, item.where, f"not logged: {err}")
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
            refuse(tally, item.where, f"the ledger answered {len(results)} results for a batch "
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
            if not quiet:
                word = "appended" if status == 201 else "already in the log"
                click.echo(f"{item.where}: {word}: entry {r['index']}")
            if "decision" in r:
                echo_decision(r["decision"])
        else:
            detail = r.get("detail") or r.get("title") or r
            refuse(tally, item.where, f"refused ({status} {r.get('title', '')}): {detail}")


def submit_many(
    paths: list[Path],
    key_file: Path | None,
    url: str,
    payload_type: str | None,
    timeout: float,
    batch_size: int,
    quiet: bool,
) -> None:
    from api.cli import fail
    from api.cli_submit import load_key
    from api.client import VinledgerClient

    key = load_key(key_file) if key_file is not None else None
    tally = Tally()
    raw = read_items(paths)
    items = (prepare(where, data, key, payload_type) for where, data in raw)
    try:
        with VinledgerClient(url, timeout=timeout) as client:
            for batch in batches(items, batch_size, tally):
                send(client, batch, tally, quiet)
    except Stop as stop:
        unsent = tally.waiting + sum(1 for _ in raw)  # counted, neither checked nor signed
        _summary(tally, unsent)
        fail(str(stop))
    except KeyboardInterrupt:
        _summary(tally)
        fail(
            "interrupted: the batch being sent may have been logged. Run the same command "
            "again: what is in the log is answered with its entry, never logged twice"
        )
    except OSError as err:
        fail(f"cannot read the records: {err}")
    _summary(tally)
    if tally.refused:
        raise SystemExit(1)


def _summary(tally: Tally, unsent: int = 0) -> None:
    size = f"; the log holds {tally.last_size:,} entries" if tally.last_size else ""
    rest = f"; {unsent:,} more not sent" if unsent else ""
    click.echo(
        f"{tally.total:,} records: {tally.appended:,} appended, {tally.again:,} already in "
        f"the log, {len(tally.refused):,} refused or not sent{rest}{size}",
        err=bool(tally.refused) or bool(unsent),
    )
