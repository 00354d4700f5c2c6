"""`vinledger submit` with many records: files and JSON Lines, in batches, safe to run
again after any failure."""

from __future__ import annotations

import json

import httpx
import pytest

from api import cli_bulk
from api.cli_bulk import Item, Tally
from api.client import ClientError, NoAnswer, retry_after
from tests.conftest import VIN, VIN2, inspection, maintenance, vinledger


def log_size(url: str) -> int:
    return int(httpx.get(url + "/log/checkpoint").text.splitlines()[1])


@pytest.fixture
def inspector(server, tmp_path):
    url, _, data = server
    key = tmp_path / "acme.key"
    vinledger("keygen", str(key))
    vinledger(
        "actors", "add", "Acme", "--role", "inspector", "--public-key", f"{key}.pub", data=data
    )
    return url, key


def test_many_records_go_in_once_and_again_change_nothing(inspector, tmp_path):
    url, key = inspector
    lines = [json.dumps(inspection(km=10_000 + n, day=1 + n % 28)) for n in range(7)]
    lines[3:3] = ["", json.dumps(inspection(odometer_km=-5)), '{"kind": "inspection"']
    jsonl = tmp_path / "archive.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    single = tmp_path / "one.json"
    single.write_text(json.dumps(inspection(vin=VIN2)))
    signed = tmp_path / "signed.json"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(inspection(vin=VIN2, km=1)))
    vinledger("sign", str(other), "--key", str(key), "--out", str(signed))
    wrong_role = tmp_path / "service.json"
    wrong_role.write_text(json.dumps(maintenance()))
    before = log_size(url)
    args = (str(jsonl), str(single), str(signed), str(wrong_role), "--key", str(key))
    r = vinledger("submit", *args, "--url", url, "--batch-size", "3", check=False)

    assert r.returncode == 1, r.stderr
    assert log_size(url) == before + 9  # 7 lines, one file, one envelope
    said = r.stdout.splitlines()
    assert f"{jsonl}:1: appended: entry {before}" in said
    assert sum(": appended: entry " in line for line in said) == 9
    assert f"{jsonl}:5: not sent: invalid record" in r.stderr  # the line of the bad record
    assert f"{jsonl}:6: not sent: payload is not valid JSON" in r.stderr
    assert f"{wrong_role}: refused (403" in r.stderr
    assert "12 records: 9 appended, 0 already in the log, 3 refused or not sent" in r.stderr

    again = vinledger("submit", *args, "--url", url, "-q", check=False)
    assert again.returncode == 1
    assert log_size(url) == before + 9
    assert "12 records: 0 appended, 9 already in the log, 3 refused" in again.stderr
    assert "already in the log: entry" not in again.stdout  # --quiet


def test_a_clean_load_exits_0(inspector, tmp_path):
    url, key = inspector
    jsonl = tmp_path / "ok.jsonl"
    jsonl.write_text("".join(json.dumps(inspection(km=n + 1)) + "\n" for n in range(3)))
    r = vinledger("submit", str(jsonl), "--key", str(key), "--url", url)
    assert "3 records: 3 appended" in r.stdout


class FakeLedger:
    """A client whose batches fail as ``failures`` says before they go in."""

    def __init__(self, failures: list[ClientError]):
        self.failures = list(failures)
        self.sent: list[list[bytes]] = []

    def submit_batch(self, envelopes):
        self.sent.append(list(envelopes))
        if self.failures:
            raise self.failures.pop(0)
        return [
            {"status": 201, "index": 40 + n, "size": 40 + len(envelopes)}
            for n in range(len(envelopes))
        ]


def items(n: int) -> list[Item]:
    return [Item(f"f.jsonl:{i + 1}", envelope=b"{}" * (i + 1)) for i in range(n)]


def test_a_lost_answer_or_a_busy_server_sends_the_same_batch_again():
    waits: list[float] = []
    lost = NoAnswer({"title": "No answer", "detail": "timed out"}, sent=True)
    busy = ClientError(503, {"title": "Busy", "detail": "try later"}, retry_after=5.0)
    ledger = FakeLedger([lost, busy])
    tally = Tally()
    batch = items(3)
    cli_bulk.send(ledger, batch, tally, quiet=True, pause=waits.append)
    assert ledger.sent == [[i.envelope for i in batch]] * 3  # the same envelopes each time
    assert waits == [1, 5.0]  # backing off, then as the server asked
    assert (tally.appended, tally.refused, tally.last_size) == (3, [], 43)


def test_a_batch_refused_whole_stops_the_run_naming_every_record():
    """No ledger at the URL, a proxy's 403: every batch would meet the same answer."""
    ledger = FakeLedger([ClientError(404, {"title": "Not a vinledger ledger", "detail": "x"})])
    tally = Tally()
    with pytest.raises(cli_bulk.Stop, match="refused the whole batch"):
        cli_bulk.send(ledger, items(2), tally, quiet=True, pause=lambda s: None)
    assert len(ledger.sent) == 1
    assert tally.refused == [
        "f.jsonl:1: not logged: 404 Not a vinledger ledger: x",
        "f.jsonl:2: not logged: 404 Not a vinledger ledger: x",
    ]


def test_a_batch_too_large_on_the_way_is_sent_in_halves():
    too_large = ClientError(413, {"title": "Too large", "detail": "a proxy's limit"})
    ledger = FakeLedger([too_large, too_large])  # the batch of 4, then its first half
    tally = Tally()
    batch = items(4)
    cli_bulk.send(ledger, batch, tally, quiet=True, pause=lambda s: None)
    assert [len(sent) for sent in ledger.sent] == [4, 2, 1, 1, 2]
    assert tally.appended == 4 and tally.refused == []


def test_sending_gives_up_after_its_attempts_and_stops():
    lost = NoAnswer({"title": "No answer", "detail": "reset"}, sent=True)
    ledger = FakeLedger([lost] * cli_bulk.ATTEMPTS)
    tally = Tally()
    waits: list[float] = []
    with pytest.raises(cli_bulk.Stop, match=r"gave up after 6 attempts.*Run the same command"):
        cli_bulk.send(ledger, items(1), tally, quiet=True, pause=waits.append)
    assert len(ledger.sent) == cli_bulk.ATTEMPTS and len(tally.refused) == 1
    assert waits == [1, 2, 4, 8, 16]


def test_a_servers_retry_after_is_capped_and_nonsense_ignored():
    huge = ClientError(503, {"title": "Busy", "detail": "later"}, retry_after=86_400.0)
    waits: list[float] = []
    cli_bulk.send(FakeLedger([huge]), items(1), Tally(), quiet=True, pause=waits.append)
    assert waits == [cli_bulk.MAX_WAIT_SECONDS]
    for text in ("inf", "nan", "-5", "Wed, 21 Oct 2026 07:28:00 GMT"):
        answer = httpx.Response(503, headers={"Retry-After": text})
        assert retry_after(answer) in (None, 0.0), text


def test_a_server_down_stops_the_load_and_counts_what_was_not_sent(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from api.cli import main

    monkeypatch.setattr(cli_bulk.time, "sleep", lambda s: None)
    key = tmp_path / "k.pem"
    vinledger("keygen", str(key))
    jsonl = tmp_path / "many.jsonl"
    jsonl.write_text("".join(json.dumps(inspection(km=n + 1)) + "\n" for n in range(5)))
    r = CliRunner().invoke(
        main,
        [
            "submit",
            str(jsonl),
            "--key",
            str(key),
            "--url",
            "http://127.0.0.1:9",
            "--batch-size",
            "2",
        ],
    )
    assert r.exit_code == 1
    assert "could not connect" in r.output and "gave up after 6 attempts" in r.output
    assert (
        "2 records: 0 appended, 0 already in the log, 2 refused or not sent; 3 more not sent"
        in r.output
    )


def test_a_line_nested_past_any_parser_is_refused_and_the_rest_goes_in(inspector, tmp_path):
    url, key = inspector
    jsonl = tmp_path / "deep.jsonl"
    good = [json.dumps(inspection(km=n + 1)) for n in range(2)]
    jsonl.write_text("\n".join([good[0], "[" * 100_000, good[1]]) + "\n")
    r = vinledger("submit", str(jsonl), "--key", str(key), "--url", url, "--batch-size", "1",
                  check=False)  # fmt: skip
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert f"{jsonl}:2: not sent:" in r.stderr
    assert "3 records: 2 appended" in r.stderr


def test_batches_keep_to_their_size_and_bytes(monkeypatch):
    tally = Tally()
    got = list(cli_bulk.batches(items(7), 3, tally))
    assert [len(b) for b in got] == [3, 3, 1]
    monkeypatch.setattr(cli_bulk, "MAX_BATCH_BYTES", 10)  # items of 2, 4, 6, 8 ... bytes
    got = list(cli_bulk.batches(items(4), 100, tally))
    assert [[i.where for i in b] for b in got] == [
        ["f.jsonl:1", "f.jsonl:2"],
        ["f.jsonl:3"],
        ["f.jsonl:4"],
    ]
    assert tally.refused == []


def test_a_record_without_a_key_or_a_referral_code_is_not_sent():
    record = json.dumps(inspection(vin=VIN)).encode()
    item = cli_bulk.prepare("x.jsonl:1", record, None, None)
    assert item.envelope is None and "give --key" in item.refused
    from plugins.referrals import PAYLOAD_TYPE

    item = cli_bulk.prepare("x.jsonl:2", b"{}", object(), PAYLOAD_TYPE)
    assert item.envelope is None and "submit it alone" in item.refused
