"""Refusals name the field to fix, as a JSON path into the record (``$.vin``) or the
envelope's own field name (``signatures[0].keyid``), and say what to do."""

from __future__ import annotations

import hashlib
import json

import pytest

from core.errors import Conflict
from core.keys import generate_private_key
from tests.api.test_errors_http import refused
from tests.conftest import VIN, Partner, inspection, maintenance, onboard

OTHER_VIN = "2T1BURHE1JC123458"


@pytest.fixture
def inspector(sqlite_ledger):
    return onboard(sqlite_ledger, "acme", "inspector")


def _with_keyid(env: bytes, keyid: str) -> dict:
    doc = json.loads(env)
    doc["signatures"][0]["keyid"] = keyid
    return doc


def test_a_keyid_that_is_no_key_id_says_what_a_key_id_is(client, inspector):
    env = _with_keyid(inspector.envelope(inspection()), "0x" + inspector.keyid[:62])
    body = refused(client, "POST", "/records", 403, "64 lowercase hex", json=env)
    assert body["field"] == "signatures[0].keyid"


def test_a_key_id_computed_from_the_pem_points_at_the_rule_not_the_operator(client, inspector):
    wrong = hashlib.sha256(inspector.public_pem).hexdigest()  # a common mistake
    env = _with_keyid(inspector.envelope(inspection()), wrong)
    body = refused(client, "POST", "/records", 403, "raw 32-byte", "not of its PEM", json=env)
    assert body["field"] == "signatures[0].keyid"


def test_a_correction_of_a_trust_entry_says_so_without_a_none(client, inspector):
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-05T09:00:00Z",
        "corrects": 1,  # the operator's key grant
        "reason": "typo",
        "fields": {"odometer_km": 1},
    }
    body = refused(
        client,
        "POST",
        "/records",
        422,
        "entry 1 is a key_grant entry",
        content=inspector.envelope(fix),
    )
    assert body["field"] == "$.corrects" and "None" not in body["detail"]


def test_a_correction_naming_another_vehicles_entry_is_422_naming_the_vin(client, inspector):
    first = client.post("/records", content=inspector.envelope(inspection(vin=OTHER_VIN)))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-05T09:00:00Z",
        "corrects": first.json()["index"],
        "reason": "typo",
        "fields": {"odometer_km": 48_211},
    }
    body = refused(
        client,
        "POST",
        "/records",
        422,
        f"about VIN {OTHER_VIN}, not {VIN}",
        content=inspector.envelope(fix),
    )
    assert body["field"] == "$.vin"


def test_a_role_refusal_names_the_kind(client, inspector):
    body = refused(
        client,
        "POST",
        "/records",
        403,
        "may not submit 'maintenance'",
        content=inspector.envelope(maintenance()),
    )
    assert body["field"] == "$.kind"


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"vin": VIN[:8] + "4" + VIN[9:]}, "$.vin", "check digit"),
        ({"occurred_at": "2099-01-01T00:00:00Z"}, "$.occurred_at", "in the future"),
        ({"occurred_at": "1899-01-01T00:00:00Z"}, "$.occurred_at", "before 1980"),
    ],
)
def test_record_fields_are_named_as_json_paths(client, inspector, change, field, words):
    body = refused(
        client,
        "POST",
        "/records",
        422,
        words,
        content=inspector.envelope({**inspection(), **change}),
    )
    assert body["field"] == field


def test_a_batchs_refusals_say_which_envelope(client, inspector):
    good = inspector.envelope(inspection())
    bad = inspector.envelope({**inspection(km=1), "occurred_at": "1899-01-01T00:00:00Z"})
    r = client.post("/records/batch", json={"envelopes": [json.loads(good), json.loads(bad)]})
    first, second = r.json()["results"]
    assert first["status"] == 201
    assert second["status"] == 422 and second["instance"] == "/records/batch#/envelopes/1"


def test_the_admin_api_says_how_to_authenticate(client, inspector):
    r = client.get(f"/admin/keys/{inspector.keyid}")
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    bad_signature = json.loads(inspector.envelope(inspection()))
    bad_signature["signatures"][0]["sig"] = "A" * 86 + "=="
    r = client.post("/records", json=bad_signature)
    # Every 401 names a challenge (RFC 9110): a signature's is the envelope's own, not
    # the admin API's token, which would not help.
    assert r.status_code == 401 and r.headers["www-authenticate"] == 'DSSE realm="vinledger"'


def test_the_same_operator_operation_within_a_second_is_not_reported_done(
    sqlite_ledger, monkeypatch
):
    """Grant, revoke and grant again within one second: the second grant signs the same
    bytes as the first. It must be refused, not answered with the first grant's entry
    while the key stays revoked."""
    import api.service

    monkeypatch.setattr(api.service, "now_rfc3339", lambda: "2026-06-01T10:00:00Z")
    key = generate_private_key()
    pem = Partner("acme", "inspector", key).public_pem
    sqlite_ledger.add_actor("acme", "Acme", "inspector", pem)
    keyid = Partner("acme", "inspector", key).keyid
    sqlite_ledger.revoke_key(keyid, "lost")
    with pytest.raises(Conflict, match="already in the log"):
        sqlite_ledger.add_actor("acme", "Acme", "inspector", pem)
    assert sqlite_ledger.key_status(keyid)["revoked_at_index"] is not None
