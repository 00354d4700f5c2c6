"""The whole app through Litestar's test client."""

from __future__ import annotations

import base64
import json

import pytest

from core.keys import generate_private_key, public_key_pem
from ledger import merkle
from ledger.signing import open_checkpoint
from ledger.tiles import decode_entry_bundle
from tests.conftest import VIN, Partner, inspection, maintenance, onboard


@pytest.fixture
def inspector(sqlite_ledger):
    return onboard(sqlite_ledger, "acme", "inspector")


def log_size(client) -> int:
    return int(client.get("/log/checkpoint").text.split("\n")[1])


def assert_problem(r, status: int, *words: str):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    for w in words:
        assert w.lower() in body["detail"].lower(), body


def test_submit_then_resubmit(client, inspector, sqlite_ledger):
    env = inspector.envelope(inspection())
    r = client.post("/records", content=env)
    assert r.status_code == 201, r.text
    receipt = r.json()
    cp = open_checkpoint(receipt["checkpoint"], sqlite_ledger.vkey)
    proof = [base64.b64decode(h) for h in receipt["inclusion_proof"]]
    entry = base64.b64decode(receipt["entry"])
    assert base64.b64decode(receipt["leaf_hash"]) == merkle.hash_leaf(entry)
    merkle.verify_inclusion(merkle.hash_leaf(entry), receipt["index"], cp.size, proof, cp.root)
    again = client.post("/records", content=env)
    assert again.status_code == 200
    assert again.json()["index"] == receipt["index"]
    assert log_size(client) == cp.size


def test_batch_answers_per_envelope(client, inspector, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    good = [inspector.envelope(inspection(day=d)) for d in (1, 2)]
    bad = shop.envelope(inspection(day=3))  # a workshop may not sign inspections
    body = b'{"envelopes":[' + b",".join([good[0], bad, good[1]]) + b"]}"
    r = client.post("/records/batch", content=body)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [201, 403, 201]
    assert "workshop" in results[1]["detail"]
    assert results[2]["index"] == results[0]["index"] + 1


@pytest.mark.parametrize(
    "case, status, words",
    [
        ("malformed", 400, ["JSON"]),
        ("bad-signature", 401, ["signature"]),
        ("unknown-key", 403, ["granted on this ledger"]),
        ("wrong-role", 403, ["workshop"]),
        ("invalid-vin", 422, ["VIN"]),
        ("unknown-field", 422, ["colour"]),
        ("oversize", 413, ["attachments"]),
    ],
)
def test_bad_input_is_a_clear_problem_and_changes_nothing(
    client, inspector, sqlite_ledger, case, status, words
):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    before = log_size(client)
    if case == "malformed":
        body = b'{"payload": "abc", '
    elif case == "bad-signature":
        env = json.loads(inspector.envelope(inspection()))
        env["signatures"][0]["sig"] = base64.b64encode(b"\0" * 64).decode()
        body = json.dumps(env).encode()
    elif case == "unknown-key":
        body = Partner("x", "inspector", generate_private_key()).envelope(inspection())
    elif case == "wrong-role":
        body = shop.envelope(inspection())
    elif case == "invalid-vin":
        body = inspector.envelope(inspection(vin="1HGCM82633A00435I"))
    elif case == "unknown-field":
        body = inspector.envelope(inspection(colour="red"))
    else:
        body = inspector.envelope(
            inspection(items=[{"code": "x", "result": "ok", "note": "n" * 400}] * 300)
        )
    assert_problem(client.post("/records", content=body), status, *words)
    assert log_size(client) == before


def test_revoked_key_through_admin_api(client, inspector, sqlite_ledger):
    token = sqlite_ledger.settings.admin_token()
    assert_problem(client.post(f"/admin/keys/{inspector.keyid}/revoke", json={}), 401, "Bearer")
    assert_problem(
        client.post(
            f"/admin/keys/{inspector.keyid}/revoke",
            json={},
            headers={"Authorization": "Bearer wrong"},
        ),
        401,
        "token",
    )
    r = client.post(
        f"/admin/keys/{inspector.keyid}/revoke",
        json={"reason": "lost"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    assert_problem(
        client.post("/records", content=inspector.envelope(inspection())), 403, "revoked"
    )


def test_admin_adds_an_actor_who_can_then_submit(client, sqlite_ledger):
    token = sqlite_ledger.settings.admin_token()
    key = generate_private_key()
    r = client.post(
        "/admin/actors",
        json={
            "actor_id": "quicklane",
            "name": "QuickLane",
            "role": "workshop",
            "public_key": public_key_pem(key.public_key()).decode(),
        },
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    shop = Partner("quicklane", "workshop", key)
    assert client.post("/records", content=shop.envelope(maintenance())).status_code == 201


def test_read_api_tiles_entries_and_proofs(client, inspector, sqlite_ledger):
    for d in range(1, 6):
        client.post("/records", content=inspector.envelope(inspection(day=d, km=1000 * d)))
    cp = open_checkpoint(client.get("/log/checkpoint").text, sqlite_ledger.vkey)
    tile = client.get(f"/log/tile/0/000.p/{cp.size}")
    assert tile.status_code == 200 and len(tile.content) == 32 * cp.size
    leaves = [tile.content[i : i + 32] for i in range(0, len(tile.content), 32)]
    assert merkle.root(leaves) == cp.root
    bundle = client.get(f"/log/tile/entries/000.p/{cp.size}")
    entries = decode_entry_bundle(bundle.content)
    assert [merkle.hash_leaf(e) for e in entries] == leaves
    assert client.get(f"/log/tile/0/000.p/{cp.size + 1}").status_code == 404
    # Traversal: the client resolves plain "..", so send it encoded and as a bad level.
    for bad in (
        "/log/tile/0/%2e%2e/%2e%2e/etc/passwd",
        "/log/tile/..%2f..%2fetc/000",
        "/log/tile/0/x00.p/3",
    ):
        assert_problem(client.get(bad), 400, "tile")
    p = client.get("/log/proof/inclusion", params={"index": 3, "size": cp.size}).json()
    merkle.verify_inclusion(
        leaves[3], 3, cp.size, [base64.b64decode(h) for h in p["hashes"]], cp.root
    )
    c = client.get("/log/proof/consistency", params={"first": 2, "second": cp.size}).json()
    merkle.verify_consistency(
        2, cp.size, [base64.b64decode(h) for h in c["hashes"]], merkle.root(leaves[:2]), cp.root
    )
    assert_problem(client.get("/log/proof/inclusion", params={"index": 9, "size": 3}), 400)
    # Sizes far beyond the log, past what a database integer holds, are refused as such.
    for size in (cp.size + 1, 2**63, 2**70):
        for index in (1, size - 1):
            r = client.get("/log/proof/inclusion", params={"index": index, "size": size})
            assert_problem(r, 400, "larger than the log")
    for index in (2**63, 2**70):
        assert_problem(client.get(f"/log/proof/entry/{index}"), 404, "not in the log")
    assert client.get("/log/vkey").text.strip() == sqlite_ledger.vkey
    assert client.get("/log/proof/entry/3").text.startswith("c2sp.org/tlog-proof@v1\n")
    for path in ("/log/checkpoint", "/log/vkey", "/log/proof/entry/3"):  # one charset
        assert client.get(path).headers["content-type"] == "text/plain; charset=utf-8", path


def test_history_and_bundle(client, inspector, sqlite_ledger):
    from ledger.verify import verify_bundle_bytes

    client.post("/records", content=inspector.envelope(inspection(km=50_000, day=1)))
    client.post("/records", content=inspector.envelope(inspection(km=20_000, day=9)))
    h = client.get(f"/vehicles/{VIN}/history").json()
    assert [e["record"]["odometer_km"] for e in h["entries"]] == [50_000, 20_000]
    assert h["entries"][0]["signer"] == {"id": "acme", "name": "Acme", "role": "inspector"}
    assert h["vehicle"]["manufacturer"] == "Honda"
    assert [a["type"] for a in h["view"]["alerts"]] == ["odometer_rollback"]
    report = verify_bundle_bytes(client.get(f"/vehicles/{VIN}/bundle").content, sqlite_ledger.vkey)
    assert report.ok, report.failures
    assert_problem(client.get("/vehicles/1HGCM82633A004353/history"), 422, "check digit")
    assert_problem(client.get("/vehicles/WVWZZZ1JZXW000001/history"), 404)


def test_openapi_schema_is_served(client):
    schema = client.get("/schema/openapi.json").json()
    assert "/records" in schema["paths"] and "/log/checkpoint" in schema["paths"]


@pytest.mark.parametrize(
    "sig, words",
    [
        (b"\0" * 64, ["PAE", "DSSEv1"]),  # 64 bytes that do not verify
        (b"\1" * 96, ["96 bytes", "64"]),  # hex text of a signature, decoded once
        (b"\1" * 3, ["3 bytes", "64"]),
    ],
    ids=["64-bytes", "hex-decoded-once", "3-bytes"],
)
def test_a_signature_that_does_not_verify_names_its_field_and_its_challenge(
    client, inspector, sig, words
):
    before = log_size(client)
    env = json.loads(inspector.envelope(inspection()))
    env["signatures"][0]["sig"] = base64.b64encode(sig).decode()
    r = client.post("/records", content=json.dumps(env).encode())
    assert_problem(r, 401, *words)
    assert r.json()["field"] == "signatures[0].sig"
    assert r.headers["www-authenticate"] == 'DSSE realm="vinledger"'
    assert log_size(client) == before


@pytest.mark.parametrize("path", ["/records", "/records/batch", "/referrals"])
def test_a_compressed_body_is_refused_as_such(client, inspector, path):
    import gzip

    before = log_size(client)
    body = inspector.envelope(inspection())
    if path == "/records/batch":
        body = b'{"envelopes":[' + body + b"]}"
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    r = client.post(path, content=gzip.compress(body), headers=headers)
    assert_problem(r, 415, "Content-Encoding: gzip", "uncompressed")
    # Named but not applied: the body is JSON as it is, and still refused.
    r = client.post(path, content=body, headers={**headers, "Content-Encoding": "br"})
    assert_problem(r, 415, "Content-Encoding: br")
    assert r.headers["accept-encoding"] == "identity"
    # A charset put in the wrong header is said to be one; identity (listed twice) passes.
    r = client.post(path, content=body, headers={**headers, "Content-Encoding": "UTF-8"})
    assert_problem(r, 415, "not its charset")
    r = client.post(path, content=body, headers={**headers, "Content-Encoding": "identity"})
    assert r.status_code != 415
    twice = {**headers, "Content-Encoding": "identity, identity"}
    assert client.post(path, content=body, headers=twice).status_code != 415
    assert log_size(client) == before + (path != "/referrals")  # one envelope, once
