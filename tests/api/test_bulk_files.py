"""`vinledger submit` for a bulk load: the refused rows to fix and send again, the
row → entry mapping under -q, SIGTERM taken as Ctrl-C, a progress line, and what to do
with a file of many records under the wrong name."""

from __future__ import annotations

import json
import os
import signal

import pytest
from click.testing import CliRunner

from api import cli_bulk
from api.cli import main
from api.cli_submit import record_problem
from tests.conftest import VIN, inspection, vinledger


class FakeClient:
    """A ledger that appends everything (entry 40 on), or that SIGTERM stops."""

    sigterm = False

    def __init__(self, url, timeout=None):
        self.next = 40

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def _receipt(self) -> dict:
        if self.sigterm:
            os.kill(os.getpid(), signal.SIGTERM)
        self.next += 1
        return {"status": 201, "index": self.next - 1, "leaf_hash": f"h{self.next}", "size": 99}

    def submit_batch(self, envelopes):
        return [self._receipt() for _ in envelopes]

    def submit_envelope(self, env):
        return self._receipt() | {"checkpoint": "c\n"}


@pytest.fixture
def fake(monkeypatch, tmp_path):
    import api.client

    monkeypatch.setattr(api.client, "VinledgerClient", FakeClient)
    monkeypatch.setattr(FakeClient, "sigterm", False)
    key = tmp_path / "k.pem"
    vinledger("keygen", str(key))
    return key


def run(*args: str):
    return CliRunner().invoke(main, ["submit", *args, "--url", "http://x"])


def test_refused_rows_are_kept_verbatim_to_fix_and_submit_again(fake, tmp_path):
    good = json.dumps(inspection(km=1))
    bad_km = json.dumps(inspection(odometer_km=-5))
    rows = [good, bad_km, "{not json", json.dumps(inspection(km=2))]
    jsonl = tmp_path / "titles.jsonl"
    jsonl.write_text("\n".join(rows) + "\n")
    one = tmp_path / "one.json"
    one.write_text(json.dumps(inspection(vin="not a vin")))
    refused = tmp_path / "refused.jsonl"

    r = run(str(jsonl), str(one), "--key", str(fake), "--refused", str(refused), "-q")
    assert r.exit_code == 1
    assert refused.read_text().splitlines() == [bad_km, "{not json"]  # verbatim, in order
    reasons = (tmp_path / "refused.jsonl.reasons").read_text().splitlines()
    assert reasons[0].startswith(f"{refused}:1 (was {jsonl}:2): not sent: invalid record")
    assert reasons[1].startswith(f"{refused}:2 (was {jsonl}:3): not sent: payload is not valid")
    assert reasons[2].startswith(f"{one}: not sent: ")  # a file: fix the file itself
    assert f"refused rows in {refused}" in r.output

    refused.write_text(json.dumps(inspection(km=3)) + "\n")  # fixed: submit it as it is
    again = run(str(refused), "--key", str(fake), "--refused", str(refused))
    assert again.exit_code == 1 and "is one of the records given" in again.output
    fixed = tmp_path / "fixed.jsonl"
    refused.rename(fixed)
    r = run(str(fixed), "--key", str(fake), "--refused", str(refused))
    assert r.exit_code == 0 and "1 records: 1 appended" in r.output
    assert refused.read_text() == ""  # written afresh: nothing refused this time


def test_quiet_keeps_the_row_to_entry_mapping_in_the_receipts(fake, tmp_path):
    jsonl = tmp_path / "titles.jsonl"
    jsonl.write_text("".join(json.dumps(inspection(km=n + 1)) + "\n\n" for n in range(3)))
    receipts = tmp_path / "receipts.jsonl"
    r = run(str(jsonl), "--key", str(fake), "-q", "--receipts", str(receipts))
    assert r.exit_code == 0 and "appended: entry" not in r.output
    kept = [json.loads(line) for line in receipts.read_text().splitlines()]
    assert [(k["where"], k["index"]) for k in kept] == [
        (f"{jsonl}:1", 40),
        (f"{jsonl}:3", 41),
        (f"{jsonl}:5", 42),
    ]


def test_sigterm_stops_a_load_as_ctrl_c_does(fake, tmp_path, monkeypatch):
    """cron, systemd and CI stop a job with SIGTERM: the counts, what to do, exit 143."""
    monkeypatch.setattr(FakeClient, "sigterm", True)
    jsonl = tmp_path / "titles.jsonl"
    jsonl.write_text("".join(json.dumps(inspection(km=n + 1)) + "\n" for n in range(3)))
    before = signal.getsignal(signal.SIGTERM)
    r = run(str(jsonl), "--key", str(fake))
    assert r.exit_code == 143
    assert "0 records: 0 appended" in r.output and "Run the same command again" in r.output
    assert signal.getsignal(signal.SIGTERM) == before  # put back as it was
    one = tmp_path / "one.json"
    one.write_text(json.dumps(inspection(vin=VIN)))
    r = run(str(one), "--key", str(fake))
    assert r.exit_code == 143 and "interrupted before the ledger answered" in r.output


def test_progress_is_said_when_asked_and_not_into_a_log(fake, tmp_path, monkeypatch):
    monkeypatch.setattr(cli_bulk, "PROGRESS_SECONDS", 0.0)
    jsonl = tmp_path / "titles.jsonl"
    jsonl.write_text("".join(json.dumps(inspection(km=n + 1)) + "\n" for n in range(5)))
    shown = run(str(jsonl), "--key", str(fake), "-q", "--progress", "--batch-size", "2")
    lines = [line for line in shown.output.splitlines() if "records done" in line]
    assert len(lines) == 3  # a batch of 2, 2, then 1
    assert lines[0].startswith("2 of 5 records done (40%)")
    assert lines[-1].endswith("5 appended, 0 already in the log, 0 refused")
    quiet_log = run(str(jsonl), "--key", str(fake), "-q")  # stderr is no terminal here
    assert "records done" not in quiet_log.output


def test_progress_says_how_far_and_how_fast(capsys):
    now = [100.0]
    progress = cli_bulk.Progress(1000, clock=lambda: now[0])
    tally = cli_bulk.Tally(appended=200, again=50)
    progress.tick(tally)
    assert capsys.readouterr().err == ""  # not before PROGRESS_SECONDS
    now[0] += 5
    progress.tick(tally)
    assert capsys.readouterr().err == (
        "250 of 1,000 records done (25%), 50 a second, about 15 s left: 200 appended, "
        "50 already in the log, 0 refused\n"
    )


def test_many_records_in_one_file_say_how_to_submit_them():
    rows = [json.dumps(inspection(km=n + 1)) for n in range(2)]
    array = record_problem(("[" + ",".join(rows) + "]").encode(), None)
    assert "a JSON array" in array and ".jsonl" in array
    lines = record_problem(("\n".join(rows) + "\n").encode(), None)
    assert "looks like JSON Lines" in lines and "rename the file to end in .jsonl" in lines
    assert "JSON Lines" not in record_problem(b'{"kind": "inspection"', None)
