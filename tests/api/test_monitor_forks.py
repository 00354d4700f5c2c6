"""What an independent monitor's tester found (forks the log will not prove, rollbacks,
alerts that kept no evidence, hash tiles never checked, the wrong entry named, two
monitors on one state, exit codes): each case as found, against the app over copies of
one database, or a fetch that misbehaves where a real server cannot.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time

import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli_monitor import (
    BUSY_EXIT,
    INTERRUPTED_EXIT,
    STALE_EXIT,
    UNAVAILABLE_EXIT,
    USAGE_EXIT,
)
from api.client import ClientError
from core.errors import InvalidInput
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor import Monitor, MonitorAlert, MonitorBusy, StandingAlert
from ledger.verify import verify_bundle_bytes
from tests.api.test_monitor import _long_log, failing_at, fetcher, served_with, serving
from tests.conftest import VIN, VIN2, maintenance, seed_two_vehicles


def answering(client):
    """GET through the app as ``api.client.VinledgerClient.get_bytes`` does: a refusal
    is a ClientError carrying the status."""

    def fetch(path: str) -> bytes:
        r = client.get(path)
        if r.status_code != 200:
            raise ClientError(r.status_code, {"title": "refused", "detail": r.text[:200]})
        return r.content

    return fetch


@pytest.fixture
def copy_of(tmp_path, sqlite_ledger):
    """Another ledger over a copy of ``sqlite_ledger``'s database as it is now (another
    server of the same data directory, restored or forked), served by the app."""
    from litestar.testing import TestClient

    from api.app import create_app
    from api.service import Ledger
    from ledger.storage import Store

    made = []

    def make(name: str):
        url = sqlite_ledger.settings.database_url
        src, dst = sqlite3.connect(url[len("sqlite:///") :]), sqlite3.connect(tmp_path / name)
        src.backup(dst)
        src.close()
        dst.close()
        settings = sqlite_ledger.settings
        db = f"sqlite:///{tmp_path / name}"
        ledger = Ledger(type(settings)(**{**vars(settings), "database_url": db}), Store(db))
        client = TestClient(create_app(ledger))
        client.__enter__()
        made.append((ledger, client))
        return ledger, client

    yield make
    for ledger, client in made:
        client.__exit__(None, None, None)
        ledger.close()


# ---- 1. a fork or rollback the log will not prove ------------------------------------


def test_a_fork_whose_consistency_proof_the_log_refuses_is_an_alert(
    tmp_path, client, sqlite_ledger, copy_of
):
    """A and B from one database: one reading more on A, two others on B. A monitor
    that read B at its size, then polls A (smaller, another root): the monitor's own
    leaf hashes show the fork; A's 400 to the proof request no longer hides it."""
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    b, b_client = copy_of("b.db")
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=61_000, day=9))])
    b.submit_now([shop.envelope(maintenance(km=70_000, day=9))])
    b.submit_now([shop.envelope(maintenance(km=71_000, day=10))])
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    at = m.poll(answering(b_client)).size
    with pytest.raises(MonitorAlert, match=f"older than the one of size {at} .* a fork"):
        m.poll(answering(client))
    m.close()
    # A state kept before leaf hashes were (it asks the log for a proof): the log's
    # refusal ("size … is larger than the log") is no excuse either.
    legacy = Monitor(tmp_path / "legacy", sqlite_ledger.vkey)
    legacy.poll(answering(b_client))
    legacy.db.execute("INSERT INTO leaves_known VALUES (1, 256)")
    with pytest.raises(MonitorAlert, match=r"refuses to prove them consistent .*400"):
        legacy.poll(answering(client))
    legacy.close()


def test_a_proof_that_cannot_be_fetched_is_no_alert(tmp_path, client, sqlite_ledger):
    """A state without all its leaf hashes asks the log; no answer at all (the network)
    is "could not read", not a fork."""
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    real = answering(client)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    m.poll(real)
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=61_000, day=9))])
    early = real("/log/checkpoint").decode()  # never polled
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=62_000, day=10))])
    m.poll(real)
    m.db.execute("INSERT INTO leaves_known VALUES (1, 256)")

    def no_answer(path: str) -> bytes:
        if path.startswith("/log/proof/"):
            raise ClientError(0, {"title": "no answer", "detail": "connection reset"})
        return serving(real, early)(path)

    with pytest.raises(InvalidInput, match="could not be fetched"):
        m.poll(no_answer)
    assert m.standing_alert is None

    def no_proofs_here(path: str) -> bytes:  # a mirror of the tiles only
        if path.startswith("/log/proof/"):
            raise ClientError(404, {"title": "Not Found", "detail": "no such route"})
        return serving(real, early)(path)

    with pytest.raises(InvalidInput, match="could not be fetched"):
        m.poll(no_proofs_here)
    assert m.standing_alert is None
    m.close()


# ---- 2. a rollback to a size the monitor polled ----------------------------------------


def test_a_log_behind_the_monitor_is_stale_then_an_alert(tmp_path, client, sqlite_ledger):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    real = fetcher(client)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    first = m.poll(real).size
    old_note = real("/log/checkpoint").decode()
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=61_000, day=9))])
    size = m.poll(real).size
    poll = m.poll(serving(real, old_note), max_stale=3600)
    assert (poll.stale, poll.size, poll.new_entries) == (first, size, 0)
    assert poll.stale_since is not None
    # Still behind an hour later: a rollback, not a lag.
    m.db.execute("UPDATE stale SET since = '2020-01-01T00:00:00Z'")
    with pytest.raises(MonitorAlert, match=f"entries {first}–{size - 1}, which it published"):
        m.poll(serving(real, old_note), max_stale=3600)
    m.acknowledge()
    # Caught up again: the clock starts afresh next time.
    assert m.poll(real, max_stale=3600).stale is None
    assert m.db.execute("SELECT count(*) FROM stale").fetchone() == (0,)
    with pytest.raises(MonitorAlert, match="older than the one of size"):  # the origin: 0
        m.poll(serving(real, old_note), max_stale=0)
    m.close()


# ---- 3. an alert keeps its evidence and stands ------------------------------------------


def test_an_alert_keeps_both_signed_notes_and_stands_until_acknowledged(
    tmp_path, client, sqlite_ledger
):
    seed_two_vehicles(sqlite_ledger, days=1)
    real = fetcher(client)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    size = m.poll(real).size
    mine = real("/log/checkpoint").decode()
    other = sqlite_ledger.signer.sign(
        Checkpoint(m.checkpoint.origin, size, merkle.hash_leaf(b"another tree"))
    )
    with pytest.raises(MonitorAlert, match="a fork") as alert:
        m.poll(serving(real, other))
    evidence = alert.value.evidence
    assert evidence.parent == tmp_path / "m" / "alerts"
    kept = evidence.read_text()
    assert other in kept and mine in kept and "a fork" in kept
    # The log serves its first tree again: the alert stands all the same.
    with pytest.raises(StandingAlert, match=f"a fork .*evidence in {evidence}"):
        m.poll(real)
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, m.vkey)
    m.compare(report)
    assert any("not yet acknowledged" in f.detail for f in report.failures)
    assert m.acknowledge() == 1
    assert m.poll(real).size == size
    assert evidence.exists()  # acknowledged, not forgotten
    m.close()


# ---- 4. hash tiles, and a partial tile read again ----------------------------------------


def test_a_hash_tile_that_is_not_the_entries_is_an_alert_naming_the_entry(
    tmp_path, client, sqlite_ledger
):
    seed_two_vehicles(sqlite_ledger, days=2)
    real = fetcher(client)

    def flipped(path: str) -> bytes:
        body = real(path)
        if path.startswith("/log/tile/0/"):
            body = body[:100] + bytes([body[100] ^ 1]) + body[101:]  # entry 3's hash
        return body

    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    with pytest.raises(MonitorAlert, match=r"entry 3: the log's hash tile /log/tile/0/000\.p/"):
        m.poll(flipped)
    assert m.size == 0
    m.close()


def test_entries_read_before_in_a_partial_tile_must_be_served_again_as_read(
    tmp_path, client, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=2)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    size = m.poll(fetcher(client)).size
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=70_000, day=9))])

    def changed(entries):  # entry 7, read by the first poll, as another (hash tile too)
        obj = json.loads(entries[7])
        obj["sequenced_at"] = obj["sequenced_at"].replace("20", "19", 1)
        return [*entries[:7], json.dumps(obj, separators=(",", ":")).encode(), *entries[8:]]

    with pytest.raises(MonitorAlert, match=r"entry 7: .* otherwise than the monitor read"):
        m.poll(served_with(fetcher(client), changed))
    assert m.size == size
    m.close()


# ---- 5. the entry named, and progress read from another tree -----------------------------


def test_a_broken_chain_names_both_entries_without_contradiction(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=3)

    def prev_of_last(entries):  # the last entry of VIN: another prev, hash tile to match
        last = max(i for i, e in enumerate(entries) if json.loads(e)["vin"] == VIN)
        obj = json.loads(entries[last])
        obj["prev"] = base64.b64encode(bytes(32)).decode()
        changed = json.dumps(obj, separators=(",", ":")).encode()
        return [*entries[:last], changed, *entries[last + 1 :]]

    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    with pytest.raises(MonitorAlert) as alert:
        m.poll(served_with(fetcher(client), prev_of_last))
    said = str(alert.value)
    assert "its prev is not the leaf hash of entry" in said and "expected" not in said, said
    m.close()


def test_progress_read_from_another_tree_is_read_again_not_blamed_on_the_log(
    tmp_path, client, sqlite_ledger
):
    """A catch-up interrupted while reading a mirror that served other entries (of
    another tree; each entry well-formed) goes on against the honest log: what it read
    is read again, and no alert names the honest log's entries."""
    _, size = _long_log(client, sqlite_ledger)

    def other_tree(entries):  # entry 2 (a trust entry) otherwise: no chain runs through it
        if json.loads(entries[0])["index"] != 0:
            return entries
        obj = json.loads(entries[2])
        obj["sequenced_at"] = obj["sequenced_at"].replace("20", "19", 1)
        return [*entries[:2], json.dumps(obj, separators=(",", ":")).encode(), *entries[3:]]

    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput):
        m.poll(failing_at(served_with(fetcher(client), other_tree), "002"))
    assert m.pending == 512
    resumed = []
    poll = m.poll(fetcher(client), resuming=lambda at, of: resumed.append((at, of)))
    assert (poll.size, m.standing_alert, resumed) == (size, None, [(512, size)])
    assert poll.resumed_at is None  # read again from the start
    m.close()


def test_a_resumed_catch_up_says_so_and_counts_every_vehicle(tmp_path, client, sqlite_ledger):
    _, size = _long_log(client, sqlite_ledger)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput):
        m.poll(failing_at(fetcher(client), "002"))
    resumed = []
    poll = m.poll(fetcher(client), resuming=lambda at, of: resumed.append((at, of)))
    assert resumed == [(512, size)] and poll.resumed_at == 512
    assert poll.vehicles == 2  # VIN's entries are all past 512, VIN2's before it
    m.close()


def test_a_first_polls_alert_names_no_tree_of_size_0(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    real = fetcher(client)
    size = int(real("/log/checkpoint").decode().split("\n")[1])
    origin = sqlite_ledger.vkey.split("+")[0]
    lie = sqlite_ledger.signer.sign(Checkpoint(origin, size, bytes(32)))
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    with pytest.raises(MonitorAlert) as alert:
        m.poll(serving(real, lie))
    assert "size 0" not in str(alert.value) and "not its own" in str(alert.value)
    m.close()


# ---- 6. two monitors on one state directory ---------------------------------------------


def test_a_second_monitor_during_a_catch_up_is_busy_at_once(tmp_path, client, sqlite_ledger):
    _long_log(client, sqlite_ledger)
    state = tmp_path / "m"
    m = Monitor(state, sqlite_ledger.vkey, save_every=1)
    seen = []

    def meanwhile(read: int, size: int) -> None:  # the first holds its write transaction
        if seen:
            return
        t = time.monotonic()
        other = Monitor(state, sqlite_ledger.vkey)  # as `verify --monitor` opens it
        with pytest.raises(MonitorBusy, match="another monitor is polling"):
            other.poll(fetcher(client))
        assert other.vin_chain(VIN2) == []  # reads what is proven: nothing yet
        other.close()
        seen.append(time.monotonic() - t)

    m.poll(fetcher(client), progress=meanwhile)
    assert seen and seen[0] < 5, seen
    m.close()


# ---- 9. Ctrl-C right after progress was saved --------------------------------------------


class _InterruptedAfterSave:
    """The monitor's connection, with Ctrl-C arriving right after a save's COMMIT."""

    def __init__(self, db):
        self.db = db
        self.committed = False

    def execute(self, sql, *args):
        if sql == "BEGIN IMMEDIATE" and self.committed:
            raise KeyboardInterrupt
        cur = self.db.execute(sql, *args)
        self.committed = self.committed or sql == "COMMIT"
        return cur

    def __getattr__(self, name):
        return getattr(self.db, name)


def test_ctrl_c_right_after_a_save_leaves_the_progress(tmp_path, client, sqlite_ledger):
    _, size = _long_log(client, sqlite_ledger)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    real_db = m.db
    m.db = _InterruptedAfterSave(real_db)
    with pytest.raises(KeyboardInterrupt):
        m.poll(fetcher(client))
    m.db = real_db
    assert m.pending == 256
    assert m.poll(fetcher(client)).size == size
    m.close()


# ---- 7, 11. the command: exit codes, JSON, timestamps, messages --------------------------


class _Served:
    """``VinledgerClient`` over the app's test client, with what ``serve`` decides."""

    def __init__(self, client, serve):
        self.client, self.serve = client, serve

    def get_bytes(self, path: str) -> bytes:
        body = self.serve(path)
        if body is not None:
            return body
        r = self.client.get(path)
        if r.status_code != 200:
            raise ClientError(r.status_code, {"detail": r.text})
        return r.content

    def close(self) -> None:
        pass


@pytest.fixture
def run(tmp_path, client, sqlite_ledger, monkeypatch):
    serve = {"fn": lambda path: None}
    monkeypatch.setattr(
        "api.client.VinledgerClient", lambda url: _Served(client, lambda p: serve["fn"](p))
    )
    state = tmp_path / "state"

    def invoke(*args: str, once: bool = True, serving=None):
        serve["fn"] = serving or (lambda path: None)
        argv = ["monitor", "http://ledger.test", "--vkey", sqlite_ledger.vkey]
        argv += ["--state", str(state), *(["--once"] if once else []), *args]
        return CliRunner().invoke(main, argv)

    return invoke


def test_exit_codes_say_what_happened(run, sqlite_ledger, client, tmp_path):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    old = client.get("/log/checkpoint").content
    assert run().exit_code == 0
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=61_000, day=9))])
    assert run().exit_code == 0

    def down(path: str):
        raise ClientError(503, {"detail": "maintenance"})

    r = run(serving=down)
    assert r.exit_code == UNAVAILABLE_EXIT and "could not read" in r.output
    stale = run(serving=lambda p: old if p == "/log/checkpoint" else None)
    assert stale.exit_code == STALE_EXIT and "WARNING: the log served an older" in stale.output
    behind = run("--max-stale", "0", serving=lambda p: old if p == "/log/checkpoint" else None)
    assert behind.exit_code == 1 and "ALERT" in behind.output and "evidence kept" in behind.output
    standing = run()
    assert standing.exit_code == 1 and "acknowledge" in standing.output
    cleared = run("--acknowledge")
    assert cleared.exit_code == 0 and "acknowledged 1 alert" in cleared.output
    import fcntl

    with open(tmp_path / "state" / "monitor.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert run().exit_code == BUSY_EXIT
    r = run("--no-signatures")
    assert r.exit_code == USAGE_EXIT and "keeps that mode" in r.output
    missing = CliRunner().invoke(
        main,
        ["monitor", "http://x", "--vkey", "vkey", "--state", str(tmp_path / "s2"), "--once"],
    )
    assert missing.exit_code == USAGE_EXIT and "no such file" in missing.output


def test_json_lines_and_timestamps_in_loop_mode(run, sqlite_ledger, monkeypatch):
    seed_two_vehicles(sqlite_ledger, days=1)
    r = run("--json")
    assert r.exit_code == 0, r.output
    events = [json.loads(line) for line in r.output.splitlines()]
    assert events[0]["event"] == "checkpoint" and events[0]["size_before"] == 0
    assert {e["event"] for e in events[1:]} == {"trust"} and all("time" in e for e in events)

    def interrupt(seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", interrupt)
    loop = run(once=False)
    assert loop.exit_code == INTERRUPTED_EXIT, loop.output
    first = loop.output.splitlines()[0]
    assert first[:4].isdigit() and first[10] == "T" and "checkpoint " in first, first

    def down(path: str):
        raise ClientError(502, {"detail": "bad gateway"})

    down = run("--json", serving=down)
    assert down.exit_code == UNAVAILABLE_EXIT
    assert json.loads(down.output.splitlines()[-1])["event"] == "unavailable"


# ---- migration: a state an earlier release kept ------------------------------------------


def test_a_state_without_leaf_hashes_is_read_on_and_keeps_them_from_its_last_tile(
    tmp_path, client, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=2)
    state = tmp_path / "m"
    m = Monitor(state, sqlite_ledger.vkey)
    size = m.poll(fetcher(client)).size
    for table in ("leaf_tiles", "leaves_known", "alerts", "stale"):
        m.db.execute(f"DROP TABLE {table}")  # as version 4 kept it
    m.db.execute("PRAGMA user_version = 4")
    m.close()
    m = Monitor(state, sqlite_ledger.vkey)
    assert m.leaves_since == 0 and m.db.execute("PRAGMA user_version").fetchone() == (5,)
    # A size inside tile 0: its leaves are read again with the next entries.
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=k, day=9)) for k in (61_000, 62_000)])
    assert m.poll(fetcher(client)).size_before == size
    (kept,) = m.db.execute("SELECT hashes FROM leaf_tiles WHERE n = 0").fetchone()
    assert len(kept) == m.size * 32
    m.close()
