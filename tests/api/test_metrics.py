"""GET /metrics: what an operator's Prometheus scrapes, with nothing personal in it."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.metrics import RUN_DIRS, RUN_PREFIX
from tests.conftest import VIN, inspection, onboard, start_server, vinledger

RUN_BASE = next(d for d in RUN_DIRS if os.access(d, os.W_OK))  # where serve keeps them


def scrape(get) -> dict[tuple[str, tuple], float]:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    r = get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_submissions_refusals_batches_and_the_log_are_counted(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    stranger = onboard(sqlite_ledger, "other", "workshop")  # may not file inspections
    with TestClient(create_app(sqlite_ledger)) as client:
        before = scrape(client.get)
        env = inspector.envelope(inspection())
        assert client.post("/records", content=env).status_code == 201
        assert client.post("/records", content=env).status_code == 200  # again: its receipt
        refused = client.post("/records", content=stranger.envelope(inspection(day=5)))
        assert refused.status_code == 403, refused.text
        slug = refused.json()["type"].rsplit("/", 1)[-1]
        assert client.get(f"/vehicles/{VIN}").status_code == 200
        after = scrape(client.get)
        size = int(client.get("/log/checkpoint").text.split("\n")[1])

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("vinledger_submissions_total", outcome="appended") == 1
    assert delta("vinledger_submissions_total", outcome="already_logged") == 1
    assert delta("vinledger_submissions_total", outcome="refused") == 1
    assert delta("vinledger_refusals_total", type=slug) == 1
    assert delta("vinledger_batch_entries_count") >= 1
    assert delta("vinledger_batch_entries_sum") >= 1
    assert value(after, "vinledger_database_up") == 1
    assert value(after, "vinledger_log_entries") == size
    assert value(after, "vinledger_fork_risk") == 0
    signed = value(after, "vinledger_checkpoint_timestamp_seconds")
    assert abs(signed - time.time()) < 300, signed
    page = {
        "app_name": "vinledger",
        "method": "GET",
        "path": "/vehicles/{vin}",
        "status_code": "200",
    }
    assert delta("vinledger_requests_total", **page) == 1


def test_no_vin_actor_or_key_is_a_label(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme-secret-partner", "inspector")
    with TestClient(create_app(sqlite_ledger)) as client:
        client.post("/records", content=inspector.envelope(inspection()))
        client.get(f"/vehicles/{VIN}")
        client.get(f"/vehicles/{VIN}/bundle")
        client.get(f"/keys/{inspector.keyid}")
        body = client.get("/metrics").text
    for private in (VIN, "acme-secret-partner", inspector.keyid):
        assert private not in body


def test_a_database_that_does_not_answer_is_a_figure_not_a_failed_scrape(sqlite_ledger):
    with TestClient(create_app(sqlite_ledger)) as client:
        assert value(scrape(client.get), "vinledger_database_up") == 1

        def down():
            raise OSError("connection refused")

        sqlite_ledger.store.reader = down
        samples = scrape(client.get)
    assert value(samples, "vinledger_database_up") == 0
    assert ("vinledger_log_entries", ()) not in samples


def test_a_scrape_answers_while_the_database_hangs(sqlite_ledger, monkeypatch):
    import threading

    monkeypatch.setattr("api.routes.metrics.DATABASE_TIMEOUT", 0.3)
    hung = threading.Event()
    real = sqlite_ledger.store.reader

    def stuck():
        hung.wait(10)
        return real()

    with TestClient(create_app(sqlite_ledger)) as client:
        sqlite_ledger.store.reader = stuck
        started = time.monotonic()
        samples = scrape(client.get)
        took = time.monotonic() - started
        hung.set()
    assert took < 3, took
    assert value(samples, "vinledger_database_up") == 0


def test_a_batch_the_database_refuses_is_counted_as_refused(sqlite_ledger, monkeypatch):
    from core.errors import StorageUnavailable

    inspector = onboard(sqlite_ledger, "acme", "inspector")

    def read_only(subs):
        raise StorageUnavailable("the database is read-only", state="read-only")

    with TestClient(create_app(sqlite_ledger)) as client:
        before = scrape(client.get)
        monkeypatch.setattr(sqlite_ledger.sequencer, "sequence", read_only)
        r = client.post("/records", content=inspector.envelope(inspection()))
        assert r.status_code == 503, r.text
        after = scrape(client.get)
    slug = r.json()["type"].rsplit("/", 1)[-1]
    assert slug == "storage-unavailable"
    for name, labels in (
        ("vinledger_submissions_total", {"outcome": "refused"}),
        ("vinledger_refusals_total", {"type": slug}),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert value(after, "vinledger_submissions_total", outcome="appended") == value(
        before, "vinledger_submissions_total", outcome="appended"
    )


@pytest.mark.slow
def test_every_worker_is_counted_and_each_server_counts_apart(tmp_path):
    """``serve --workers 2``: a scrape of either worker adds up both workers' counters;
    a second server on the same data directory counts its own, in memory, not in DATA;
    the counters go when the server stops."""
    data = tmp_path / "data"
    vinledger("init", data=data)
    vinledger("keygen", str(tmp_path / "acme.key"))
    vinledger(
        "actors", "add", "Acme", "--role", "inspector",
        "--public-key", str(tmp_path / "acme.key.pub"), data=data,
    )  # fmt: skip

    def serve():
        return start_server(data, None, "--workers", "2")

    import json

    from core import dsse
    from core.keys import load_private_key

    key = load_private_key((tmp_path / "acme.key").read_bytes())
    envelopes = [
        dsse.encode_envelope(dsse.sign_envelope(json.dumps(inspection(day=d)).encode(), key))
        for d in range(1, 13)
    ]
    a, url = serve()
    b = None
    try:
        start = value(scrape(lambda path: httpx.get(url + path)), "vinledger_log_entries")
        assert start > 0  # the operator, Acme and its key
        for env in envelopes:  # a new connection each: the workers share them out
            assert httpx.post(url + "/records", content=env).status_code == 201
        totals = set()
        for _ in range(6):
            samples = scrape(lambda path: httpx.get(url + path))
            totals.add(value(samples, "vinledger_submissions_total", outcome="appended"))
        assert totals == {12.0}
        assert value(samples, "vinledger_log_entries") == start + 12
        # A second server on the same data directory counts its own requests.
        b, other = serve()
        samples = scrape(lambda path: httpx.get(other + path))
        assert value(samples, "vinledger_submissions_total", outcome="appended") == 0
        assert value(samples, "vinledger_log_entries") == start + 12
        samples = scrape(lambda path: httpx.get(url + path))
        assert value(samples, "vinledger_submissions_total", outcome="appended") == 12
        runs = [p for p in Path(RUN_BASE).glob(f"{RUN_PREFIX}{a.pid}-*")]
        assert len(runs) == 1 and any(runs[0].iterdir())  # in memory, not in DATA
        assert not (data / "metrics").exists()
    finally:
        for proc in (a, b):
            if proc is not None:
                proc.terminate()
                proc.wait(10)
    assert not list(Path(RUN_BASE).glob(f"{RUN_PREFIX}{a.pid}-*"))  # removed at exit
