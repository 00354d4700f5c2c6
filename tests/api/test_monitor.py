"""A monitor follows a log through its public read API, as an outside party would.

It must accept every honest log as it grows, refuse every fork, shrink or rewritten
entry without recording anything of that poll, and catch a bundle that leaves out
an entry of its vehicle (which the bundle alone cannot show).
"""

from __future__ import annotations

import base64
import json

import pytest
from litestar.testing import TestClient
from sqlalchemy import select

from api.app import create_app
from core.errors import InvalidInput
from core.keys import generate_private_key
from ledger import merkle
from ledger.bundle import decode_bundle, encode_bundle
from ledger.checkpoint import Checkpoint
from ledger.monitor import Monitor, MonitorAlert
from ledger.schema import EntryRow
from ledger.signing import LogSigner
from ledger.verify import verify_bundle, verify_bundle_bytes
from tests.conftest import VIN, VIN2, inspection, maintenance, onboard, seed_two_vehicles


@pytest.fixture
def client(sqlite_ledger):
    with TestClient(create_app(sqlite_ledger)) as c:
        yield c


@pytest.fixture
def monitor(tmp_path, sqlite_ledger):
    m = Monitor(tmp_path / "monitor", sqlite_ledger.vkey)
    yield m
    m.close()


def fetcher(client):
    def fetch(path: str) -> bytes:
        r = client.get(path)
        if r.status_code != 200:
            raise InvalidInput(f"{path} answered {r.status_code}")
        return r.content

    return fetch


def stored_chain(ledger, vin: str) -> list[int]:
    with ledger.store.reader() as s:
        rows = s.execute(select(EntryRow.idx).where(EntryRow.vin == vin).order_by(EntryRow.vin_seq))
        return list(rows.scalars())


def test_follows_a_growing_log_across_entry_tiles(client, monitor, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=2)
    first = monitor.poll(fetcher(client))
    assert first.size_before == 0 and first.size == monitor.size > 6 and first.vehicles == 2
    # One batch of 300 crosses from a partial entry tile into the next one.
    inspector = onboard(sqlite_ledger, "northside", "inspector")
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(vin=VIN2, km=30_000 + k, day=5)) for k in range(300)]
    )
    second = monitor.poll(fetcher(client))
    assert second.size_before == first.size and second.size - first.size == 302
    for vin in (VIN, VIN2):
        assert [e.index for e in monitor.vin_chain(vin)] == stored_chain(sqlite_ledger, vin)
    again = monitor.poll(fetcher(client))
    assert (again.new_entries, again.size) == (0, second.size)


def test_an_entry_changed_after_its_checkpoint_is_an_alert_and_nothing_is_kept(
    client, monitor, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    size = monitor.poll(fetcher(client)).size
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=k, day=9)) for k in (61_000, 62_000)])
    with sqlite_ledger.store.writer.begin() as s:
        row = s.get(EntryRow, size + 1)
        changed = row.data.replace(b'"sequenced_at":"20', b'"sequenced_at":"19', 1)
        assert changed != row.data
        row.data = changed
    with pytest.raises(MonitorAlert, match=f"entries {size}–{size + 1} as served do not give"):
        monitor.poll(fetcher(client))
    assert monitor.size == size
    assert [e.index for e in monitor.vin_chain(VIN)] == stored_chain(sqlite_ledger, VIN)[:-2]


def test_forks_and_shrinks_are_alerts(client, monitor, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    cp = monitor.poll(fetcher(client))
    real = fetcher(client)
    sign = sqlite_ledger.signer.sign
    origin = monitor.checkpoint.origin

    def serving(note: str):
        return lambda path: note.encode() if path == "/log/checkpoint" else real(path)

    other_root = merkle.hash_leaf(b"another tree")
    with pytest.raises(MonitorAlert, match=f"two checkpoints of size {cp.size}"):
        monitor.poll(serving(sign(Checkpoint(origin, cp.size, other_root))))
    with pytest.raises(MonitorAlert, match="the log shrank"):
        monitor.poll(serving(sign(Checkpoint(origin, cp.size - 1, other_root))))
    forged = sign(Checkpoint(origin, cp.size, other_root)).replace("— ", "— x", 1)
    with pytest.raises(MonitorAlert, match="does not verify"):
        monitor.poll(serving(forged))
    assert monitor.size == cp.size


def test_a_bundle_that_leaves_out_an_entry_fails_with_a_monitor(client, monitor, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=3)
    monitor.poll(fetcher(client))
    data = client.get(f"/vehicles/{VIN}/bundle").content
    report = verify_bundle_bytes(data, sqlite_ledger.vkey)
    monitor.compare(report)
    assert report.ok, report.failures
    assert "all 3 entries" in report.findings[-1].detail

    # The newest entry left out: the bundle alone still verifies (a known limit) ...
    bundle = decode_bundle(data)
    dropped = bundle.entries.pop()
    report = verify_bundle(decode_bundle(encode_bundle(bundle)), sqlite_ledger.vkey)
    assert report.ok
    # ... the monitor, which read every entry, names the one missing.
    monitor.compare(report)
    assert not report.ok
    [failure] = report.failures
    assert failure.check == "monitor" and f"leaves out entries {dropped.index}" in failure.detail


def test_a_stale_bundle_fails_once_the_monitor_has_seen_newer_entries(
    client, monitor, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    old = client.get(f"/vehicles/{VIN}/bundle").content
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=90_000, day=20))])
    monitor.poll(fetcher(client))
    report = verify_bundle_bytes(old, sqlite_ledger.vkey)
    monitor.compare(report)
    assert [f.check for f in report.failures] == ["monitor"]
    assert "1 newer entries" in report.failures[0].detail


def test_a_monitor_of_another_log_says_so(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    m.poll(fetcher(client))
    m.close()
    stranger = LogSigner("other.example/log", generate_private_key())
    m = Monitor(tmp_path / "m", stranger.vkey)
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    m.compare(report)
    m.close()
    assert [f.check for f in report.failures] == ["monitor"]
    assert "not of this log" in report.failures[0].detail


def test_a_bundle_at_a_size_the_monitor_did_not_poll_needs_a_consistency_proof(
    client, monitor, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    monitor.poll(fetcher(client))
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=90_000, day=20))])
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    assert report.checkpoint.size > monitor.size
    monitor.compare(report, fetcher(client))
    assert report.ok, report.failures
    assert "has not read past size" in report.findings[-1].detail

    def bent(path: str) -> bytes:
        body = json.loads(fetcher(client)(path))
        body["hashes"][0] = base64.b64encode(bytes(32)).decode()
        return json.dumps(body).encode()

    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report, bent)
    assert [f.check for f in report.failures] == ["monitor"]
    assert "does not prove the bundle's tree" in report.failures[0].detail
