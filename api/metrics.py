"""What ``GET /metrics`` tells an operator's Prometheus (api/routes/metrics.py serves it).

Three kinds of figures, none of them personal (no VIN, actor, key or client address is
a label value):

- HTTP requests by method, route template (``/vehicles/{vin:str}``, never the VIN)
  and status, with their durations (Litestar's Prometheus middleware);
- submissions by outcome (``appended``, ``already_logged``, ``refused``) and refusals
  by their problem type (the last part of the RFC 9457 ``type``), and the group
  commit's batches: entries per batch and seconds per batch;
- the log as the database holds it, read at each scrape: its size, when its latest
  checkpoint was signed (alert on ``time() - vinledger_checkpoint_timestamp_seconds``
  while submissions arrive), whether the database answered, and whether the server
  sees a fork risk (``/readyz`` 503).

With ``vinledger serve --workers N`` (N > 1) each worker writes its counters to a
directory of that ``serve`` process in memory (``/dev/shm/vinledger-metrics-<pid>-*``,
``PROMETHEUS_MULTIPROC_DIR``, removed when it ends) and a scrape of any worker adds them
up. Envelopes refused before their checks (a body that is no JSON, too large, a batch
queue that is full) are in the requests' statuses, not in ``vinledger_submissions``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from litestar.plugins.prometheus import PrometheusConfig
from prometheus_client import Counter, Histogram

from core.errors import VinledgerError

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

SUBMISSIONS = Counter(
    "vinledger_submissions",
    "Envelopes submitted (POST /records and /records/batch), by outcome: appended, "
    "already_logged (the same envelope again; answered with its receipt) or refused",
    ["outcome"],
)
REFUSALS = Counter(
    "vinledger_refusals",
    "Envelopes refused, by the problem type of the answer (invalid-signature, ...)",
    ["type"],
)
BATCH_ENTRIES = Histogram(
    "vinledger_batch_entries",
    "Submissions the group commit sequenced in one transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000),
)
BATCH_SECONDS = Histogram(
    "vinledger_batch_seconds",
    "Seconds one group-commit batch took: checks in the lock, appending, signing the "
    "checkpoint, committing",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

HTTP = PrometheusConfig(
    app_name="vinledger",
    prefix="vinledger",
    group_path=True,  # the route's template: a VIN is never a label value
    exclude=["^/metrics", "^/static/", "^/favicon"],
)


def count_outcomes(outcomes: list[Any]) -> None:
    """Count the answers to submitted envelopes (``ledger.sequencer.Outcome``s)."""
    for outcome in outcomes:
        if isinstance(outcome, VinledgerError):
            SUBMISSIONS.labels("refused").inc()
            REFUSALS.labels(outcome.slug).inc()
        else:
            SUBMISSIONS.labels("appended" if outcome.created else "already_logged").inc()


def observe_batch(entries: int, seconds: float) -> None:
    BATCH_ENTRIES.observe(entries)
    BATCH_SECONDS.observe(seconds)


# Where the workers of one ``serve --workers N`` keep their counters: memory (tmpfs), not
# the data directory's disk, whose filling up must not kill a worker that touches a
# counter file (prometheus_client maps them without reserving space), and one directory
# per ``serve`` process, so that two servers on one data directory count apart.
RUN_DIRS = ("/dev/shm", tempfile.gettempdir())
RUN_PREFIX = "vinledger-metrics-"


@contextlib.contextmanager
def worker_counters(workers: int) -> Iterator[None]:
    """Around ``serve``: with N > 1 workers, a directory of its own for their counters,
    named in the environment they inherit (prometheus_client reads it on import), and
    removed when ``serve`` ends; those of ``serve`` processes that died are removed too."""
    os.environ.pop(MULTIPROCESS_ENV, None)
    if workers <= 1:
        yield
        return
    base = next((d for d in RUN_DIRS if os.access(d, os.W_OK)), None)
    if base is None:
        yield  # each worker counts its own requests; a scrape sees one worker's
        return
    _remove_dead_runs(base)
    path = tempfile.mkdtemp(prefix=f"{RUN_PREFIX}{os.getpid()}-", dir=base)
    os.environ[MULTIPROCESS_ENV] = path
    try:
        yield
    finally:
        os.environ.pop(MULTIPROCESS_ENV, None)
        shutil.rmtree(path, ignore_errors=True)


def _remove_dead_runs(base: str) -> None:
    for entry in Path(base).glob(f"{RUN_PREFIX}*"):
        pid = entry.name[len(RUN_PREFIX) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def forget_dead_workers(path: str) -> None:
    """A worker that died (killed, restarted by uvicorn) leaves its in-progress gauges
    counted as if live: drop them (its counters stay, as Prometheus expects)."""
    from prometheus_client import multiprocess

    for entry in Path(path).glob("gauge_live*_*.db"):
        pid = entry.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), path)
