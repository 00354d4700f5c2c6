"""A changed entry is blamed on itself: the entries chained after it are not reported
as broken links (their position and prev lead into the entry that failed)."""

from __future__ import annotations

import base64
import json

import pytest

from ledger.bundle import encode_bundle
from ledger.verify import verify_bundle_bytes
from tests.conftest import VIN, inspection, onboard


def _flip(b64: str, at: int | None = None) -> str:
    raw = bytearray(base64.b64decode(b64))
    raw[len(raw) // 2 if at is None else at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("what", ["entry", "proof"])
@pytest.mark.parametrize("which", [0, 2, 4])
def test_one_changed_entry_is_the_only_one_blamed(sqlite_ledger, what, which):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(km=40_000 + d, day=d)) for d in range(1, 6)]
    )
    bundle = json.loads(encode_bundle(sqlite_ledger.bundle(VIN)))
    item = bundle["entries"][which]
    if what == "entry":
        item["entry"] = _flip(item["entry"])
    else:
        item["proof"][0] = _flip(item["proof"][0], 0)
    report = verify_bundle_bytes(json.dumps(bundle).encode(), sqlite_ledger.vkey)
    assert not report.ok
    assert {f.index for f in report.failures} == {item["index"]}, report.failures
    assert [f.check for f in report.failures] == ["inclusion"]
    if which < 4:  # a chain with a hole in it is not called unbroken
        assert not any(f.check == "chain" and f.ok for f in report.findings)


def test_an_entry_left_out_is_still_a_broken_chain(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(km=40_000 + d, day=d)) for d in range(1, 4)]
    )
    bundle = json.loads(encode_bundle(sqlite_ledger.bundle(VIN)))
    gone = bundle["entries"].pop(1)
    report = verify_bundle_bytes(json.dumps(bundle).encode(), sqlite_ledger.vkey)
    [failure] = report.failures
    assert failure.check == "chain" and failure.index == gone["index"] + 1
    assert "an entry is missing" in failure.detail


def test_the_cli_lists_the_changed_entry_as_failed_and_no_other(sqlite_ledger, tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.submit_now(
        [inspector.envelope(inspection(km=40_000 + d, day=d)) for d in range(1, 4)]
    )
    bundle = json.loads(encode_bundle(sqlite_ledger.bundle(VIN)))
    item = bundle["entries"][1]
    item["entry"] = _flip(item["entry"])
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    result = CliRunner().invoke(main, ["verify", str(path), "--vkey", sqlite_ledger.vkey])
    assert result.exit_code == 1, result.output
    fails = [line.split() for line in result.output.splitlines() if line.strip().startswith("FAIL")]
    index = str(item["index"])
    assert [words[1:3] for words in fails] == [["inclusion", "entry"], ["entry", index]]
    assert "NOT VERIFIED: 1 check failed." in result.output
