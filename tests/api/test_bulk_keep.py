"""`vinledger submit --receipts/--refused`: the files kept beside a bulk load are never
written over one another, never cut but where a run was stopped mid-line, one load at
a time, written (not read) when they are a pipe, and a write that fails stops the load
with its counts."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from tests.api import test_bulk_files
from tests.api.test_bulk_files import FakeClient, run
from tests.conftest import inspection

fake = test_bulk_files.fake  # the key, and a ledger that appends everything


def _rows(tmp_path: Path, n: int = 2, name: str = "titles.jsonl") -> Path:
    jsonl = tmp_path / name
    jsonl.write_text("".join(json.dumps(inspection(km=k + 1)) + "\n" for k in range(n)))
    return jsonl


@pytest.fixture
def sent(monkeypatch):
    """How many batches reached the ledger."""
    count = []
    real = FakeClient.submit_batch
    monkeypatch.setattr(FakeClient, "submit_batch", lambda s, e: count.append(1) or real(s, e))
    return count


def test_receipts_and_refused_may_not_be_one_file(fake, tmp_path, sent, monkeypatch):
    jsonl = _rows(tmp_path)
    receipts = tmp_path / "r.jsonl"
    run(str(jsonl), "--key", str(fake), "--receipts", str(receipts))
    kept = receipts.read_bytes()
    assert kept.count(b"\n") == 2 and len(sent) == 1
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    for same in ("r.jsonl", str(receipts), "./sub/../r.jsonl"):
        r = run(str(jsonl), "--key", str(fake), "--receipts", str(receipts), "--refused", same)
        assert r.exit_code == 1
        assert f"--receipts {receipts} and --refused {Path(same)} are the same" in r.output
    r = run(str(jsonl), "--key", str(fake), "--receipts", "r.jsonl.reasons", "--refused", "r.jsonl")
    assert r.exit_code == 1
    assert "--receipts r.jsonl.reasons and --refused's reasons file r.jsonl.reasons" in r.output
    assert "give each a file of its own" in r.output
    assert receipts.read_bytes() == kept and len(sent) == 1  # nothing sent, nothing lost
    one = tmp_path / "one.json"
    one.write_text(json.dumps(inspection(km=9)))
    r = run(str(one), "--key", str(fake), "--receipts", "new.jsonl", "--refused", "new.jsonl")
    assert r.exit_code == 1 and "are the same file" in r.output
    assert not (tmp_path / "new.jsonl").exists()


def test_a_whole_last_receipt_is_kept_and_a_file_of_other_lines_refused(fake, tmp_path):
    jsonl = _rows(tmp_path, 3)
    receipts = tmp_path / "r.jsonl"
    args = (str(jsonl), "--key", str(fake), "--receipts", str(receipts), "-q")
    run(*args)
    lines = receipts.read_bytes().splitlines(keepends=True)
    receipts.write_bytes(b"".join(lines)[:-1])  # a whole receipt, its newline lost
    assert run(*args).exit_code == 0
    assert receipts.read_bytes() == b"".join(lines)  # its newline back, nothing twice

    receipts.write_bytes(b"".join(lines[:2]) + lines[2][:50])  # a run killed mid-line
    run(*args)
    assert receipts.read_bytes().splitlines() == [line.rstrip() for line in lines]

    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"my notes line 1\nline 2")
    r = run(*args[:3], "--receipts", str(notes))
    assert r.exit_code == 1 and f"{notes}:1 is not a receipt" in r.output
    assert notes.read_bytes() == b"my notes line 1\nline 2"  # not a byte changed
    other = tmp_path / "other.jsonl"
    other.write_bytes(b'{"index": 1}\n')  # JSON, but no receipt of ours
    r = run(*args[:3], "--receipts", str(other))
    assert r.exit_code == 1 and f"{other}:1 is not a receipt" in r.output


def test_one_load_at_a_time_writes_a_receipts_file(fake, tmp_path):
    import fcntl

    receipts = tmp_path / "r.jsonl"
    receipts.write_bytes(b"")
    with receipts.open("ab") as other:  # a load running: it holds the lock
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run(str(_rows(tmp_path)), "--key", str(fake), "--receipts", str(receipts))
    assert r.exit_code == 1
    assert "is being written by another `vinledger submit`" in r.output
    assert "0 records" not in r.output and receipts.read_bytes() == b""


def _alarm(signum, frame):
    raise TimeoutError("blocked reading the pipe")


def test_receipts_into_a_pipe_are_written_not_read(fake, tmp_path):
    fifo = tmp_path / "receipts.pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    before = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(10)
    try:
        r = run(str(_rows(tmp_path)), "--key", str(fake), "--receipts", str(fifo), "-q")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)
    lines = os.read(reader, 1 << 20).splitlines()
    os.close(reader)
    assert r.exit_code == 0, r.output
    assert [json.loads(line)["index"] for line in lines] == [40, 41]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
def test_a_full_disk_stops_the_load_with_its_counts(fake, tmp_path):
    jsonl = tmp_path / "titles.jsonl"
    jsonl.write_text(json.dumps(inspection(km=1)) + "\n{not json\n")
    full = tmp_path / "refused.jsonl"
    full.symlink_to("/dev/full")  # its reasons beside it, in tmp_path
    r = run(str(jsonl), "--key", str(fake), "--refused", str(full), "-q")
    assert r.exit_code == 1 and "cannot read" not in r.output
    assert "2 records: 1 appended, 0 already in the log, 1 refused" in r.output
    assert f"cannot write {full}: No space left on device; free space and run" in r.output
    r = run(str(jsonl), "--key", str(fake), "--receipts", "/dev/full", "-q")
    assert "2 records: 1 appended" in r.output and "cannot write /dev/full" in r.output
    one = tmp_path / "one.json"
    one.write_text(json.dumps(inspection(km=9)))
    r = run(str(one), "--key", str(fake), "--receipts", "/dev/full")
    assert r.exit_code == 1 and "cannot write /dev/full" in r.output


def test_a_file_name_that_is_not_utf8_is_kept_as_escapes(fake, tmp_path):
    name = os.fsdecode(b"caf\xe9.jsonl")
    jsonl = _rows(tmp_path, 2, name)
    receipts = tmp_path / "r.jsonl"
    args = (str(jsonl), "--key", str(fake), "--receipts", str(receipts), "-q")
    assert run(*args).exit_code == 0
    kept = [json.loads(line)["where"] for line in receipts.read_text().splitlines()]
    assert kept == [f"{tmp_path}/caf\\xe9.jsonl:1", f"{tmp_path}/caf\\xe9.jsonl:2"]
    run(*args)
    assert len(receipts.read_text().splitlines()) == 2  # the same where: none twice


def test_many_envelopes_in_a_json_file_say_how_to_submit_them(fake, tmp_path):
    from api.cli_submit import load_key
    from core import dsse

    key = load_key(fake)
    envs = [
        dsse.encode_envelope(dsse.sign_envelope(json.dumps(inspection(km=k)).encode(), key))
        for k in (1, 2)
    ]
    array = tmp_path / "envs.json"
    array.write_bytes(b"[" + b",".join(envs) + b"]")
    lines = tmp_path / "lines.json"
    lines.write_bytes(b"\n".join(envs) + b"\n")
    r = run(str(array))
    assert r.exit_code == 1 and "this is a JSON array" in r.output and "--key" not in r.output
    r = run(str(lines))
    assert "looks like JSON Lines (one record or envelope a line)" in r.output
    r = run(str(array), str(lines), "-q")  # several files: each said, none sent
    assert f"{array}: not sent: this is a JSON array" in r.output
    assert f"{lines}: not sent: this looks like JSON Lines" in r.output


@pytest.mark.parametrize("cut", [b"{", b'{"wh', b'{"where"', b'{"where":', b"\0\0\0"])
def test_a_receipt_cut_in_its_first_bytes_is_dropped(fake, tmp_path, cut):
    receipts = tmp_path / "r.jsonl"
    args = (str(_rows(tmp_path)), "--key", str(fake), "--receipts", str(receipts), "-q")
    run(*args)
    whole = receipts.read_bytes()
    receipts.write_bytes(whole + cut)  # a run stopped (or a disk full) a few bytes in
    assert run(*args).exit_code == 0
    assert receipts.read_bytes() == whole  # the cut dropped, nothing twice
    receipts.write_bytes(whole + cut + b"\n")  # a whole line, though: not a receipt
    r = run(*args)
    assert r.exit_code == 1 and f"{receipts}:3 is not a receipt" in r.output


@pytest.mark.parametrize("held", ["r.jsonl", "r.jsonl.reasons"])
def test_refused_rows_never_empty_a_file_another_load_writes(fake, tmp_path, held):
    import fcntl

    receipts = tmp_path / "r.jsonl"
    run(str(_rows(tmp_path)), "--key", str(fake), "--receipts", str(receipts), "-q")
    kept = receipts.read_bytes()
    (tmp_path / "r.jsonl.reasons").write_bytes(b"")
    with (tmp_path / held).open("ab") as other:  # a load running: it holds the lock
        fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run(str(_rows(tmp_path, 1, "t2.jsonl")), "--key", str(fake), "--refused", str(receipts))
    assert r.exit_code == 1
    assert f"{tmp_path / held} is being written by another `vinledger submit`" in r.output
    assert receipts.read_bytes() == kept  # not emptied
    refused = tmp_path / "refused.jsonl"
    refused.write_bytes(b"an earlier run's rows\n")
    run(str(_rows(tmp_path, 1, "t2.jsonl")), "--key", str(fake), "--refused", str(refused))
    assert refused.read_bytes() == b""  # once locked, written afresh


def _with_stdout(fd: int, keep) -> str | None:
    """What ``keep`` says of its files while standard output is ``fd``."""
    saved = os.dup(1)
    os.dup2(fd, 1)
    try:
        return keep.check_inputs([])
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def test_receipts_on_the_file_stdout_goes_to_are_refused(tmp_path):
    from api.submit_files import Keeper

    out = tmp_path / "out.txt"
    with out.open("wb") as f:  # vinledger submit --receipts /dev/stdout > out.txt
        said = _with_stdout(f.fileno(), Keeper(Path("/dev/stdout")))
        also = _with_stdout(f.fileno(), Keeper(None, out))
    assert said == (
        "--receipts /dev/stdout is the file standard output is written to: the summary and "
        "messages would write over it; give --receipts a file of its own and keep standard "
        "output for the summary"
    )
    assert also is not None and also.startswith(f"--refused {out} is the file standard output")
    reader, writer = os.pipe()  # vinledger submit --receipts /dev/stdout | tee r.jsonl
    try:
        assert _with_stdout(writer, Keeper(Path("/dev/stdout"))) is None
    finally:
        os.close(reader)
        os.close(writer)
