"""`vinledger monitor --watch-vin/--watch-actor`: a new sale, claim, title brand or
lower odometer reading of a watched VIN, and each entry a watched actor signs, stand
out (WATCHED, exit 3 with --once), as an independent monitor's trial asked.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main
from api.cli_monitor import USAGE_EXIT, WATCHED_EXIT
from core.errors import InvalidInput
from ledger.monitor import Monitor, Watch
from ledger.sequencer import Appended
from tests.api.test_monitor import _long_log, failing_at, fetcher
from tests.api.test_monitor_trust import _Served
from tests.conftest import VIN, VIN2, maintenance, onboard, vinledger

VIN3 = "WVWZZZ1JZXW000001"


def signed(ledger, partner, *records: dict) -> list[int]:
    outcomes = ledger.submit_now([partner.envelope(r) for r in records])
    assert all(isinstance(o, Appended) for o in outcomes), outcomes
    return [o.index for o in outcomes]


def odometer(km: int, vin: str = VIN, day: int = 2) -> dict:
    return {
        "kind": "odometer",
        "vin": vin,
        "occurred_at": f"2026-07-{day:02d}T08:00:00Z",
        "odometer_km": km,
        "source": "workshop",
    }


def sale(dealer: str, km: int, vin: str = VIN) -> dict:
    return {
        "kind": "sale",
        "vin": vin,
        "occurred_at": "2026-06-01T10:00:00Z",
        "odometer_km": km,
        "dealer": dealer,
    }


def title_brand(brand: str, vin: str = VIN) -> dict:
    return {
        "kind": "title_brand",
        "vin": vin,
        "occurred_at": "2026-07-03T00:00:00Z",
        "brand": brand,
        "jurisdiction": "US-TX",
    }


def claim(vin: str = VIN) -> dict:
    return {
        "kind": "insurance_claim",
        "vin": vin,
        "occurred_at": "2026-07-04T00:00:00Z",
        "claim_ref": "C-1",
        "cause": "hail",
        "severity": "severe",
    }


def lines(result) -> list[str]:
    return result.output.splitlines()


def watched(result) -> list[str]:
    return [line for line in lines(result) if line.startswith("WATCHED")]


@pytest.fixture
def run_monitor(tmp_path, client, sqlite_ledger, monkeypatch):
    """`vinledger monitor --once` over the app, into ``tmp_path/state``."""
    monkeypatch.setattr("api.client.VinledgerClient", lambda url: _Served(client))

    def run(*args: str):
        argv = ["monitor", "http://ledger.test", "--vkey", sqlite_ledger.vkey]
        return CliRunner().invoke(
            main, [*argv, "--state", str(tmp_path / "state"), "--once", *args]
        )

    return run


@pytest.fixture
def partners(sqlite_ledger):
    return {
        "shop": onboard(sqlite_ledger, "quicklane", "workshop"),
        "dealer": onboard(sqlite_ledger, "bay-auto", "dealer"),
        "dmv": onboard(sqlite_ledger, "dmv", "registry"),
        "insurer": onboard(sqlite_ledger, "allianz", "insurer"),
    }


def test_a_watched_vins_sale_rollback_brand_and_claim_stand_out(
    run_monitor, sqlite_ledger, partners
):
    [first] = signed(sqlite_ledger, partners["shop"], maintenance(km=40_000))
    caught_up = run_monitor("--watch-vin", VIN.lower()[:9] + "-" + VIN.lower()[9:])
    assert caught_up.exit_code == WATCHED_EXIT, caught_up.output
    assert [line.split(" up to")[0] for line in watched(caught_up)] == [
        f"WATCHED VIN {VIN}: 1 entry (1 maintenance)"
    ]

    [sold] = signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 48_000))
    [rolled] = signed(sqlite_ledger, partners["shop"], odometer(30_000))
    [branded] = signed(sqlite_ledger, partners["dmv"], title_brand("salvage"))
    [claimed] = signed(sqlite_ledger, partners["insurer"], claim())
    signed(sqlite_ledger, partners["shop"], odometer(99_000, vin=VIN2))  # not watched
    r = run_monitor("--watch-vin", VIN)
    assert r.exit_code == WATCHED_EXIT, r.output
    assert watched(r) == [
        f"WATCHED entry {sold}: sale of {VIN} signed by bay-auto, occurred "
        "2026-06-01T10:00:00Z; 48,000 km; dealer bay-auto",
        f"WATCHED entry {rolled}: odometer of {VIN} signed by quicklane, occurred "
        f"2026-07-02T08:00:00Z; 30,000 km, LOWER than entry {sold}'s 48,000 km",
        f"WATCHED entry {branded}: title_brand of {VIN} signed by dmv, occurred "
        "2026-07-03T00:00:00Z; brand salvage",
        f"WATCHED entry {claimed}: insurance_claim of {VIN} signed by allianz, occurred "
        "2026-07-04T00:00:00Z; cause hail; severity severe",
    ]
    assert first < sold and VIN2 not in r.output

    [higher] = signed(sqlite_ledger, partners["shop"], odometer(47_000, day=5))
    as_json = run_monitor("--watch-vin", VIN, "--json")
    assert as_json.exit_code == WATCHED_EXIT, as_json.output
    [event] = [e for e in map(json.loads, lines(as_json)) if e["event"] == "watched"]
    assert event["index"] == higher and event["kind"] == "odometer"
    assert (event["vin"], event["signer"], event["occurred_at"]) == (
        VIN,
        "quicklane",
        "2026-07-05T08:00:00Z",
    )
    assert event["odometer_km"] == 47_000 and event["lower"] is True
    assert event["lower_than"] == {"entry": sold, "odometer_km": 48_000}

    quiet = run_monitor("--watch-vin", VIN)  # each entry is reported once
    assert quiet.exit_code == 0 and not watched(quiet), quiet.output


def test_an_unwatched_vins_entries_say_nothing(run_monitor, sqlite_ledger, partners):
    assert run_monitor("--watch-vin", VIN).exit_code == 0
    signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 48_000, vin=VIN2))
    signed(sqlite_ledger, partners["dmv"], title_brand("flood", vin=VIN2))
    r = run_monitor("--watch-vin", VIN)
    assert r.exit_code == 0, r.output
    assert "WATCHED" not in r.output and "2 new entries (1 vehicle)" in r.output


def test_a_watched_actors_entries_stand_out_on_any_vehicle(run_monitor, sqlite_ledger, partners):
    assert run_monitor("--watch-actor", "bay-auto").exit_code == 0
    [a] = signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 12_000, vin=VIN2))
    signed(sqlite_ledger, partners["shop"], odometer(13_000, vin=VIN2))
    [b] = signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 5_000, vin=VIN3))
    r = run_monitor("--watch-actor", "bay-auto", "--json")
    assert r.exit_code == WATCHED_EXIT, r.output
    events = [e for e in map(json.loads, lines(r)) if e["event"] == "watched"]
    assert [(e["index"], e["vin"], e["dealer"]) for e in events] == [
        (a, VIN2, "bay-auto"),
        (b, VIN3, "bay-auto"),
    ]
    assert all(e["lower_than"] is None for e in events)  # readings: a watched VIN's


def test_the_first_catch_up_counts_rather_than_lists(run_monitor, sqlite_ledger, partners):
    signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 48_000))
    [rolled] = signed(sqlite_ledger, partners["shop"], odometer(30_000))
    signed(sqlite_ledger, partners["dmv"], title_brand("salvage"))
    r = run_monitor("--watch-vin", VIN, "--watch-vin", VIN2, "--watch-actor", "bay-auto")
    assert r.exit_code == WATCHED_EXIT, r.output
    heads = ("WATCHED VIN ", "  VIN ", "WATCHED actor ", "  actor ")
    mine, other, dealer = [line for line in lines(r) if line.startswith(heads)]
    assert mine.startswith(f"WATCHED VIN {VIN}: 3 entries (1 odometer, 1 sale, 1 title_brand)")
    assert f"odometer LOWER than before at entry {rolled} (30,000 km" in mine
    assert "title brands salvage" in mine and "--json lists each" in mine
    assert other.startswith(f"  VIN {VIN2}: 0 entries up to entry ")
    assert dealer.startswith("WATCHED actor bay-auto: 1 entry (1 sale) on 1 vehicle")
    assert not [line for line in lines(r) if line.startswith("WATCHED entry")]


@pytest.mark.parametrize(
    "value",
    ["1HGCM82633A00435", "1HGCM82633A004353", "not a vin"],
    ids=["short", "check-digit", "words"],
)
def test_a_watched_vin_that_is_no_vin_is_refused(run_monitor, value, tmp_path):
    r = run_monitor("--watch-vin", value)
    assert r.exit_code == USAGE_EXIT, r.output
    assert f"--watch-vin {value}: " in r.output and "VIN" in r.output
    assert not (tmp_path / "state").exists()


def test_watched_vins_from_a_file(run_monitor, sqlite_ledger, partners, tmp_path):
    listed = tmp_path / "vins.txt"
    listed.write_text(f"# our fleet\n{VIN}\n\n  {VIN2.lower()}\n")
    assert run_monitor("--watch-vin", f"@{listed}").exit_code == 0
    signed(sqlite_ledger, partners["dmv"], title_brand("flood", vin=VIN2))
    r = run_monitor("--watch-vin", f"@{listed}")
    assert r.exit_code == WATCHED_EXIT and f"title_brand of {VIN2}" in r.output, r.output

    listed.write_text(f"{VIN}\n1HGCM82633A00435\n")
    bad = run_monitor("--watch-vin", f"@{listed}")
    assert bad.exit_code == USAGE_EXIT and f"@{listed}, line 2: " in bad.output, bad.output
    missing = run_monitor("--watch-vin", f"@{tmp_path / 'none.txt'}")
    assert missing.exit_code == USAGE_EXIT and "cannot read it" in missing.output


def test_what_another_poll_reads_is_reported_by_the_next_watch(
    run_monitor, sqlite_ledger, partners, tmp_path, client
):
    """`verify --monitor` polls the state too: a watched entry it read is kept for the
    monitor to report, not swallowed."""
    assert run_monitor("--watch-vin", VIN).exit_code == 0
    [branded] = signed(sqlite_ledger, partners["dmv"], title_brand("salvage"))
    m = Monitor(tmp_path / "state", sqlite_ledger.vkey)
    assert m.poll(fetcher(client)).watched == []  # no watch given: reports nothing
    m.close()
    r = run_monitor("--watch-vin", VIN)
    assert r.exit_code == WATCHED_EXIT, r.output
    assert f"WATCHED entry {branded}: title_brand of {VIN}" in r.output


def test_a_state_without_the_watch_tables_gains_them_and_reads_earlier_readings(
    run_monitor, sqlite_ledger, partners, tmp_path
):
    """A state an earlier release kept (no watch tables): a VIN watched on it is
    compared with the readings read before, read again from the log."""
    [sold] = signed(sqlite_ledger, partners["dealer"], sale("bay-auto", 48_000))
    assert run_monitor().exit_code == 0
    m = Monitor(tmp_path / "state", sqlite_ledger.vkey)
    for table in ("watching", "readings", "watched", "watch_reported"):
        m.db.execute(f"DROP TABLE {table}")
    m.close()
    [rolled] = signed(sqlite_ledger, partners["shop"], odometer(30_000))
    r = run_monitor("--watch-vin", VIN)
    assert r.exit_code == WATCHED_EXIT, r.output
    assert f"WATCHED entry {rolled}: odometer of {VIN}" in r.output
    assert f"30,000 km, LOWER than entry {sold}'s 48,000 km" in r.output


def test_unwatch_forgets_the_watch(run_monitor, sqlite_ledger, partners, tmp_path):
    assert run_monitor("--watch-vin", VIN).exit_code == 0
    assert run_monitor("--unwatch").exit_code == 0
    m = Monitor(tmp_path / "state", sqlite_ledger.vkey)
    assert not m.watching
    m.close()
    assert run_monitor("--unwatch", "--watch-vin", VIN).exit_code == USAGE_EXIT


def test_a_served_logs_rollback_of_a_watched_vin_through_the_cli(server, tmp_path):
    """End to end: `vinledger serve`, a partner submitting, `vinledger monitor` as a
    user runs it (a child process)."""
    url, vkey, data = server
    key = tmp_path / "shop.key"
    vinledger("keygen", str(key))
    vinledger(
        "actors", "add", "Quicklane", "--role", "workshop", "--public-key", f"{key}.pub", data=data
    )

    def submit(km: int, day: int) -> None:
        record = tmp_path / f"r{day}.json"
        record.write_text(json.dumps(odometer(km, day=day)))
        vinledger("submit", str(record), "--key", str(key), "--url", url)

    def watch(*extra: str):
        argv = ["monitor", url, "--vkey", vkey, "--state", str(tmp_path / "m"), "--once"]
        return vinledger(*argv, "--watch-vin", VIN, *extra, check=False)

    submit(52_000, 1)
    first = watch()
    assert first.returncode == WATCHED_EXIT, first.stdout + first.stderr
    assert f"WATCHED VIN {VIN}: 1 entry (1 odometer) up to entry " in first.stdout
    submit(12_000, 2)
    r = watch("--json")
    assert r.returncode == WATCHED_EXIT, r.stdout + r.stderr
    [event] = [e for e in map(json.loads, r.stdout.splitlines()) if e["event"] == "watched"]
    assert (event["odometer_km"], event["lower_than"]["odometer_km"]) == (12_000, 52_000)
    assert event["signer"] == "quicklane" and "Traceback" not in r.stderr


def test_an_interrupted_catch_up_reports_its_watched_entries_once_proven(
    tmp_path, client, sqlite_ledger
):
    """Entries kept as pending progress are reported once the poll that goes on from
    them proves them; progress read under another watch is read again."""
    _long_log(client, sqlite_ledger)  # VIN: 1 + 400 maintenance entries, km rising
    watch = Watch(frozenset({VIN}))
    m = Monitor(tmp_path / "m", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput, match="connection reset"):
        m.poll(failing_at(fetcher(client), "002"), watch=watch)
    assert m.pending == 512
    poll = m.poll(fetcher(client), watch=watch)
    assert poll.resumed_at == 512 and len(poll.watched) == 401
    assert [w.lower_than for w in poll.watched if w.lower_than] == []
    assert m.poll(fetcher(client), watch=watch).watched == []

    other = Monitor(tmp_path / "other", sqlite_ledger.vkey, save_every=1)
    with pytest.raises(InvalidInput, match="connection reset"):
        other.poll(failing_at(fetcher(client), "002"), watch=Watch(frozenset({VIN2})))
    again = other.poll(fetcher(client), watch=watch)  # another watch: read again
    assert again.resumed_at is None and len(again.watched) == 401
    m.close()
    other.close()


@pytest.mark.parametrize("watched_first", [True, False], ids=["watched", "watched-later"])
def test_a_corrected_reading_is_compared_as_corrected(
    run_monitor, sqlite_ledger, partners, watched_first
):
    """A typo of 480,000 km, corrected to 48,000: a later 49,000 is no rollback, and a
    later 47,000 is one, against the corrected reading; whether the VIN was watched when
    the monitor read them, or only later (its readings read again from the log)."""
    shop = partners["shop"]
    if not watched_first:
        run_monitor()  # the state reads the log before the VIN is watched
    [typo] = signed(sqlite_ledger, shop, odometer(480_000))
    fix = {"kind": "correction", "vin": VIN, "occurred_at": "2026-07-02T09:00:00Z",
           "corrects": typo, "fields": {"odometer_km": 48_000}, "reason": "typo"}  # fmt: skip
    signed(sqlite_ledger, shop, fix)
    run_monitor("--watch-vin", VIN) if watched_first else run_monitor()
    signed(sqlite_ledger, shop, odometer(49_000, day=6))
    r = run_monitor("--watch-vin", VIN)
    assert "LOWER" not in r.output, r.output
    signed(sqlite_ledger, shop, odometer(47_000, day=7))
    r = run_monitor("--watch-vin", VIN)
    assert "LOWER than entry" in r.output and "49,000 km" in r.output, r.output
