"""The CLI as operators, partners and buyers use it: child processes and a real server."""

from __future__ import annotations

import base64
import json
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from core.keys import key_id, load_private_key
from tests.conftest import VIN, inspection, maintenance, vinledger


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def log_size(url: str) -> int:
    return int(httpx.get(url + "/log/checkpoint").text.splitlines()[1])


def test_init_writes_secrets_only_the_owner_can_read(tmp_path):
    out = vinledger("init", "--origin", "ledger.example/log", data=tmp_path / "d").stdout
    vkey = out.strip().splitlines()[-1]
    assert vkey.startswith("ledger.example/log+")
    for name in ("log.key", "operator.key", "admin.token"):
        assert mode(tmp_path / "d" / name) == 0o600, name
    again = vinledger("init", data=tmp_path / "d", check=False)
    assert again.returncode != 0 and "error:" in again.stderr
    assert "Traceback" not in again.stderr


def test_partner_submits_and_buyer_verifies(server, tmp_path):
    url, vkey, data = server
    key = tmp_path / "acme.key"
    out = vinledger("keygen", str(key)).stdout
    assert mode(key) == 0o600
    keyid = key_id(load_private_key(key.read_bytes()).public_key())
    assert keyid in out
    out = vinledger(
        "actors",
        "add",
        "Acme Inspections",
        "--role",
        "inspector",
        "--public-key",
        f"{key}.pub",
        data=data,
    ).stdout
    assert f"Actor acme-inspections (inspector) key {keyid}" in out

    record = tmp_path / "inspection.json"
    record.write_text(json.dumps(inspection()))
    out = vinledger("submit", str(record), "--key", str(key), "--url", url).stdout
    assert out.startswith("appended: entry ")
    index = int(out.split()[2].rstrip(","))
    again = vinledger("submit", str(record), "--key", str(key), "--url", url).stdout
    assert again.startswith(f"already in the log: entry {index},")

    # A record with a mistake is refused before anything is signed or sent.
    size = log_size(url)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(inspection(odometer_km=-5)))
    r = vinledger("submit", str(bad), "--key", str(key), "--url", url, check=False)
    assert r.returncode == 1 and "odometer_km" in r.stderr
    assert log_size(url) == size

    # A report in a provider's own format goes in signed as it is, with its type.
    report = Path(__file__).parents[1] / "plugins" / "data" / "checklist-report.json"
    r = vinledger("submit", str(report), "--key", str(key), "--url", url, check=False)
    assert r.returncode == 1 and "--payload-type" in r.stderr
    checklist = "application/vnd.checklist.inspection-report+json"
    args = ("--key", str(key), "--url", url, "--payload-type", checklist)
    assert vinledger("submit", str(report), *args).stdout.startswith("appended: entry ")
    assert log_size(url) == size + 1

    bundle_url = f"{url}/vehicles/{VIN}/bundle"
    r = vinledger("verify", bundle_url, "--vkey", vkey, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "VERIFIED:" in r.stdout and f"entry {index:>6}" in r.stdout
    assert "recomputed from the entries" in r.stdout  # the served view matches

    # A bundle whose entry was changed by one byte fails and names the entry.
    bundle = httpx.get(bundle_url).json()
    item = next(e for e in bundle["entries"] if e["index"] == index)
    raw = bytearray(base64.b64decode(item["entry"]))
    raw[len(raw) // 2] ^= 0x01
    item["entry"] = base64.b64encode(bytes(raw)).decode()
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(bundle))
    r = vinledger("verify", str(forged), "--vkey", vkey, check=False)
    assert r.returncode == 1
    assert f"entry {index}" in r.stdout and "NOT VERIFIED" in r.stdout

    # A wrong verifier key fails too: the buyer pins the key, not the server.
    other = vinledger("init", data=tmp_path / "other").stdout.strip().splitlines()[-1]
    r = vinledger("verify", bundle_url, "--vkey", other, check=False)
    assert r.returncode == 1 and "checkpoint" in r.stdout

    # After a revocation the key signs nothing more, through any server.
    out = vinledger("keys", "revoke", keyid, "--reason", "laptop stolen", data=data).stdout
    assert f"Key {keyid} revoked at entry" in out
    later = tmp_path / "later.json"
    later.write_text(json.dumps(inspection(day=9, km=50_000)))
    size = log_size(url)
    r = vinledger("submit", str(later), "--key", str(key), "--url", url, check=False)
    assert r.returncode == 1 and "revoked" in r.stderr
    assert log_size(url) == size

    out = vinledger("audit", data=data).stdout
    assert out.startswith("audit OK:")


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_keys_written_by_openssl_work(server, tmp_path):
    url, _, data = server
    key, pub = tmp_path / "shop.pem", tmp_path / "shop.pub.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True)
    vinledger("actors", "add", "Quick Lane", "--role", "workshop", "--public-key", pub, data=data)
    record = tmp_path / "service.json"
    record.write_text(json.dumps(maintenance()))
    out = vinledger("submit", str(record), "--key", str(key), "--url", url).stdout
    assert out.startswith("appended: entry ")


def test_a_monitor_follows_the_served_log_and_backs_the_buyer(server, tmp_path):
    url, vkey, data = server
    key = tmp_path / "acme.key"
    vinledger("keygen", str(key))
    vinledger(
        "actors", "add", "Acme", "--role", "inspector", "--public-key", f"{key}.pub", data=data
    )
    for day, km in ((1, 40_000), (2, 41_000)):
        record = tmp_path / f"r{day}.json"
        record.write_text(json.dumps(inspection(day=day, km=km)))
        vinledger("submit", str(record), "--key", str(key), "--url", url)
    state = tmp_path / "monitor"
    out = vinledger("monitor", url, "--vkey", vkey, "--state", str(state), "--once").stdout
    size = log_size(url)
    assert out.startswith(f"checkpoint {size}: {size} new entries (1 vehicle), first poll")

    # One more inspection after the monitor's poll: verify brings the monitor up first.
    record = tmp_path / "r3.json"
    record.write_text(json.dumps(inspection(day=3, km=42_000)))
    vinledger("submit", str(record), "--key", str(key), "--url", url)
    bundle_url = f"{url}/vehicles/{VIN}/bundle"
    r = vinledger("verify", bundle_url, "--vkey", vkey, "--monitor", str(state), check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all 3 entries of" in r.stdout

    # The newest inspection left out: the bundle still verifies alone, not with the monitor.
    bundle = httpx.get(bundle_url).json()
    dropped = bundle["entries"].pop()
    short = tmp_path / "short.json"
    short.write_text(json.dumps(bundle))
    assert vinledger("verify", str(short), "--vkey", vkey).returncode == 0
    r = vinledger("verify", str(short), "--vkey", vkey, "--monitor", str(state), check=False)
    assert r.returncode == 1 and f"leaves out entries {dropped['index']}" in r.stdout

    # A monitor pointed at a log that is not the one its key names raises an alert.
    other = vinledger("init", data=tmp_path / "other").stdout.strip().splitlines()[-1]
    r = vinledger(
        "monitor", url, "--vkey", other, "--state", str(tmp_path / "m2"), "--once", check=False
    )
    assert r.returncode == 1 and "ALERT" in r.stderr and "Traceback" not in r.stderr
    r = vinledger(
        "verify", bundle_url, "--vkey", vkey, "--monitor", str(tmp_path / "none"), check=False
    )
    assert r.returncode == 1 and "no monitor state" in r.stderr


def test_audit_names_a_changed_entry(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    vinledger("keygen", str(tmp_path / "k"))
    vinledger(
        "actors",
        "add",
        "Acme",
        "--role",
        "inspector",
        "--public-key",
        str(tmp_path / "k.pub"),
        data=data,
    )
    assert vinledger("audit", data=data).returncode == 0
    with sqlite3.connect(data / "ledger.db") as db:
        (blob,) = db.execute("select data from entries where idx = 2").fetchone()
        blob = bytearray(blob)
        blob[len(blob) // 2] ^= 0x01
        db.execute("update entries set data = ? where idx = 2", (bytes(blob),))
    for jobs in ("1", "2"):
        r = vinledger("audit", "--jobs", jobs, data=data, check=False)
        assert r.returncode == 1
        assert "audit FAILED" in r.stderr and "entry 2" in r.stderr
    r = vinledger("audit", "--jobs", "0", data=data, check=False)
    assert r.returncode == 2 and "--jobs" in r.stderr


def test_demo_seeds_a_ledger_that_verifies(tmp_path):
    data = tmp_path / "demo"
    out = vinledger("demo", "--no-serve", data=data).stdout
    assert "/vehicles/" in out
    assert "Vehicles worth a look:" in out and "/vehicles/JTD86SDYXKJ003448" in out  # flood
    vkey = out.splitlines()[1].strip()
    vin = out.split("/vehicles/", 1)[1].split()[0]
    assert vinledger("audit", data=data).stdout.startswith("audit OK:")
    # A second run reuses the ledger rather than seeding it twice.
    again = vinledger("demo", "--no-serve", data=data).stdout
    assert "Using the existing ledger" in again and vkey in again
    from api.config import load_settings
    from api.service import Ledger
    from ledger.bundle import build_bundle
    from ledger.verify import verify_bundle

    ledger = Ledger(load_settings(data))
    try:
        history = ledger.history(vin)
        assert any(a["type"] == "odometer_rollback" for a in history["view"]["alerts"])
        assert verify_bundle(build_bundle(ledger.store, vin), vkey).ok
        brands = [
            b
            for v in {e["vin"] for e in _vehicle_entries(ledger)}
            for b in ledger.history(v)["view"]["brands"]
        ]
        assert any(b["brand"] == "flood" for b in brands)
    finally:
        ledger.close()


def _vehicle_entries(ledger) -> list[dict]:
    from ledger.schema import EntryRow

    with ledger.store.reader() as s:
        return [{"vin": v} for (v,) in s.query(EntryRow.vin).filter(EntryRow.vin.is_not(None))]


def test_plugins_lists_what_is_loaded_and_what_is_disabled(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    out = vinledger("plugins", data=data).stdout
    assert "plugins.builtin.policies" in out and "policy return-7d" in out
    config = json.loads((data / "config.json").read_text())
    config["disabled_plugins"] = ["plugins.builtin.policies"]
    (data / "config.json").write_text(json.dumps(config))
    out = vinledger("plugins", data=data).stdout
    assert "policy return-7d" not in out
    assert "plugins.builtin.policies (disabled in config.json)" in out


@pytest.mark.parametrize(
    "typed",
    [
        "http://h/vehicles/lfvza6117l3572578",
        "http://h/vehicles/LFVZA6117L3572578/history",
        "http://h/vehicles/lfvza%206117l3572578/bundle/",
        "http://h/vehicles/LFVZA6117L3572578?lang=zh",
        "http://h/vehicles/lfvza6117l3572578/history?as_of=2026-06-01#top",
    ],
)
def test_verify_reads_the_bundle_of_a_vin_as_people_type_it(typed):
    from api.cli_read import _vehicle_url

    assert _vehicle_url(typed)[0] + "/bundle" == "http://h/vehicles/LFVZA6117L3572578/bundle"


def test_plugins_without_a_ledger_says_what_it_lists(tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    result = CliRunner().invoke(main, ["plugins", "--data", str(tmp_path / "nowhere")])
    assert result.exit_code == 0
    assert "no ledger in" in result.output and "plugins.builtin.policies" in result.output


def test_a_monitor_that_reads_nothing_leaves_no_state_behind(tmp_path):
    from click.testing import CliRunner

    from api.cli import main
    from core.keys import generate_private_key
    from core.note import verifier_key_text

    vkey = verifier_key_text("nowhere.example/log", generate_private_key().public_key())
    state = tmp_path / "mon"
    result = CliRunner().invoke(
        main, ["monitor", "http://127.0.0.1:9", "--vkey", vkey, "--state", str(state), "--once"]
    )
    assert result.exit_code == 4 and "could not read" in result.output
    assert not state.exists()


def test_tokens_issue_and_revoke(tmp_path):
    from click.testing import CliRunner

    from api.cli import main
    from api.config import load_settings
    from api.service import Ledger
    from tests.conftest import onboard

    data = str(tmp_path / "d")
    assert CliRunner().invoke(main, ["init", "--data", data]).exit_code == 0
    ledger = Ledger(load_settings(tmp_path / "d"))
    onboard(ledger, "bay-auto", "dealer")
    ledger.close()
    issued = CliRunner().invoke(main, ["tokens", "issue", "bay-auto", "--data", data])
    assert issued.exit_code == 0 and len(issued.output.strip()) >= 40
    revoked = CliRunner().invoke(main, ["tokens", "revoke", "bay-auto", "--data", data])
    assert revoked.exit_code == 0 and "revoked 1 token of bay-auto" in revoked.output
    unknown = CliRunner().invoke(main, ["tokens", "revoke", "nobody", "--data", data])
    assert unknown.exit_code != 0 and "does not exist" in unknown.output
