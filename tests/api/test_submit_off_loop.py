"""A submission's check never waits on the database or runs a plugin on the event loop:
a lock on a table (a migration, a long transaction in psql) must leave a worker free to
answer everything else. Only a check that needs neither stays on the loop."""

from __future__ import annotations

import asyncio
import json
import threading

import api.service
import api.service_checks
import plugins.submissions
from api.service import Appended
from tests.api.test_dealer_flow import sale
from tests.conftest import inspection, onboard


def _spy(monkeypatch, module, name: str) -> list[threading.Thread]:
    threads: list[threading.Thread] = []
    real = getattr(module, name)

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, spy)
    return threads


def test_a_key_not_in_the_cache_is_read_in_a_thread(sqlite_ledger, monkeypatch):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    reads = _spy(monkeypatch, api.service_checks, "signing_key")
    # Off the loop, into the checks' own threads (api.service: not asyncio's default pool).
    offloaded = _spy(monkeypatch, sqlite_ledger._plugin_checks, "submit")
    loop_thread = threading.current_thread()  # asyncio.run runs the loop here

    async def both():
        first = await sqlite_ledger.submit([inspector.envelope(inspection(km=1_000))])
        second = await sqlite_ledger.submit([inspector.envelope(inspection(km=2_000))])
        return first + second

    outcomes = asyncio.run(both())
    assert all(isinstance(o, Appended) for o in outcomes), outcomes
    assert reads and loop_thread not in reads  # the key was read off the loop...
    assert len(offloaded) == 1  # ...and the second, with the key remembered, stayed on it


def test_a_sale_runs_its_policy_plugins_in_a_thread(sqlite_ledger, monkeypatch):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    derived = _spy(monkeypatch, plugins.submissions, "_derive_terms")
    sqlite_ledger.submit_now([dealer.envelope(sale(km=40_000))])  # the key is remembered
    derived.clear()
    loop_thread = threading.current_thread()
    (outcome,) = asyncio.run(sqlite_ledger.submit([dealer.envelope(sale(km=48_000, day="02"))]))
    assert isinstance(outcome, Appended), outcome
    assert derived and loop_thread not in derived


def test_a_refused_envelope_is_answered_the_same_from_the_thread(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    bad = inspector.envelope({**inspection(), "grade": ""})
    (outcome,) = asyncio.run(sqlite_ledger.submit([bad]))
    (direct,) = sqlite_ledger.submit_now([bad])
    assert not isinstance(outcome, Appended)
    assert (outcome.status, outcome.detail) == (direct.status, direct.detail)


def test_a_bug_met_by_one_envelope_of_a_batch_fails_only_that_envelope(sqlite_ledger, monkeypatch):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    real = api.service_checks._check_dates

    def buggy(record, now):
        if record.odometer_km == 13:
            raise KeyError("a bug")
        return real(record, now)

    monkeypatch.setattr(api.service_checks, "_check_dates", buggy)
    batch = [inspector.envelope(inspection(km=km)) for km in (12, 13, 14)]
    first, broken, last = asyncio.run(sqlite_ledger.submit(batch))
    assert isinstance(first, Appended) and isinstance(last, Appended)
    assert broken.status == 500 and "nothing was appended for it" in broken.detail


def test_a_database_outage_while_checking_a_batch_is_one_503_for_the_request(sqlite_ledger):
    """Not a 200 with a 503 for every envelope: the request as a whole could not be
    served, and a client retries it as a whole."""
    from litestar.testing import TestClient

    from api.app import create_app
    from core.errors import StorageUnavailable

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    batch = [json.loads(inspector.envelope(inspection(km=km))) for km in (1, 2)]

    def down(*args):
        raise StorageUnavailable("the ledger's database is unreachable", state="unreachable")

    sqlite_ledger._keys = api.service_checks._Remembered()  # nothing remembered
    with TestClient(create_app(sqlite_ledger)) as client:
        real = api.service_checks.signing_key
        api.service_checks.signing_key = down
        try:
            r = client.post("/records/batch", json={"envelopes": batch})
        finally:
            api.service_checks.signing_key = real
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"]


def test_threads_asking_at_once_share_one_group_commit(sqlite_ledger, monkeypatch):
    """Two group commits would each take batches: a second writer thread per process."""
    import time

    made = []
    real = api.service.GroupCommit

    def slow(sequencer, **options):
        time.sleep(0.05)  # a window for a second thread to see no group commit yet
        made.append(real(sequencer, **options))
        return made[-1]

    monkeypatch.setattr(api.service, "GroupCommit", slow)
    got: list = []
    threads = [
        threading.Thread(target=lambda: got.append(sqlite_ledger._batcher_for_loop()))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 1 and all(g is made[0] for g in got)
