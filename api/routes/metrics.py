"""``GET /metrics``: the figures of ``api.metrics`` and the log's own, read from the
database at each scrape, in Prometheus's text exposition format."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

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

from api.metrics import MULTIPROCESS_ENV
from api.service import Ledger
from ledger.storage import latest_checkpoint


class LogCollector(Collector):
    """The log's figures, read from the database at each scrape."""

    def __init__(self, ledger: Ledger, state: State):
        self.ledger = ledger
        self.state = state

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "vinledger_database_up", "1 if the ledger's database answered this scrape's read"
        )
        try:
            with self.ledger.store.reader() as s:
                latest = latest_checkpoint(s)
        except Exception:  # an outage is what this figure reports, not a failed scrape
            up.add_metric([], 0)
            latest = None
        else:
            up.add_metric([], 1)
        yield up
        if latest is not None:
            yield GaugeMetricFamily(
                "vinledger_log_entries",
                "Entries in the log (its latest checkpoint's size)",
                value=latest.size,
            )
            yield GaugeMetricFamily(
                "vinledger_checkpoint_timestamp_seconds",
                "When the log's latest checkpoint was signed (Unix time)",
                value=_utc(latest.created_at).timestamp(),
            )
        keeper = self.state.get("keeper")
        yield GaugeMetricFamily(
            "vinledger_fork_risk",
            "1 while the database is off the checkpoints this ledger published (submissions "
            "and /readyz answer 503 fork-risk)",
            value=int(keeper is not None and keeper.problem is not None),
        )


def _utc(t: datetime) -> datetime:
    """SQLite gives back the stored UTC time without its zone."""
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _counters() -> bytes:
    """This process's counters, or every worker's with ``serve --workers N``."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


@get("/metrics", include_in_schema=False, sync_to_thread=True)
def metrics(ledger: Ledger, state: State) -> Response[bytes]:
    log = CollectorRegistry(auto_describe=False)
    log.register(LogCollector(ledger, state))
    return Response(_counters() + generate_latest(log), media_type=CONTENT_TYPE_LATEST)
