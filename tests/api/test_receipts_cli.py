"""A submission's receipts: the ledger's warnings in them, `vinledger submit --receipts`
keeping one a record, and `vinledger verify-receipt` checking them offline."""

from __future__ import annotations

import base64
import json

import pytest

from core.errors import VinledgerError
from ledger.verify_receipt import decode_receipt, verify_receipt
from tests.conftest import VIN, inspection, onboard, vinledger

TYPO = "JHM0UH083AZ413453"  # check digit 3, should be 1: optional outside N. America, China


def test_a_receipt_carries_the_ledgers_warnings(client, sqlite_ledger):
    acme = onboard(sqlite_ledger, "acme", "inspector")
    r = client.post("/records", content=acme.envelope(inspection(vin=TYPO)))
    assert r.status_code == 201
    [warning] = r.json()["warnings"]
    assert f"VIN {TYPO} has check digit '3'" in warning and "look for a typo" in warning
    assert client.post("/records", content=acme.envelope(inspection())).json()["warnings"] == []

    envelopes = [acme.envelope(inspection(vin=TYPO, km=1)), acme.envelope(inspection(km=2))]
    body = b'{"envelopes":[' + b",".join(envelopes) + b"]}"
    results = client.post("/records/batch", content=body).json()["results"]
    assert [len(x["warnings"]) for x in results] == [1, 0]

    doc = client.get("/schema/openapi.json").json()
    receipt = doc["components"]["schemas"]["Receipt"]
    assert "warnings" in receipt["required"]
    assert "typo" in receipt["properties"]["warnings"]["description"]


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[-1] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def test_a_receipt_checks_offline_and_a_changed_one_does_not(client, sqlite_ledger):
    acme = onboard(sqlite_ledger, "acme", "inspector")
    for n in range(5):  # a tree with a proof of some length
        client.post("/records", content=acme.envelope(inspection(km=n + 1)))
    answer = client.post("/records", content=acme.envelope(inspection(km=99))).json()
    vkey = sqlite_ledger.vkey
    entry = verify_receipt(decode_receipt(json.dumps(answer)), vkey)
    assert (entry.index, entry.kind, entry.vin) == (answer["index"], "inspection", VIN)

    changed = {
        "index": answer["index"] - 1,
        "leaf_hash": _flip(answer["leaf_hash"]),
        "entry": _flip(answer["entry"]),
        "inclusion_proof": [_flip(answer["inclusion_proof"][0]), *answer["inclusion_proof"][1:]],
        "size": answer["size"] + 1,
        "checkpoint": answer["checkpoint"].replace(f"\n{answer['size']}\n", "\n99\n"),
    }
    for name, value in changed.items():
        with pytest.raises(VinledgerError):
            verify_receipt(decode_receipt(json.dumps(answer | {name: value})), vkey)
    other = "other.example/log+" + vkey.split("+", 1)[1]
    with pytest.raises(VinledgerError, match="not the log's"):
        verify_receipt(decode_receipt(json.dumps(answer)), other)
    with pytest.raises(VinledgerError, match="not a receipt"):
        decode_receipt(json.dumps({"index": 1}))


@pytest.fixture
def inspector(server, tmp_path):
    url, vkey, data = server
    key = tmp_path / "acme.key"
    vinledger("keygen", str(key))
    vinledger(
        "actors", "add", "Acme", "--role", "inspector", "--public-key", f"{key}.pub", data=data
    )
    return url, vkey, key


def test_a_load_keeps_a_receipt_a_row_that_checks_offline(inspector, tmp_path):
    url, vkey, key = inspector
    jsonl = tmp_path / "titles.jsonl"
    rows = [inspection(km=1), inspection(vin=TYPO, km=2), inspection(odometer_km=-1)]
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in [*rows, inspection(km=3)]))
    receipts = tmp_path / "receipts.jsonl"
    args = ("submit", str(jsonl), "--key", str(key), "--url", url, "-q")
    r = vinledger(*args, "--receipts", str(receipts), check=False)
    assert r.returncode == 1
    assert f"{jsonl}:2: warning: VIN {TYPO} has check digit" in r.stderr
    assert "1 logged with warnings" in r.stderr
    kept = [json.loads(line) for line in receipts.read_text().splitlines()]
    assert [k["where"] for k in kept] == [f"{jsonl}:1", f"{jsonl}:2", f"{jsonl}:4"]
    assert {"index", "leaf_hash", "size", "checkpoint", "inclusion_proof", "entry"} <= set(kept[0])
    ok = vinledger("verify-receipt", str(receipts), "--vkey", vkey)
    assert "OK: all 3 receipts check" in ok.stdout

    # Run again after a crash that cut the last line short: whole lines, none twice.
    text = receipts.read_text()
    receipts.write_text(text[:-40])
    vinledger(*args, "--receipts", str(receipts), check=False)
    again = receipts.read_text().splitlines()
    assert len(again) == 3 and [json.loads(line)["where"] for line in again][-1] == f"{jsonl}:4"
    vinledger("verify-receipt", str(receipts), "--vkey", vkey)

    forged = json.loads(again[0]) | {"index": kept[1]["index"]}
    receipts.write_text("\n".join([json.dumps(forged), *again[1:]]) + "\n")
    bad = vinledger("verify-receipt", str(receipts), "--vkey", vkey, check=False)
    assert bad.returncode == 1
    assert f"line 1 ({jsonl}:1): FAILED" in bad.stderr and "1 of 3 receipts" in bad.stderr

    one = tmp_path / "one.json"
    one.write_text(json.dumps(inspection(vin=TYPO, km=7)))
    single = tmp_path / "single.jsonl"
    r = vinledger("submit", str(one), "--key", str(key), "--url", url, "--receipts", str(single))
    assert f"{one}: warning: VIN {TYPO}" in r.stderr
    [receipt] = [json.loads(line) for line in single.read_text().splitlines()]
    assert receipt["where"] == str(one) and receipt["status"] == 201
    pretty = tmp_path / "receipt.json"
    pretty.write_text(json.dumps(receipt, indent=2))  # a receipt saved as it came
    ok = vinledger("verify-receipt", str(pretty), "--vkey", vkey)
    assert f"OK: the receipt checks: entry {receipt['index']} (inspection of {TYPO})" in ok.stdout


def test_verify_receipt_says_what_the_proof_does_not_cover(client, sqlite_ledger, tmp_path):
    from click.testing import CliRunner

    from api.cli import main

    acme = onboard(sqlite_ledger, "acme", "inspector")
    answer = client.post("/records", content=acme.envelope(inspection(km=5))).json()
    vkey = sqlite_ledger.vkey
    saved = tmp_path / "receipt.json"

    def check(text: str):
        saved.write_text(text)
        return CliRunner().invoke(main, ["verify-receipt", str(saved), "--vkey", vkey])

    ok = check(json.dumps(answer))
    assert ok.exit_code == 0, ok.output
    assert "not proven by the receipt: created, warnings (what the ledger said" in ok.output
    decided = {"index": 99, "approved": True, "reason": "edited in", "policy": "none"}
    ok = check(json.dumps(answer | {"decision": decided}))
    n = answer["index"]
    assert f"decision: check entry {n + 1:,} with `vinledger verify`" in ok.output
    lines = check("\n".join(json.dumps(answer | {"where": f"x:{k}"}) for k in (1, 2)))
    assert "in 1 checkpoint signed by" in lines.output  # one checkpoint, not "checkpoints"

    # The proof checks the last of two values (msgspec's); a reader keeping the first
    # would be told "OK" of an index the proof never covered.
    twice = '{"index": 0, ' + json.dumps(answer)[1:]
    bad = check(twice)
    assert bad.exit_code == 1 and "repeats the key 'index'" in bad.output
    with pytest.raises(VinledgerError, match="repeats the key"):
        decode_receipt(twice)
