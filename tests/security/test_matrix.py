"""The attack matrix, one test per attack, through the whole app (Litestar TestClient).

Each refused request must be an RFC 9457 problem with the expected status, and the
log size (line 2 of GET /log/checkpoint) must not change: bad input changes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets

import pytest

from core import dsse
from core.keys import generate_private_key
from ledger.tiles import decode_entry_bundle, format_tile_path
from tests.conftest import VIN, Partner, inspection, onboard

PROBLEM = "application/problem+json"


@pytest.fixture
def inspector(sqlite_ledger):
    return onboard(sqlite_ledger, "acme", "inspector")


def log_size(client) -> int:
    r = client.get("/log/checkpoint")
    assert r.status_code == 200, r.text
    return int(r.text.split("\n")[1])


def assert_problem(r, status: int, *words: str) -> dict:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith(PROBLEM), r.headers["content-type"]
    body = r.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    for w in words:
        assert w.lower() in body["detail"].lower(), body
    return body


def refused(client, method: str, url: str, status: int, *words: str, **kwargs) -> dict:
    """The request is refused with ``status`` and the log did not grow."""
    before = log_size(client)
    body = assert_problem(client.request(method, url, **kwargs), status, *words)
    assert log_size(client) == before
    return body


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


# ---- signatures and keys ----------------------------------------------------------


def test_forged_signature(client, inspector):
    env = json.loads(inspector.envelope(inspection()))
    sig = bytearray(base64.b64decode(env["signatures"][0]["sig"]))
    sig[10] ^= 0x01
    env["signatures"][0]["sig"] = _b64(bytes(sig))
    refused(client, "POST", "/records", 401, "does not verify", content=json.dumps(env))


def test_signature_by_another_actors_key(client, sqlite_ledger, inspector):
    """A signs, but the envelope names B's key ID: B's key must not accept A's signature."""
    other = onboard(sqlite_ledger, "bravo", "inspector")
    env = json.loads(inspector.envelope(inspection()))
    env["signatures"][0]["keyid"] = other.keyid
    refused(client, "POST", "/records", 401, "does not verify", content=json.dumps(env))


def test_revoked_key(client, sqlite_ledger, inspector):
    env = inspector.envelope(inspection())
    sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
    refused(client, "POST", "/records", 403, "revoked", content=env)


def test_key_used_before_its_grant(client, sqlite_ledger):
    key = generate_private_key()
    late = Partner("late", "inspector", key)
    env = late.envelope(inspection())
    refused(client, "POST", "/records", 403, "granted on this ledger", content=env)
    sqlite_ledger.add_actor("late", "Late Inspections", "inspector", late.public_pem)
    before = log_size(client)
    r = client.post("/records", content=env)
    assert r.status_code == 201, r.text
    assert log_size(client) == before + 1


def test_replayed_envelope(client, inspector):
    env = inspector.envelope(inspection())
    before = log_size(client)
    first = client.post("/records", content=env)
    assert first.status_code == 201, first.text
    again = client.post("/records", content=env)
    assert again.status_code == 200, again.text
    assert again.json()["index"] == first.json()["index"]
    assert log_size(client) == before + 1
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    assert [e["index"] for e in entries] == [first.json()["index"]]


# ---- roles ------------------------------------------------------------------------


def test_role_may_not_submit_kind(client, sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    refused(client, "POST", "/records", 403, "workshop", content=shop.envelope(inspection()))


def test_dealer_sale_naming_another_dealer(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "honest-motors", "dealer")
    onboard(sqlite_ledger, "rival-cars", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-05T10:00:00Z",
        "odometer_km": 48_300,
        "dealer": "rival-cars",
    }
    refused(client, "POST", "/records", 403, "own sales", content=dealer.envelope(sale))
    sale["dealer"] = "honest-motors"  # the same sale under its own name goes in
    assert client.post("/records", content=dealer.envelope(sale)).status_code == 201


# ---- the admin API ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers, words",
    [
        ({}, ["Bearer"]),
        ({"Authorization": "Bearer wrong-token"}, ["token"]),
        ({"Authorization": "Basic YWRtaW46YWRtaW4="}, ["Bearer"]),
        ({"Authorization": "Bearer "}, ["Bearer"]),
    ],
    ids=["no-token", "wrong-token", "basic-auth", "empty-token"],
)
def test_admin_api_without_the_token(client, sqlite_ledger, inspector, headers, words):
    token = sqlite_ledger.settings.admin_token()
    if "Authorization" in headers:
        assert token not in headers["Authorization"]
    actor = {
        "actor_id": "mallory",
        "name": "Mallory",
        "role": "operator",
        "public_key": Partner("m", "operator", generate_private_key()).public_pem.decode(),
    }
    refused(client, "POST", "/admin/actors", 401, *words, json=actor, headers=headers)
    refused(
        client,
        "POST",
        f"/admin/keys/{inspector.keyid}/revoke",
        401,
        *words,
        json={"reason": "x"},
        headers=headers,
    )
    refused(client, "GET", f"/admin/keys/{inspector.keyid}", 401, *words, headers=headers)
    # The key still works: nothing was revoked.
    assert client.post("/records", content=inspector.envelope(inspection())).status_code == 201


# ---- sizes ------------------------------------------------------------------------


def test_oversized_batch_body(client, inspector):
    env = inspector.envelope(inspection())
    count = 16 * 1024 * 1024 // len(env) + 2
    body = b'{"envelopes":[' + b",".join([env] * count) + b"]}"
    assert len(body) > 16 * 1024 * 1024
    refused(client, "POST", "/records/batch", 413, content=body)


def test_oversized_envelope(client, inspector):
    notes = [{"code": f"c{i}", "result": "minor", "note": "n" * 2000} for i in range(40)]
    env = inspector.envelope(inspection(items=notes))
    assert len(env) > 96 * 1024
    refused(client, "POST", "/records", 413, "attachments", content=env)


def test_oversized_entry(client, inspector):
    """An envelope under the 96 KiB limit whose entry would pass 65,535 bytes."""
    notes = [{"code": f"c{i}", "result": "minor", "note": "n" * 1900} for i in range(26)]
    env = inspector.envelope(inspection(items=notes))
    assert 65_535 < len(env) < 96 * 1024
    refused(client, "POST", "/records", 413, "65535", content=env)


# ---- path traversal -----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/log/tile/..%2f..",
        "/log/tile/0/%2e%2e/x",
        "/log/tile/..%2f..%2fconfig.json",
        "/log/tile/entries/..%2f..%2f..%2fadmin.token",
        "/log/tile/%2e%2e/%2e%2e/log.key",
        "/attachments/..%2fconfig.json",
        "/attachments/..%2fadmin.token",
        "/attachments/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/attachments/..%5cconfig.json",
    ],
)
def test_path_traversal(client, sqlite_ledger, url):
    data_dir = sqlite_ledger.settings.data_dir
    secrets = [
        sqlite_ledger.settings.admin_token().encode(),
        (data_dir / "config.json").read_bytes().strip(),
        (data_dir / "log.key").read_bytes().strip(),
        (data_dir / "operator.key").read_bytes().strip(),
        b"PRIVATE KEY",
        b"root:",
    ]
    before = log_size(client)
    r = client.get(url)
    assert r.status_code != 200
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    for secret in secrets:
        assert secret not in r.content
    assert log_size(client) == before


# ---- personal data never published ------------------------------------------------------


BUYER_NAME = "Johanna Quistorp-Wendeling"
BUYER_PHONE = "+49 171 5550123"


def test_no_personal_data_in_public_responses(client, sqlite_ledger, inspector):
    dealer = onboard(sqlite_ledger, "honest-motors", "dealer")  # its name is public by design
    registry = onboard(sqlite_ledger, "kba-registry", "registry")
    assert client.post("/records", content=inspector.envelope(inspection())).status_code == 201
    # Made as docs/formats.md says ("Owner commitments"): a random salt, kept by the
    # registry, before the owner's identifier. Without it, the hash of a guessed name
    # and phone number would be the commitment, and the scan below would pass while
    # anyone could confirm the guess offline.
    salt = secrets.token_bytes(32)
    commitment = hashlib.sha256(salt + BUYER_PHONE.encode()).hexdigest()
    guesses = [BUYER_NAME, BUYER_PHONE, BUYER_NAME + BUYER_PHONE, BUYER_PHONE.replace(" ", "")]
    assert all(hashlib.sha256(g.encode()).hexdigest() != commitment for g in guesses)

    # A transfer that names the owner is refused, so nothing of it is ever stored.
    transfer = {
        "kind": "transfer",
        "vin": VIN,
        "occurred_at": "2026-05-06T10:00:00Z",
        "owner_commitment": commitment,
        "owner_name": f"{BUYER_NAME}, {BUYER_PHONE}",
    }
    refused(client, "POST", "/records", 422, "owner_name", content=registry.envelope(transfer))
    # The same, inside a batch.
    body = b'{"envelopes":[' + registry.envelope(transfer) + b"]}"
    before = log_size(client)
    r = client.post("/records/batch", content=body)
    assert r.status_code == 200 and r.json()["results"][0]["status"] == 422
    assert log_size(client) == before

    # A sale carries the buyer only as a commitment.
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-07T10:00:00Z",
        "odometer_km": 48_400,
        "dealer": "honest-motors",
        "buyer_commitment": commitment,
    }
    assert client.post("/records", content=dealer.envelope(sale)).status_code == 201

    size = log_size(client)
    urls = [
        f"/vehicles/{VIN}",
        f"/vehicles/{VIN}?lang=zh",
        f"/vehicles/{VIN}/history",
        f"/vehicles/{VIN}/bundle",
        f"/vehicles/{VIN}/sticker",
        f"/vehicles/{VIN}/badge.svg",
        "/log/checkpoint",
        f"/log/tile/{format_tile_path(None, 0, size)}",
        f"/log/tile/{format_tile_path(0, 0, size)}",
        *[f"/log/proof/entry/{i}" for i in range(size)],
    ]
    public = []
    for url in urls:
        r = client.get(url)
        assert r.status_code == 200, (url, r.text[:300])
        public.append((url, r.content))
    # Signed payloads travel base64-encoded inside entries: look inside them too.
    bundle = dict(public)[f"/log/tile/{format_tile_path(None, 0, size)}"]
    for entry in decode_entry_bundle(bundle):
        payload = base64.b64decode(json.loads(entry)["envelope"]["payload"])
        public.append(("payload", payload))

    assert any(b"Honest Motors" in body for _, body in public), "the public scan saw no actor"
    needles = [BUYER_NAME, BUYER_PHONE, BUYER_PHONE.replace(" ", ""), "Quistorp", "5550123"]
    for url, body in public:
        text = body.decode("utf-8", errors="replace")
        for needle in needles:
            assert needle not in text, f"{needle!r} is published at {url}"
            assert needle.encode().hex() not in text
            assert _b64(needle.encode()) not in text


# ---- found by fuzzing: invalid UTF-8 inside signed JSON is a 4xx, not a 500 ----------


@pytest.mark.parametrize(
    "payload_type", [dsse.PAYLOAD_TYPE, "application/vnd.vinledger.inspection+json"]
)
@pytest.mark.parametrize("route", ["/records", "/records/batch"])
def test_signed_payload_with_invalid_utf8(client, inspector, payload_type, route):
    payload = json.dumps(inspection()).encode().replace(b'"B"', b'"\xff"')
    env = dsse.encode_envelope(dsse.sign_envelope(payload, inspector.key, payload_type))
    if route == "/records":
        refused(client, "POST", route, 422, content=env)
    else:
        before = log_size(client)
        r = client.post(route, content=b'{"envelopes":[' + env + b"]}")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["results"][0]["status"] == 422
        assert log_size(client) == before


@pytest.mark.parametrize("body", [b'{"\xff": []}', b'{"envelopes": [], "\xe6": 1}'])
def test_batch_body_with_invalid_utf8(client, body):
    refused(client, "POST", "/records/batch", 400, content=body)


# ---- JSON nested past the parser's limit, wherever a body or payload is parsed ----------

DEEP = b"[" * 5000 + b"]" * 5000


def test_a_batch_body_nested_too_deep(client):
    body = b'{"envelopes":' + DEEP + b"}"
    refused(client, "POST", "/records/batch", 400, "too deeply", content=body)


def test_a_provider_report_nested_too_deep(client, inspector):
    report = b'{"x":' + DEEP + b"}"
    ptype = "application/vnd.checklist.inspection-report+json"
    env = dsse.sign_envelope(report, inspector.key, payload_type=ptype)
    refused(client, "POST", "/records", 422, "too deeply", content=dsse.encode_envelope(env))


def test_a_referral_nested_too_deep(client, sqlite_ledger):
    amy = Partner("ref-amy", "referrer", generate_private_key())
    sqlite_ledger.add_actor("ref-amy", "Amy", "referrer", amy.public_pem)
    body = (
        b'{"code":"DEEP","rule":"flat","params":{"a":' + DEEP + b'},"model":"5YJ/2017",'
        b'"region":"DE"}'
    )
    env = dsse.sign_envelope(body, amy.key, payload_type="application/vnd.vinledger.referral+json")
    r = client.post("/referrals", content=dsse.encode_envelope(env))
    assert_problem(r, 422, "too deeply")
