"""Large bodies cannot grow a worker's memory without bound: POST /records refuses a
body far beyond one envelope as it arrives, and POST /records/batch receives a body
(within a time limit, beyond 1 MiB to disk) and then handles a few batches at a time,
the others waiting, then told to come back (503 with Retry-After), with nothing
appended; a slow sender holds no turn."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from api.app import create_app
from api.routes import records
from tests.conftest import inspection, onboard

PROBLEM = "application/problem+json"


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.split("\n")[1])


@pytest.mark.parametrize("path", ["/records", "/referrals"])
def test_a_single_envelope_far_beyond_its_limit_is_refused_as_it_comes(client, path):
    before = size(client)
    body = b"x" * (records.MAX_SUBMIT_BYTES + 1)
    r = client.post(path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
    detail = r.json()["detail"]
    assert f"larger than {records.MAX_SUBMIT_BYTES:,} bytes" in detail
    if path == "/records":
        assert "attachments" in detail and "/records/batch" in detail
    else:
        assert "one signed referral" in detail and "records" not in detail
    assert size(client) == before


def test_a_batch_beyond_the_gate_waits_then_is_told_to_come_back(sqlite_ledger, monkeypatch):
    """Two batches held at once (the first's check blocked), the limit one: the second
    waits its time and gets 503 busy with Retry-After, unread; once the first is done,
    the same request goes through."""
    monkeypatch.setattr(records, "BATCHES_AT_ONCE", 1)
    monkeypatch.setattr(records, "BATCH_WAIT_SECONDS", 0.5)
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    first = b'{"envelopes": [' + inspector.envelope(inspection(day=11)) + b"]}"
    second = b'{"envelopes": [' + inspector.envelope(inspection(day=12)) + b"]}"
    app = create_app(sqlite_ledger)
    release = asyncio.Event()
    real_submit = sqlite_ledger.submit

    async def slow_submit(raws):
        # Bounded: were there no gate, the second batch would end up here too.
        await asyncio.wait_for(release.wait(), 5)
        return await real_submit(raws)

    monkeypatch.setattr(sqlite_ledger, "submit", slow_submit)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            held = asyncio.create_task(c.post("/records/batch", content=first))
            await asyncio.sleep(0.1)  # the first holds the gate
            busy = await c.post("/records/batch", content=second)
            release.set()
            done = await held
            again = await c.post("/records/batch", content=second)
            return busy, done, again

    busy, done, again = asyncio.run(scenario())
    assert busy.status_code == 503, busy.text
    assert busy.headers["content-type"].startswith(PROBLEM)
    assert busy.headers["retry-after"] == "5"
    assert busy.json()["type"].endswith("/busy") and "send it again" in busy.json()["detail"]
    assert done.status_code == 200 and done.json()["results"][0]["status"] == 201
    assert again.status_code == 200 and again.json()["results"][0]["status"] == 201
    assert again.json()["results"][0]["index"] == done.json()["results"][0]["index"] + 1


@pytest.mark.parametrize("bad", [b"not json", b'{"envelopes": []}'])
def test_the_gate_is_given_back_after_a_refused_batch(client, bad):
    for _ in range(records.BATCHES_AT_ONCE + 2):
        r = client.post("/records/batch", content=bad)
        assert r.status_code == 400, r.text


def test_a_body_sent_too_slowly_is_refused(sqlite_ledger, monkeypatch):
    """A batch's body must arrive in time (408, nothing appended); the next one goes
    through."""
    monkeypatch.setattr(records, "BATCHES_AT_ONCE", 1)
    monkeypatch.setattr(records, "BATCH_BODY_SECONDS", 0.3)
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    body = b'{"envelopes": [' + inspector.envelope(inspection(day=11)) + b"]}"
    app = create_app(sqlite_ledger)

    async def trickle():
        yield body[:10]
        await asyncio.sleep(1.0)
        yield body[10:]

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            slow = await c.post("/records/batch", content=trickle())
            fine = await c.post("/records/batch", content=body)
            return slow, fine

    slow, fine = asyncio.run(scenario())
    assert slow.status_code == 408 and slow.headers["content-type"].startswith(PROBLEM)
    assert "did not arrive within 0.3 s" in slow.json()["detail"]
    assert fine.status_code == 200 and fine.json()["results"][0]["status"] == 201


def test_a_slow_sender_holds_no_turn(sqlite_ledger, monkeypatch):
    """Bodies are received before a batch takes its turn: while one client trickles its
    batch, another's goes through at once, even with a single turn."""
    monkeypatch.setattr(records, "BATCHES_AT_ONCE", 1)
    monkeypatch.setattr(records, "BATCH_WAIT_SECONDS", 0.5)
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    slow_body = b'{"envelopes": [' + inspector.envelope(inspection(day=11)) + b"]}"
    fast_body = b'{"envelopes": [' + inspector.envelope(inspection(day=12)) + b"]}"
    app = create_app(sqlite_ledger)

    async def trickle():
        for i in range(0, len(slow_body), 64):
            yield slow_body[i : i + 64]
            await asyncio.sleep(0.05)

    async def scenario():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            slow = asyncio.create_task(c.post("/records/batch", content=trickle()))
            await asyncio.sleep(0.2)
            fast = await c.post("/records/batch", content=fast_body)
            was_slow_done = slow.done()
            return fast, was_slow_done, await slow

    fast, was_slow_done, slow = asyncio.run(scenario())
    assert not was_slow_done  # the slow one was still sending
    assert fast.status_code == 200 and fast.json()["results"][0]["status"] == 201
    assert slow.status_code == 200 and slow.json()["results"][0]["status"] == 201
