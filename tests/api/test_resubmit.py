"""The same envelope again answers with the same entry, whatever became of its key:
a partner who lost a receipt gets it back after its key was revoked."""

from __future__ import annotations

import base64
import json

import msgspec
from litestar.testing import TestClient

from api.app import create_app
from ledger.audit import audit
from tests.conftest import inspection, onboard


def test_a_receipt_can_be_asked_for_again_after_the_key_is_revoked(sqlite_ledger, monkeypatch):
    monkeypatch.setattr("api.service_checks.KEY_CACHE_SECONDS", 0.0)  # as if seconds had passed
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    env = inspector.envelope(inspection())
    with TestClient(create_app(sqlite_ledger)) as client:
        first = client.post("/records", content=env)
        assert first.status_code == 201, first.text
        sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
        size = int(client.get("/log/checkpoint").text.split("\n")[1])
        again = client.post("/records", content=env)
        assert again.status_code == 200, again.text
        assert again.json()["index"] == first.json()["index"]
        assert again.json()["leaf_hash"] == first.json()["leaf_hash"]
        fresh = client.post("/records", content=inspector.envelope(inspection(day=9)))
        assert fresh.status_code == 403 and "revoked" in fresh.json()["detail"]
        assert int(client.get("/log/checkpoint").text.split("\n")[1]) == size


def test_a_record_dated_in_the_future_is_refused(sqlite_ledger):
    from datetime import UTC, datetime, timedelta

    inspector = onboard(sqlite_ledger, "acme", "inspector")

    def at(delta: timedelta) -> str:
        return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")

    with TestClient(create_app(sqlite_ledger)) as client:
        size = client.get("/log/checkpoint").text
        for ahead in (timedelta(hours=1), timedelta(days=3 * 365)):
            record = {**inspection(), "occurred_at": at(ahead)}
            r = client.post("/records", content=inspector.envelope(record))
            assert r.status_code == 422, r.text
            assert "is in the future" in r.json()["detail"]
            assert r.headers["content-type"].startswith("application/problem+json")
        assert client.get("/log/checkpoint").text == size
        # A partner's clock a little ahead of the ledger's is fine.
        record = {**inspection(), "occurred_at": at(timedelta(minutes=2))}
        assert client.post("/records", content=inspector.envelope(record)).status_code == 201


def test_a_receipt_is_answered_whatever_check_the_envelope_would_fail_now(sqlite_ledger):
    """Here: the ledger's clock was set back, so the record now looks future-dated."""
    from datetime import UTC, datetime

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    env = inspector.envelope(inspection())  # dated 2026-05-04
    with TestClient(create_app(sqlite_ledger)) as client:
        first = client.post("/records", content=env)
        assert first.status_code == 201, first.text
        sqlite_ledger.clock = lambda: datetime(2026, 1, 1, tzinfo=UTC)
        again = client.post("/records", content=env)
        assert again.status_code == 200, again.text
        assert again.json()["index"] == first.json()["index"]
        fresh = client.post("/records", content=inspector.envelope(inspection(day=9)))
        assert fresh.status_code == 422 and "in the future" in fresh.json()["detail"]


def test_a_correction_cannot_move_a_date_into_the_future(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    [inspected] = sqlite_ledger.submit_now([inspector.envelope(inspection())])
    fix = {
        "kind": "correction",
        "vin": inspected_vin(inspected),
        "occurred_at": "2026-05-05T09:00:00Z",
        "corrects": inspected.index,
        "reason": "wrong date",
        "fields": {"occurred_at": "2099-01-01T00:00:00Z"},
    }
    [refused] = sqlite_ledger.submit_now([inspector.envelope(fix)])
    assert refused.status == 422 and refused.field == "$.fields.occurred_at", refused


def inspected_vin(appended) -> str:
    from ledger.entry import decode_entry

    return decode_entry(appended.entry).vin


def test_a_logged_envelope_that_repeats_a_key_still_gets_its_receipt(sqlite_ledger):
    """Logged before repeated keys were refused: asked for again, it answers its entry."""
    import json

    from core import dsse

    inspector = onboard(sqlite_ledger, "acme", "inspector")
    record = json.dumps(inspection()).encode()
    repeated = record[:-1] + b', "inspector": "INS-0042"}'
    env = dsse.sign_envelope(repeated, inspector.key)
    raw = dsse.encode_envelope(env)
    sub = sqlite_ledger._check(dsse.decode_envelope(raw, payload_keys=False))  # as before
    [logged] = sqlite_ledger.sequencer.sequence([sub])
    with TestClient(create_app(sqlite_ledger)) as client:
        again = client.post("/records", content=raw)
        assert again.status_code == 200, again.text
        assert again.json()["index"] == logged.index
        fresh = dsse.encode_envelope(
            dsse.sign_envelope(repeated.replace(b"48210", b"48211"), inspector.key)
        )
        r = client.post("/records", content=fresh)
        assert r.status_code == 422 and "repeats the key" in r.json()["detail"]


def test_a_correction_dated_out_of_range_is_a_422_not_a_500(sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    [inspected] = sqlite_ledger.submit_now([inspector.envelope(inspection())])
    for at in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        fix = {
            "kind": "correction",
            "vin": inspected_vin(inspected),
            "occurred_at": "2026-05-05T09:00:00Z",
            "corrects": inspected.index,
            "reason": "wrong date",
            "fields": {"occurred_at": at},
        }
        [refused] = sqlite_ledger.submit_now([inspector.envelope(fix)])
        assert refused.status == 422, refused


def _with_junk_signature(env: bytes, first: bool = False) -> bytes:
    """The envelope with a signature by a key no one holds added (any 64 bytes)."""
    doc = json.loads(env)
    junk = {"keyid": "22" * 32, "sig": base64.b64encode(bytes(range(64))).decode()}
    doc["signatures"] = [junk, *doc["signatures"]] if first else [*doc["signatures"], junk]
    return json.dumps(doc).encode()


def _with_signature_repeated(env: bytes, respelled: bool = False) -> bytes:
    """The envelope with its own signature twice (the copy URL-safe and unpadded)."""
    doc = json.loads(env)
    (sig,) = doc["signatures"]
    copy = dict(sig)
    if respelled:
        raw = base64.b64decode(sig["sig"])
        copy["sig"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    doc["signatures"] = [sig, copy]
    return json.dumps(doc).encode()


def test_an_envelope_signed_more_than_once_is_refused_and_never_logs_a_record_again(
    sqlite_ledger, monkeypatch
):
    """Anyone can copy an envelope from the public log. With a signature added (any
    key's, or the signer's own again, however spelled) or taken away from a co-signed
    one, it must never be appended a second time: the ledger takes envelopes signed
    once, and answers any other with a 400 that says so, appending nothing."""
    from core.keys import generate_private_key
    from tests.conftest import Partner

    monkeypatch.setattr("api.service_checks.KEY_CACHE_SECONDS", 0.0)
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    other = onboard(sqlite_ledger, "bravo", "inspector")
    rotated = Partner("acme", "inspector", generate_private_key())
    env = inspector.envelope(inspection())
    copies = (
        _with_junk_signature(env),
        _with_junk_signature(env, first=True),
        _with_signature_repeated(env),
        _with_signature_repeated(env, respelled=True),
        _signed_by(inspection(), other, inspector),
        _signed_by(inspection(), rotated, inspector),
    )
    with TestClient(create_app(sqlite_ledger)) as client:
        first = client.post("/records", content=env).json()
        size = client.get("/log/checkpoint").text

        def refused(copy: bytes) -> None:
            r = client.post("/records", content=copy)
            assert r.status_code == 400, r.text
            assert r.json()["field"] == "signatures" and "sign it once" in r.json()["detail"]
            assert client.get("/log/checkpoint").text == size

        for copy in copies:
            refused(copy)
        body = b'{"envelopes":[' + _with_junk_signature(env) + b"]}"
        (result,) = client.post("/records/batch", content=body).json()["results"]
        assert result["status"] == 400
        sqlite_ledger.add_actor("acme", "Acme", "inspector", rotated.public_pem)  # rotation
        size = client.get("/log/checkpoint").text
        for copy in copies:
            refused(copy)
        again = client.post("/records", content=env)  # the envelope itself: its entry
        assert again.status_code == 200 and again.json()["index"] == first["index"]
    audit(sqlite_ledger.store, sqlite_ledger.vkey)


def _signed_by(record: dict, *partners) -> bytes:
    """One envelope of ``record`` with a signature by each of ``partners``, in order."""
    from core import dsse

    payload = json.dumps(record).encode()
    sigs = [dsse.sign_envelope(payload, p.key).signatures[0] for p in partners]
    env = dsse.sign_envelope(payload, partners[0].key)
    return dsse.encode_envelope(msgspec.structs.replace(env, signatures=sigs))
