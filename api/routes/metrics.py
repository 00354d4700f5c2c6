"""``GET /metrics``: the figures of ``api.metrics`` and the log's own, read from the
database at each scrape, in Prometheus's text exposition format."""

from __future__ import annotations

import asyncio
import os

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from api.metrics import MULTIPROCESS_ENV, forget_dead_workers
from api.service import Ledger
from ledger.schema import CheckpointRow
from ledger.storage import latest_checkpoint, stored_utc

# Seconds a scrape waits for the database: an answer within a scrape's own timeout (10 s
# by Prometheus's default), saying the database is down, rather than none.
DATABASE_TIMEOUT = 3.0


def _latest(ledger: Ledger) -> CheckpointRow | None:
    with ledger.store.reader() as s:
        if not ledger.store.is_sqlite:
            s.execute(text(f"SET LOCAL statement_timeout = {int(DATABASE_TIMEOUT * 1000)}"))
        return latest_checkpoint(s)


class _LogFigures(Collector):
    def __init__(self, up: bool, latest: CheckpointRow | None, fork_risk: bool):
        self.up, self.latest, self.fork_risk = up, latest, fork_risk

    def collect(self):
        yield GaugeMetricFamily(
            "vinledger_database_up",
            f"1 if the ledger's database answered this scrape's read within "
            f"{DATABASE_TIMEOUT:g} seconds",
            value=int(self.up),
        )
        if self.latest is not None:
            yield GaugeMetricFamily(
                "vinledger_log_entries",
                "Entries in the log (its latest checkpoint's size)",
                value=self.latest.size,
            )
            yield GaugeMetricFamily(
                "vinledger_checkpoint_timestamp_seconds",
                "When the log's latest checkpoint was signed (Unix time)",
                value=stored_utc(self.latest.created_at).timestamp(),
            )
        yield GaugeMetricFamily(
            "vinledger_fork_risk",
            "1 while the database is off the checkpoints this ledger published (submissions "
            "and /readyz answer 503 fork-risk)",
            value=int(self.fork_risk),
        )


def _counters() -> bytes:
    """This process's counters, or every worker's with ``serve --workers N``."""
    if path := os.environ.get(MULTIPROCESS_ENV):
        forget_dead_workers(path)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@get("/metrics", include_in_schema=False)
async def metrics(ledger: Ledger, state: State) -> Response[bytes]:
    try:
        latest = await asyncio.wait_for(asyncio.to_thread(_latest, ledger), DATABASE_TIMEOUT)
    except Exception:  # down, hung or refusing: what this figure reports, not a failed scrape
        up, latest = False, None
    else:
        up = True
    keeper = state.get("keeper")
    log = CollectorRegistry(auto_describe=False)
    log.register(_LogFigures(up, latest, keeper is not None and keeper.problem is not None))
    body = await asyncio.to_thread(_counters)
    return Response(body + generate_latest(log), media_type=CONTENT_TYPE_LATEST)
