"""What users ran into through the HTTP API: each refusal is an RFC 9457 problem that
says what to fix, and leaves the log as it was."""

from __future__ import annotations

import json

import pytest

from core.keys import generate_private_key, public_key_pem
from tests.conftest import VIN, inspection, onboard

PROBLEM = "application/problem+json"
OTHER_VIN = "2T1BURHE1JC123458"


@pytest.fixture
def inspector(sqlite_ledger):
    return onboard(sqlite_ledger, "acme", "inspector")


@pytest.fixture
def admin(sqlite_ledger):
    return {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}


def log_size(client) -> int:
    return int(client.get("/log/checkpoint").text.split("\n")[1])


def refused(client, method: str, url: str, status: int, *words: str, **kwargs) -> dict:
    before = log_size(client)
    r = client.request(method, url, **kwargs)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    for w in words:
        assert w in body["detail"], body
    assert log_size(client) == before
    return body


# ---- 1. a repeated key in a signed record -------------------------------------------------


def test_a_record_naming_two_vins_is_refused_not_filed_under_the_second(client, inspector):
    payload = json.dumps(inspection()).encode()
    payload = payload.replace(b'"vin": ', f'"vin": "{VIN}", "vin": '.encode(), 1)
    payload = payload.replace(f'"vin": "{VIN}"'.encode(), f'"vin": "{OTHER_VIN}"'.encode(), 2)
    assert payload.count(b'"vin"') == 2
    from core import dsse

    env = dsse.encode_envelope(dsse.sign_envelope(payload, inspector.key))
    body = refused(client, "POST", "/records", 422, '"vin"', content=env)
    assert body["field"] == "$.vin"
    batch = b'{"envelopes":[' + env + b"]}"
    r = client.post("/records/batch", content=batch)
    assert r.status_code == 200 and r.json()["results"][0]["field"] == "$.vin"
    assert client.get(f"/vehicles/{OTHER_VIN}/history").status_code == 404


# ---- 2. sentences, not regexes --------------------------------------------------------------


def test_a_bad_price_says_what_an_amount_is(client, sqlite_ledger):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-04T09:30:00Z",
        "dealer": "bay-auto",
        "price": {"amount": "-5", "currency": "EUR"},
    }
    body = refused(
        client, "POST", "/records", 422, 'e.g. "18500.00"', content=dealer.envelope(sale)
    )
    assert body["field"] == "$.price.amount" and "regex" not in body["detail"]


@pytest.mark.parametrize(
    "keyid, words",
    [("nothex", ["64 lowercase hex characters", "vinledger keygen"]), ("AB" * 32, ["lowercase"])],
)
def test_a_bad_key_id_in_the_admin_api_is_explained(client, admin, keyid, words):
    body = refused(client, "POST", f"/admin/keys/{keyid}/revoke", 400, *words, headers=admin)
    assert body["field"] == "keyid" and "regex" not in body["detail"]
    refused(client, "GET", f"/admin/keys/{keyid}", 400, *words, headers=admin)


def test_an_uppercase_keyid_in_an_envelope_is_explained(client, inspector):
    env = json.loads(inspector.envelope(inspection()))
    env["signatures"][0]["keyid"] = inspector.keyid.upper()
    refused(client, "POST", "/records", 400, "lowercase hex", inspector.keyid, json=env)


# ---- 3. admin bodies -----------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{}, {"content": b""}, {"json": {}}])
def test_a_revocation_needs_no_body(client, admin, inspector, kwargs):
    r = client.post(f"/admin/keys/{inspector.keyid}/revoke", headers=admin, **kwargs)
    assert r.status_code == 201, r.text
    status = client.get(f"/admin/keys/{inspector.keyid}", headers=admin).json()
    assert status["revoked_at_index"] == r.json()["entries"][0]["index"]


@pytest.mark.parametrize(
    "kwargs, field, words",
    [
        ({}, None, ["empty", "`actor_id`", "`public_key`"]),
        ({"json": {}}, "$.name", ["no `name`"]),
        ({"json": {"actor_id": "acme-two"}}, "$.name", ["no `name`", "`role`"]),
        ({"json": {"actor_id": "a", "nickname": "x"}}, "$.nickname", ["unknown field"]),
        ({"json": {"actor_id": 5}}, "$.actor_id", ["Expected `str | null`"]),
        ({"content": b'{"actor_id": '}, None, ["not valid JSON", "ends before"]),
    ],
)
def test_an_actor_body_names_what_is_missing(client, admin, kwargs, field, words):
    body = refused(client, "POST", "/admin/actors", 400, *words, headers=admin, **kwargs)
    assert body.get("field") == field
    assert "Validation failed" not in body["detail"] and "'data'" not in body["detail"]


def test_an_actor_with_a_bad_role_gets_the_roles(client, admin):
    actor = {
        "actor_id": "acme-two",
        "name": "Acme Two",
        "role": "mechanic",
        "public_key": public_key_pem(generate_private_key().public_key()).decode(),
    }
    body = refused(
        client, "POST", "/admin/actors", 422, "one of: operator", json=actor, headers=admin
    )
    assert body["field"] == "$.role"


# ---- 4. content types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/records",
        "/records/batch",
        "/referrals",
        "/admin/actors",
        "/admin/tokens",
        "/admin/records",
    ],
)
def test_a_form_body_is_415_with_the_curl_flag(client, admin, inspector, url):
    env = inspector.envelope(inspection())
    form = {"content-type": "application/x-www-form-urlencoded", **admin}
    body = refused(client, "POST", url, 415, "curl --data", "--json", content=env, headers=form)
    assert "application/json" in body["detail"]
    plain = {"content-type": "text/plain", **admin}
    refused(client, "POST", url, 415, "text/plain", content=env, headers=plain)


def test_revoke_checks_the_content_type_too(client, admin, inspector):
    headers = {"content-type": "text/plain", **admin}
    refused(client, "POST", f"/admin/keys/{inspector.keyid}/revoke", 415, "JSON", headers=headers)


@pytest.mark.parametrize(
    "content_type",
    [None, "application/json", "application/json; charset=utf-8", "application/vnd.x+json"],
)
def test_json_or_no_content_type_is_accepted(client, inspector, content_type):
    headers = {"content-type": content_type} if content_type else {}
    r = client.post("/records", content=inspector.envelope(inspection()), headers=headers)
    assert r.status_code == 201, r.text


# ---- 5. the server's body limit ----------------------------------------------------------------


def test_a_body_over_the_limit_states_the_limit_and_the_way_out(client):
    body = b"x" * (16 * 1024 * 1024 + 1)
    problem = refused(client, "POST", "/records/batch", 413, "16,777,216 bytes", content=body)
    assert "batch" in problem["detail"] and "SHA-256" in problem["detail"]
    assert "Request Entity Too Large" not in problem["detail"]


def test_an_unknown_path_says_so_not_just_not_found(client):
    refused(client, "POST", "/log/checkpoint", 405, "not allowed here", "/schema")
    refused(client, "POST", "/log/records", 404, "no such resource", "/schema")


def test_a_batch_that_names_its_list_twice_is_refused_not_half_read(client, inspector):
    a = inspector.envelope(inspection(day=11))
    b = inspector.envelope(inspection(day=12))
    before = client.get("/log/checkpoint").text
    body = b'{"envelopes": [' + a + b'], "envelopes": [' + b + b"]}"
    r = client.post("/records/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "more than once" in r.json()["detail"], r.text
    assert client.get("/log/checkpoint").text == before


def test_a_batch_list_named_twice_with_escapes_is_refused_and_a_keyid_is_no_list(client, inspector):
    a = inspector.envelope(inspection(day=13))
    b = inspector.envelope(inspection(day=14))
    before = client.get("/log/checkpoint").text
    body = b'{"envelopes": [' + a + b'], "\\u0065nvelopes": [' + b + b"]}"
    r = client.post("/records/batch", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400 and "more than once" in r.json()["detail"], r.text
    assert client.get("/log/checkpoint").text == before
    # The text "envelopes" inside an envelope is no second list: only that one is refused.
    odd = a.replace(b'"keyid":"', b'"keyid":"envelopes', 1)
    r = client.post("/records/batch", content=b'{"envelopes": [' + odd + b"," + b + b"]}")
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [403, 201]


@pytest.mark.parametrize(
    "url, field, words",
    [
        ("/log/proof/consistency?first=0&second=2", "first", ["query parameter `first`", ">= 1"]),
        ("/log/proof/consistency?first=x&second=2", "first", ["a whole number"]),
        ("/log/proof/inclusion?index=-1&size=2", "index", ["query parameter `index`", ">= 0"]),
    ],
)
def test_a_bad_query_parameter_is_invalid_input_naming_it(client, url, field, words):
    body = refused(client, "GET", url, 400, *words)
    assert body["type"].endswith("/invalid-input") and body["field"] == field
    assert "Validation failed" not in body["detail"] and "ParamType" not in body["detail"]


def test_a_refused_write_is_logged_for_the_operator_without_what_was_sent(
    client, sqlite_ledger, inspector
):
    # A partner whose key was revoked retries for hours: the operator sees it in the
    # server's log, by problem type, and nothing the partner sent is copied there.
    import logging

    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = seen.append
    logger = logging.getLogger("vinledger.api")
    logger.addHandler(handler)
    old_level, logger.level = logger.level, logging.INFO
    try:
        sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
        secret = inspection(findings="owner Jane Roe, +1 555 0100")
        refused(client, "POST", "/records", 403, content=inspector.envelope(secret))
        client.get(f"/vehicles/{OTHER_VIN}/history")  # a read refused is not logged
    finally:
        logger.removeHandler(handler)
        logger.level = old_level
    lines = [r.getMessage() for r in seen]
    assert lines == ["refused POST '/records': 403 key-revoked"], lines
    seen.clear()
    logger.addHandler(handler)
    try:  # a line break in the path is quoted, not a second, forged line
        client.post("/admin/keys/abc%0AINFO%20all%20good/revoke")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == [
        "refused POST '/admin/keys/abc\\nINFO all good/revoke': 401 unauthorized"
    ]
    seen.clear()
    logger.addHandler(handler)
    try:  # each envelope a batch refuses, by its place in the batch
        body = b'{"envelopes":[' + inspector.envelope(secret) + b"]}"
        assert client.post("/records/batch", content=body).status_code == 200
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in seen] == [
        "refused '/records/batch#/envelopes/0': 403 key-revoked"
    ]
    assert "Jane" not in repr([r.args for r in seen])
