"""A monitor follows a log through its public read API, as an outside party would.

It must accept every honest log as it grows, refuse every fork, shrink or rewritten
entry without recording anything of that poll, and catch a bundle that leaves out
an entry of its vehicle (which the bundle alone cannot show).
"""

from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from core.errors import InvalidInput
from core.keys import generate_private_key
from ledger import merkle
from ledger.bundle import decode_bundle, encode_bundle
from ledger.checkpoint import Checkpoint
from ledger.monitor import Monitor, MonitorAlert, MonitorBusy
from ledger.schema import EntryRow
from ledger.signing import LogSigner
from ledger.tiles import decode_entry_bundle, encode_entry_bundle
from ledger.verify import verify_bundle, verify_bundle_bytes
from tests.conftest import (
    VIN,
    VIN2,
    filed_when_dated,
    inspection,
    maintenance,
    onboard,
    seed_two_vehicles,
)


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
    # The log's hash tile still holds the entry's leaf hash: the alert names the entry.
    with pytest.raises(MonitorAlert, match=f"entry {size + 1}: the log's hash tile"):
        monitor.poll(fetcher(client))
    assert monitor.size == size
    assert [e.index for e in monitor.vin_chain(VIN)] == stored_chain(sqlite_ledger, VIN)[:-2]


def serving(real, note: str):
    """The log as ``real`` serves it, but with checkpoint ``note``."""
    return lambda path: note.encode() if path == "/log/checkpoint" else real(path)


def test_forks_are_alerts_and_an_older_consistent_checkpoint_is_only_stale(
    client, monitor, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    real = fetcher(client)
    first = monitor.poll(real).size
    old_note = real("/log/checkpoint").decode()
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=k, day=9)) for k in (61_000, 62_000)])
    middle = real("/log/checkpoint").decode()  # never polled
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=63_000, day=10))])
    size = monitor.poll(real).size
    sign, origin = sqlite_ledger.signer.sign, monitor.checkpoint.origin
    other_root = merkle.hash_leaf(b"another tree")

    with pytest.raises(MonitorAlert, match=f"two checkpoints of size {size} with different"):
        monitor.poll(serving(real, sign(Checkpoint(origin, size, other_root))))
    monitor.acknowledge()  # each alert stands until acknowledged
    with pytest.raises(MonitorAlert, match=f"two checkpoints of size {first} with different"):
        monitor.poll(serving(real, sign(Checkpoint(origin, first, other_root))))
    monitor.acknowledge()
    with pytest.raises(MonitorAlert, match=f"size {size - 1}, older than .* a fork"):
        monitor.poll(serving(real, sign(Checkpoint(origin, size - 1, other_root))))
    monitor.acknowledge()
    forged = sign(Checkpoint(origin, size, other_root)).replace("— ", "— x", 1)
    with pytest.raises(MonitorAlert, match="does not verify"):
        monitor.poll(serving(real, forged))
    monitor.acknowledge()
    with pytest.raises(MonitorAlert, match="does not verify"):
        monitor.poll(lambda path: b"\xff\xfe" if path == "/log/checkpoint" else real(path))
    assert monitor.acknowledge() == 1
    # A mirror or cache behind the log: older, but provably the same log.
    assert monitor.poll(serving(real, old_note)).stale == first
    assert monitor.poll(serving(real, middle)).stale == first + 2
    assert monitor.size == size


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
    assert "holds a monitor of another log" in report.failures[0].detail


def test_a_bundle_at_a_size_the_monitor_did_not_poll_needs_a_consistency_proof(
    client, monitor, sqlite_ledger
):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    monitor.poll(fetcher(client))
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=90_000, day=20))])
    data = client.get(f"/vehicles/{VIN}/bundle").content  # at a size never polled
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=95_000, day=21))])
    monitor.poll(fetcher(client))
    report = verify_bundle_bytes(data, sqlite_ledger.vkey)
    assert report.checkpoint.size < monitor.size
    monitor.compare(report, fetcher(client))
    assert [f.check for f in report.failures] == ["monitor"]  # one newer entry since
    assert "1 newer entries" in report.failures[0].detail

    def bent(path: str) -> bytes:
        body = json.loads(fetcher(client)(path))
        body["hashes"][0] = base64.b64encode(bytes(32)).decode()
        return json.dumps(body).encode()

    report = verify_bundle_bytes(data, sqlite_ledger.vkey)
    monitor.compare(report, bent)
    assert [f.check for f in report.failures] == ["monitor"]
    assert "does not prove them consistent" in report.failures[0].detail


def test_a_bundle_newer_than_the_monitor_is_not_covered(client, monitor, sqlite_ledger):
    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    monitor.poll(fetcher(client))
    sqlite_ledger.submit_now([shop.envelope(maintenance(km=90_000, day=20))])
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report, fetcher(client))
    assert [f.check for f in report.failures] == ["monitor"]
    assert "newer than the monitor's" in report.failures[0].detail
    monitor.poll(fetcher(client))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report, fetcher(client))
    assert report.ok, report.failures


def test_an_entry_of_another_tree_is_named(client, monitor, sqlite_ledger):
    """Entries are compared by leaf hash, not only by index."""
    seed_two_vehicles(sqlite_ledger, days=2)
    monitor.poll(fetcher(client))
    [first, *_] = monitor.vin_chain(VIN)
    monitor.db.execute("UPDATE chains SET leaf = ? WHERE idx = ?", (bytes(32), first.index))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report)
    details = [f.detail for f in report.failures]
    assert any(f"leaves out entries {first.index} " in d for d in details), details
    assert any(f"entries {first.index} of the bundle are not" in d for d in details), details


def test_a_bundle_with_another_root_at_a_polled_size(client, monitor, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    monitor.poll(fetcher(client))
    cp = monitor.checkpoint
    note = sqlite_ledger.signer.sign(Checkpoint(cp.origin, cp.size, merkle.hash_leaf(b"x")))
    monitor.db.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (note, cp.size))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report)
    assert "shows different trees to different readers" in report.failures[0].detail


def served_with(real, change):
    """The log as ``real`` serves it, with ``change`` applied to each entry tile's entries,
    and its level-0 hash tiles made to match them (a log that misbehaves thoroughly: the
    monitor compares the two before it checks the entries)."""

    def fetch(path: str) -> bytes:
        if path.startswith("/log/tile/0/"):
            entries = decode_entry_bundle(real(path.replace("/tile/0/", "/tile/entries/")))
            return b"".join(merkle.hash_leaf(e) for e in change(entries))
        body = real(path)
        if path.startswith("/log/tile/entries/"):
            return encode_entry_bundle(change(decode_entry_bundle(body)))
        return body

    return fetch


def rewrite(entry: bytes, **fields) -> bytes:
    obj = json.loads(entry)
    obj.update(fields)
    return json.dumps(obj, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda es: es[:-1], "holds"),  # one entry short
        (lambda es: [es[1], es[0], *es[2:]], "entry 0 says its index is 1"),
        (
            lambda es: [rewrite(e, vin_seq=5) if json.loads(e)["vin"] else e for e in es],
            "at position 5 of its chain",
        ),
        (
            lambda es: [
                rewrite(e, vin=None, vin_seq=None, prev=None) if json.loads(e)["vin"] else e
                for e in es
            ],
            "not a trust kind",
        ),
        (
            lambda es: [rewrite(e, vin=VIN2) if json.loads(e)["vin"] == VIN else e for e in es],
            f"but its record is a maintenance of VIN {VIN}",
        ),
    ],
    ids=["short-tile", "swapped", "chain", "vin-dropped", "vin-relabelled"],
)
def test_entries_that_are_not_what_they_claim_are_alerts_and_nothing_is_kept(
    client, monitor, sqlite_ledger, change, says
):
    seed_two_vehicles(sqlite_ledger, days=2)
    with pytest.raises(MonitorAlert, match=says):
        monitor.poll(served_with(fetcher(client), change))
    assert monitor.size == 0
    assert monitor.db.execute("SELECT count(*) FROM chains").fetchone() == (0,)
    monitor.acknowledge()
    assert monitor.poll(fetcher(client)).size > 0  # the honest log is then read whole


def test_one_poll_at_a_time_per_state_directory(tmp_path, client, sqlite_ledger):
    import fcntl

    seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    with open(tmp_path / "m" / "monitor.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(MonitorBusy, match="another monitor is polling"):
            m.poll(fetcher(client))
    assert m.poll(fetcher(client)).size > 0
    m.close()


def test_a_malformed_key_is_the_callers_mistake(tmp_path):
    with pytest.raises(InvalidInput, match="verifier key is malformed"):
        Monitor(tmp_path / "m", "not a key")


def test_a_bundle_that_leaves_out_a_revocation_fails_with_a_monitor(client, monitor, sqlite_ledger):
    """The monitor keeps every revocation it reads; a bundle cannot hide one from it."""
    shop, _ = seed_two_vehicles(sqlite_ledger, days=2)
    revoked = sqlite_ledger.revoke_key(shop.keyid, "laptop stolen").index
    monitor.poll(fetcher(client))
    assert monitor.db.execute("SELECT key_id, idx FROM revocations").fetchall() == [
        (shop.keyid, revoked)
    ]
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report)
    assert report.ok, report.failures  # every entry was signed before the revocation
    # As if the log held the revocation before the first entry it signed, and the
    # bundle had left it out: the monitor's record says so.
    first = min(e.index for e in report.entries)
    monitor.db.execute("UPDATE revocations SET idx = ? WHERE key_id = ?", (first - 1, shop.keyid))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    monitor.compare(report)
    [failure] = report.failures
    assert f"entry {first} (key revoked at entry {first - 1})" in failure.detail


def test_a_trust_entry_signed_after_its_keys_revocation_fails_with_a_monitor(
    client, monitor, sqlite_ledger
):
    seed_two_vehicles(sqlite_ledger, days=1)
    monitor.poll(fetcher(client))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    grant = max(e.index for e in report.trust)  # a grant the operator key signed
    operator_key = next(e for e in report.trust if e.index == grant).signer.keyid
    # As if the log had revoked the operator's key before that grant, and the bundle
    # had left the revocation out.
    monitor.db.execute("INSERT INTO revocations VALUES (?, ?)", (operator_key, grant - 1))
    monitor.compare(report)
    [failure] = report.failures
    assert f"entry {grant} (key revoked at entry {grant - 1})" in failure.detail


def test_a_state_directory_of_an_earlier_monitor_is_refused(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    m.poll(fetcher(client))
    m.db.execute("PRAGMA user_version = 0")  # as an earlier monitor left it
    m.close()
    with pytest.raises(InvalidInput, match="kept no key revocations"):
        Monitor(tmp_path / "m", sqlite_ledger.vkey)


def test_a_forged_signature_is_an_alert(client, monitor, sqlite_ledger):
    """The monitor replays the trust entries and checks every signature with the key
    valid at its index, across polls: here a key granted after the first poll."""
    seed_two_vehicles(sqlite_ledger, days=1)
    size = monitor.poll(fetcher(client)).size
    shop = onboard(sqlite_ledger, "northside", "workshop")  # entries size, size + 1
    [outcome] = sqlite_ledger.submit_now([shop.envelope(maintenance(km=70_000, day=12))])

    def forge(entries):
        out = []
        for e in entries:
            obj = json.loads(e)
            if obj["index"] == outcome.index:
                obj["envelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(64)).decode()
                e = json.dumps(obj, separators=(",", ":")).encode()
            out.append(e)
        return out

    with pytest.raises(MonitorAlert, match=rf"entry {outcome.index}: the signature .* does not"):
        monitor.poll(served_with(fetcher(client), forge))
    assert monitor.size == size
    monitor.acknowledge()
    assert monitor.poll(fetcher(client)).size == outcome.index + 1


def test_a_kind_the_signers_role_may_not_sign_is_an_alert(
    client, monitor, sqlite_ledger, monkeypatch
):
    from api import service_checks
    from ledger import trust

    workshop = onboard(sqlite_ledger, "quickfix", "workshop")
    for module in (service_checks, trust):
        monkeypatch.setattr(module, "check_role_may_submit", lambda role, kind: None)
    [outcome] = sqlite_ledger.submit_now([workshop.envelope(inspection())])
    with pytest.raises(MonitorAlert, match=rf"entry {outcome.index}: a workshop may not sign"):
        monitor.poll(fetcher(client))
    lenient = Monitor(monitor.state_dir.parent / "lenient", sqlite_ledger.vkey, signatures=False)
    assert lenient.poll(fetcher(client)).size == outcome.index + 1
    lenient.close()


def test_a_state_keeps_the_mode_it_was_read_in(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    lenient = Monitor(tmp_path / "lenient", sqlite_ledger.vkey, signatures=False)
    lenient.poll(fetcher(client))
    lenient.close()
    strict = Monitor(tmp_path / "strict", sqlite_ledger.vkey)  # a new state: signatures
    assert strict.signatures
    strict.poll(fetcher(client))
    strict.close()
    sqlite_ledger.submit_now(
        [onboard(sqlite_ledger, "northside", "inspector").envelope(inspection())]
    )
    with pytest.raises(InvalidInput, match="was read without signatures and keeps that mode"):
        Monitor(tmp_path / "lenient", sqlite_ledger.vkey, signatures=True)
    with pytest.raises(InvalidInput, match="was read with signatures and keeps that mode"):
        Monitor(tmp_path / "strict", sqlite_ledger.vkey, signatures=False)
    for name, mode in (("lenient", False), ("strict", True)):  # as verify --monitor opens it
        m = Monitor(tmp_path / name, sqlite_ledger.vkey)
        assert m.signatures is mode
        assert m.poll(fetcher(client)).new_entries == 3
        m.close()


def test_a_version_1_state_is_one_read_without_signatures(tmp_path, client, sqlite_ledger):
    seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, signatures=False)
    m.poll(fetcher(client))
    m.db.execute("PRAGMA user_version = 1")
    m.close()
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    assert not m.signatures
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    m.compare(report)
    assert report.ok, report.failures
    m.close()


def test_a_version_2_state_read_with_signatures_is_refused(tmp_path, client, sqlite_ledger):
    """It kept no facts for the reference checks of later entries."""
    seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    m.poll(fetcher(client))
    m.db.execute("PRAGMA user_version = 2")
    m.close()
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey)
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    m.compare(report)  # it can still back a verify of what it read
    assert report.ok, report.failures
    with pytest.raises(InvalidInput, match="kept no facts for reference checks"):
        m.poll(fetcher(client))
    m.close()


def test_a_dealers_log_read_across_polls_raises_no_alert(client, monitor, sqlite_ledger):
    """Sales with terms, claims and the ledger's decisions, corrections of entries read
    in an earlier poll: the reference checks hold across polls on a real log."""
    from tests.api.test_dealer_flow import return_request, sale, warranty

    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    [sold] = sqlite_ledger.submit_now([dealer.envelope(sale())])
    monitor.poll(fetcher(client))
    claims = [warranty(sold.index, day=10, km=48_900), return_request(sold.index, day=3, km=48_100)]
    for claim in claims:
        with filed_when_dated(sqlite_ledger, claim):
            outcomes = sqlite_ledger.submit_now([dealer.envelope(claim)])
        assert all(getattr(o, "created", False) for o in outcomes), outcomes
    monitor.poll(fetcher(client))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-06-20T10:00:00Z",
        "corrects": sold.index,
        "reason": "the buyer's commitment was another's",
        "fields": {"buyer_commitment": "ab" * 32},
    }
    [fixed] = sqlite_ledger.submit_now([dealer.envelope(fix)])
    assert getattr(fixed, "created", False), fixed
    assert monitor.poll(fetcher(client)).size == fixed.index + 1
    fresh = Monitor(monitor.state_dir.parent / "fresh", sqlite_ledger.vkey)
    assert fresh.poll(fetcher(client)).size == fixed.index + 1  # all of it in one poll
    fresh.close()


def _long_log(client, ledger) -> tuple[str, int]:
    """A log of three entry tiles, the last partial; answers the checkpoint of a size
    inside the first tile, taken before the rest was appended, and the final size."""
    shop, inspector = seed_two_vehicles(ledger, days=1)
    ledger.submit_now([inspector.envelope(inspection(vin=VIN2, km=9_000 + k)) for k in range(200)])
    early = client.get("/log/checkpoint").text
    ledger.submit_now([shop.envelope(maintenance(km=20_000 + k, day=7)) for k in range(400)])
    return early, int(client.get("/log/checkpoint").text.split("\n")[1])


def failing_at(real, tile: str):
    """The log as ``real`` serves it, until the entry tile ``tile`` (the network fails)."""

    def fetch(path: str) -> bytes:
        if path.startswith(f"/log/tile/entries/{tile}"):
            raise InvalidInput(f"{path}: connection reset")
        return real(path)

    return fetch


def test_an_interrupted_catch_up_goes_on_where_it_stopped(tmp_path, client, sqlite_ledger):
    _, size = _long_log(client, sqlite_ledger)
    assert 512 < size < 768
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    saved = []
    with pytest.raises(InvalidInput, match="connection reset"):
        m.poll(failing_at(fetcher(client), "002"), progress=lambda n, of: saved.append((n, of)))
    assert saved == [(256, size), (512, size)]
    assert (m.size, m.pending) == (0, 512)
    assert m.vin_chain(VIN) == m.vin_chain(VIN2) == []  # not the monitor's until proven
    paths = []

    def counting(path: str) -> bytes:
        paths.append(path)
        return fetcher(client)(path)

    poll = m.poll(counting)
    assert [p for p in paths if "/entries/" in p] == ["/log/tile/entries/002.p/" + str(size - 512)]
    assert (poll.size_before, poll.size, m.size, m.pending) == (0, size, size, None)
    whole = Monitor(tmp_path / "whole", sqlite_ledger.vkey)
    whole.poll(fetcher(client))
    for vin in (VIN, VIN2):
        assert m.vin_chain(vin) == whole.vin_chain(vin)
        assert [e.index for e in m.vin_chain(vin)] == stored_chain(sqlite_ledger, vin)
    for table in ("chains", "facts", "revocations", "checkpoints", "trust", "state"):
        query = f"SELECT * FROM {table} ORDER BY 1, 2"
        assert m.db.execute(query).fetchall() == whole.db.execute(query).fetchall(), table
    m.close()
    whole.close()


def test_a_catch_up_keeps_no_progress_from_a_log_that_misbehaves(tmp_path, client, sqlite_ledger):
    _, size = _long_log(client, sqlite_ledger)
    real = fetcher(client)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput):
        m.poll(failing_at(real, "002"))
    assert m.pending == 512
    lie = sqlite_ledger.signer.sign(Checkpoint(m.vkey.split("+")[0], size, b"\x07" * 32))
    with pytest.raises(MonitorAlert, match=f"entries 0–{size - 1} as served do not give"):
        m.poll(serving(real, lie))
    # Nothing read before the alert is kept either: the next poll reads from the start.
    assert (m.size, m.pending) == (0, None)
    for table in ("chains", "facts", "revocations", "leaf_tiles"):
        assert m.db.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
    m.acknowledge()
    assert m.poll(real).size_before == 0
    assert [e.index for e in m.vin_chain(VIN2)] == stored_chain(sqlite_ledger, VIN2)
    m.close()


def test_progress_past_an_older_checkpoint_is_read_again(tmp_path, client, sqlite_ledger):
    """A mirror that lags behind serves a checkpoint below the saved progress: the
    monitor reads up to that one from its own size, then on to the newest."""
    early, size = _long_log(client, sqlite_ledger)
    real = fetcher(client)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput):
        m.poll(failing_at(real, "002"))
    assert m.pending == 512
    below = int(early.split("\n")[1])
    assert below < 512
    assert (m.poll(serving(real, early)).size, m.pending) == (below, None)
    assert [e.index for e in m.vin_chain(VIN2)] == [
        i for i in stored_chain(sqlite_ledger, VIN2) if i < below
    ]
    assert m.poll(real).size == size
    assert [e.index for e in m.vin_chain(VIN)] == stored_chain(sqlite_ledger, VIN)
    m.close()


def test_a_revocation_not_yet_proven_does_not_judge_bundles(tmp_path, client, sqlite_ledger):
    shop, inspector = seed_two_vehicles(sqlite_ledger, days=1)
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    m.poll(fetcher(client))
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(vin=VIN2, km=9_000 + k)) for k in range(300)]
    )
    revoked = sqlite_ledger.revoke_key(shop.keyid, "laptop stolen").index
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(vin=VIN2, km=1_000 + k)) for k in range(300)]
    )
    with pytest.raises(InvalidInput):
        m.poll(failing_at(fetcher(client), "002"))
    assert m.pending == 512 > revoked
    assert m.db.execute("SELECT idx FROM revocations").fetchall() == [(revoked,)]
    # As if it had revoked the inspector's key, whose later entries the bundle of
    # VIN2 holds: unproven, it judges none of them.
    m.db.execute("UPDATE revocations SET key_id = ?", (inspector.keyid,))
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN2}/bundle").content, sqlite_ledger.vkey)
    assert max(e.index for e in report.entries) > revoked
    m.compare(report)
    assert not any("revoked" in f.detail for f in report.failures), report.failures
    m.close()


def test_a_log_served_from_an_older_backup_is_a_fork_located_where_it_starts(
    tmp_path, client, monitor, sqlite_ledger
):
    # An operator restored last night's database and served it (the ledger refuses to,
    # ledger/continuity.py, unless its mark is removed): the monitor says which trees
    # it saw the log still holds, so which published entries were changed.
    import sqlite3

    from litestar.testing import TestClient

    from api.app import create_app
    from api.service import Ledger
    from ledger.storage import Store

    shop, _ = seed_two_vehicles(sqlite_ledger, days=1)
    real = fetcher(client)
    nightly = monitor.poll(real).size
    url = sqlite_ledger.settings.database_url
    src, copy = sqlite3.connect(url[len("sqlite:///") :]), sqlite3.connect(tmp_path / "b.db")
    src.backup(copy)
    src.close()
    copy.close()
    for day, km in ((9, 61_000), (10, 62_000)):
        sqlite_ledger.submit_now([shop.envelope(maintenance(km=km, day=day))])
        seen = monitor.poll(real).size
    settings = sqlite_ledger.settings
    backup = f"sqlite:///{tmp_path / 'b.db'}"
    restored = Ledger(type(settings)(**{**vars(settings), "database_url": backup}), Store(backup))
    try:
        other = [shop.envelope(maintenance(km=km, day=11)) for km in (70_000, 71_000, 72_000)]
        restored.submit_now(other)
        with TestClient(create_app(restored)) as served, pytest.raises(MonitorAlert) as alert:
            monitor.poll(fetcher(served))
        said = str(alert.value)
        assert f"still proves the tree of size {nightly} " in said, said
        assert f"not that of size {nightly + 1}" in said
        assert f"entries {nightly}–{nightly}" in said and "older backup" in said
        assert monitor.size == seen  # nothing of that poll kept
    finally:
        restored.close()
