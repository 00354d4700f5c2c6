"""The fast paths of batch ingest against the general ones they replace: the control-
character scan, the shared key objects, a batch's receipts."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from api.routes.records import receipt
from api.service_checks import _CONTROL, check_text, has_control
from core.errors import InvalidRecord, KeyRevoked
from core.keys import generate_private_key, key_id, public_key_from_raw, public_key_raw
from ledger import merkle
from ledger.sequencer import Appended
from ledger.signing import open_checkpoint
from tests.conftest import VIN, VIN2, inspection, onboard

# ---- the control-character scan ------------------------------------------------------

# Bytes that make the rule's cases: runs of backslashes, the escapes it refuses and
# their near misses, C1 lead and trail bytes, DEL.
_PIECES = [b"\\", b"\\\\", b"u", b"u00", b"0", b"1", b"7", b"8", b"9", b"f", b"F", b"b"]
_PIECES += [b"e", b"a", b"c", b"n", b'"', b"x", b"\xc2", b"\x80", b"\x9f", b"\xa0", b"\x7f"]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40))
def test_has_control_is_the_rule_on_random_bytes(pieces):
    data = b"".join(pieces)
    assert has_control(data) == bool(_CONTROL.search(data))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x200), max_size=30))
def test_has_control_is_the_rule_on_json_text(text):
    """Text as a record carries it: JSON-encoded, escapes and all (and written with
    ensure_ascii, as Python's json writes it by default)."""
    for data in (msgspec.json.encode({"note": text}), json.dumps({"note": text}).encode()):
        assert has_control(data) == bool(_CONTROL.search(data))


@pytest.mark.parametrize("run", [b"\\" * 64_000, b"\\" * 64_001 + b"u0001", b"\\\\u0001" * 9_000])
def test_has_control_takes_linear_time_on_runs_of_backslashes(run):
    """A search that restarted inside a run of backslashes took 23 s for 32,000 of them
    (a 96 KB envelope may hold that many); the rule's own pattern takes ~5 ms."""
    data = b'{"note": "' + run + b'"}'
    start = time.perf_counter()
    assert has_control(data) == bool(_CONTROL.search(data))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        (b'"a\\u001b[31m"', True),  # ESC
        (b'"a\\\\u001b"', False),  # an escaped backslash, then plain text
        (b'"a\\\\\\u001b"', True),  # an escaped backslash, then ESC
        (b'"C:\\\\bin"', False),
        (b'"x\\b"', True),
        (b'"\\u00e9t\\u00e9"', False),  # é, written as an escape
        (b'"\\u0085"', True),  # NEL, C1
        (b'"\xc2\x85"', True),
        (b'"\xc2\xb0C"', False),  # the degree sign
        (b'"\x7f"', True),
        (b'"tab\\tand\\nline"', False),
    ],
)
def test_check_text_cases(text, refused):
    if refused:
        with pytest.raises(InvalidRecord):
            check_text(text)
    else:
        check_text(text)


# ---- key objects ---------------------------------------------------------------------


def test_a_raw_key_makes_one_object_and_its_id():
    raw = public_key_raw(generate_private_key().public_key())
    key = public_key_from_raw(raw)
    assert public_key_from_raw(bytearray(raw)) is key
    assert key_id(key) == key_id(public_key_from_raw(raw))
    other = generate_private_key().public_key()  # not from the cache: its own ID
    assert key_id(other) != key_id(key)
    assert key_id(other) == key_id(public_key_from_raw(public_key_raw(other)))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_a_remembered_key_id_is_the_computed_one(raw):
    """Any 32 bytes the library takes as a key: the ID remembered with the shared object
    is the SHA-256 of the key's own raw bytes, as for a key object made anew."""
    try:
        fresh = Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return
    shared = public_key_from_raw(raw)
    assert key_id(shared) == key_id(fresh) == hashlib.sha256(public_key_raw(fresh)).hexdigest()
    assert public_key_raw(shared) == public_key_raw(fresh)


def test_a_key_revoked_is_refused_at_the_next_submission(sqlite_ledger):
    """The key object and the key lookup are remembered; neither may outlive the
    revocation (the sequencer checks it again inside its lock)."""
    shop = onboard(sqlite_ledger, "shop", "inspector")
    (first,) = asyncio.run(sqlite_ledger.submit([shop.envelope(inspection(km=1_000))]))
    assert isinstance(first, Appended) and first.created
    sqlite_ledger.revoke_key(shop.keyid, "laptop stolen")
    for raws in ([shop.envelope(inspection(km=2_000))], [shop.envelope(inspection(km=3_000))] * 2):
        outcomes = asyncio.run(sqlite_ledger.submit(raws))
        assert all(isinstance(o, KeyRevoked) for o in outcomes), outcomes


# ---- a batch's receipts -------------------------------------------------------------


def _check_receipt(ledger, raw: bytes, r: dict) -> None:
    """The receipt is this envelope's: its entry holds the envelope, and the proof puts
    the entry at its index under the signed checkpoint."""
    cp = open_checkpoint(r["checkpoint"], ledger.vkey)
    assert cp.size == r["size"]
    entry = base64.b64decode(r["entry"])
    proof = [base64.b64decode(h) for h in r["inclusion_proof"]]
    merkle.verify_inclusion(merkle.hash_leaf(entry), r["index"], cp.size, proof, cp.root)
    assert json.loads(entry)["envelope"] == json.loads(raw)


def test_a_batch_gives_each_envelope_its_own_receipt(client, sqlite_ledger):
    """Receipts share their proofs' base64 now: each must still be its envelope's, a
    repeat in the batch or in the next one answering with the first's entry."""
    shop = onboard(sqlite_ledger, "shop", "inspector")
    raws = [shop.envelope(inspection(VIN if i % 2 else VIN2, km=1_000 + i)) for i in range(10)]
    # A repeat, a refusal, another repeat at the end.
    batch = [*raws[:2], raws[0], raws[2], b'{"payload": 1}', *raws[3:], raws[1]]
    r = client.post("/records/batch", json={"envelopes": [json.loads(e) for e in batch]})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 201, 200, 201, 400] + [201] * 7 + [200]
    for raw, result in zip(batch, results, strict=True):
        if result["status"] != 400:
            _check_receipt(sqlite_ledger, raw, result)
    new = [x["index"] for x in results if x["status"] == 201]
    assert new == sorted(new) and len(set(new)) == 10  # logged in the order sent
    assert results[2]["index"] == results[0]["index"]
    assert results[-1]["index"] == results[1]["index"]
    for vin in (VIN, VIN2):  # each VIN's chain in the order sent
        seq = [e["vin_seq"] for e in client.get(f"/vehicles/{vin}/history").json()["entries"]]
        assert seq == list(range(len(seq)))
    # The whole batch again, in the next request: every envelope answers with its entry.
    again = client.post("/records/batch", json={"envelopes": [json.loads(e) for e in batch]})
    assert [x.get("index") for x in again.json()["results"]] == [x.get("index") for x in results]
    assert {x["status"] for x in again.json()["results"]} == {200, 400}


def test_a_batch_receipt_is_the_single_receipt_and_its_status(client, sqlite_ledger):
    """Results are now encoded from structs with shared base64, not built as dicts."""
    shop = onboard(sqlite_ledger, "shop", "inspector")
    raws = [shop.envelope(inspection(km=5_000 + i)) for i in range(4)]
    results = client.post(
        "/records/batch", json={"envelopes": [json.loads(e) for e in raws]}
    ).json()["results"]
    for raw, result in zip(raws, results, strict=True):
        single = client.post("/records", content=raw, headers={"content-type": "application/json"})
        assert single.status_code == 200
        assert list(result) == [*single.json(), "status"]  # same fields, same order
        # Nothing was logged since: the replay's receipt is the batch's, but for created.
        assert {**single.json(), "created": True, "status": 201} == result
        _check_receipt(sqlite_ledger, raw, result)


def test_shared_base64_gives_the_same_receipts(sqlite_ledger):
    shop = onboard(sqlite_ledger, "shop", "inspector")
    outcomes = sqlite_ledger.submit_now([shop.envelope(inspection(km=9_000 + i)) for i in range(9)])
    from api.routes.records import _Base64

    texts = _Base64()
    for o in outcomes:
        shared = msgspec.to_builtins(receipt(o, texts=texts, status=201))
        alone = msgspec.to_builtins(receipt(o))
        assert shared == {**alone, "status": 201}
