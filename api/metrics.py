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

With ``vinledger serve --workers N`` (N > 1) each worker writes its counters to
``DATA/metrics/`` (``PROMETHEUS_MULTIPROC_DIR``, emptied when ``serve`` starts) and a
scrape of any worker adds them up.
"""

from __future__ import annotations

import os
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


def prepare_workers(data_dir: os.PathLike[str] | str, workers: int) -> None:
    """Before ``serve`` starts N > 1 workers: a fresh directory for their counters, named
    in the environment they inherit (prometheus_client reads it when it is imported)."""
    import shutil
    from pathlib import Path

    os.environ.pop(MULTIPROCESS_ENV, None)
    if workers <= 1:
        return
    path = Path(data_dir) / "metrics"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(mode=0o700)
    os.environ[MULTIPROCESS_ENV] = str(path)
