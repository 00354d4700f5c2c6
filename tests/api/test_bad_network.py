"""Partners on a bad network: a phone hotspot at a car lot, a flaky VPN.

Between the partner and a real server sits a proxy that drops the answer after the
ledger acted, cuts it half way, answers with a gateway's or a hotspot's HTML page, or
is slow. Whatever happens, nothing is logged twice; and what the partner is told says
whether the record may have been logged, and that running the same command again is
safe (it answers with the entry) — never "wrong URL" for a gateway's 504."""

from __future__ import annotations

import json
import socket
import threading
import time

import httpx
import pytest

from api.client import ClientError, NoAnswer, VinledgerClient
from core import dsse
from core.keys import load_private_key
from tests.api.test_errors_cli import log_size, partner
from tests.conftest import VIN, free_port, inspection, vinledger

_GATEWAY_PAGE = b"<html><body><h1>504 Gateway Time-out</h1><hr>nginx</body></html>"
_LOGIN_PAGE = b"<html><body><h1>Hotspot login</h1><form>...</form></body></html>"


class FaultProxy:
    """A one-request-per-connection HTTP proxy whose ``mode`` says what goes wrong:
    ``pass``; ``drop`` (forward, then close without answering); ``half`` (forward, then
    send half the answer); ``gateway`` (forward, then answer a 504 page itself, with
    ``Retry-After: 7``); ``login`` (answer a hotspot's login page, forward nothing);
    ``slow`` (forward, wait 3 s, then answer); ``not-a-receipt`` (forward, then answer
    200 with some other JSON); ``cdn`` (forward, then a CDN's 524); ``bad-gzip`` (forward,
    then a body that is not the gzip it says); ``firewall`` (a 403 page, forward nothing);
    ``to-https`` (a redirect to https, forward nothing)."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.mode = "pass"
        self.forwarded = 0
        self.sock = socket.create_server(("127.0.0.1", free_port()))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:])
            length = int(headers.get("content-length", headers.get("Content-Length", "0")))
            while len(body) < length:
                body += conn.recv(65536)
            mode = self.mode
            if mode == "login":
                conn.sendall(_answer(200, "OK", "text/html", _LOGIN_PAGE))
                return
            if mode == "firewall":
                conn.sendall(_answer(403, "Forbidden", "text/html", b"<h1>Blocked</h1>"))
                return
            if mode == "to-https":
                location = f"https://127.0.0.1{path}"
                conn.sendall(_answer(301, "Moved Permanently", "text/html", b"", location=location))
                return
            r = httpx.request(
                method,
                self.upstream + path,
                content=body,
                headers={"content-type": headers.get("content-type", "application/json")},
            )
            self.forwarded += 1
            answer = _answer(r.status_code, r.reason_phrase, r.headers["content-type"], r.content)
            if mode == "drop":
                return
            if mode == "half":
                conn.sendall(answer[: len(answer) // 2])
            elif mode == "gateway":
                page = _answer(504, "Gateway Time-out", "text/html", _GATEWAY_PAGE, retry=7)
                conn.sendall(page)
            elif mode == "not-a-receipt":
                conn.sendall(_answer(200, "OK", "application/json", b'{"message":"OK"}'))
            elif mode == "cdn":
                conn.sendall(_answer(524, "A Timeout Occurred", "text/html", b"<h1>524</h1>"))
            elif mode == "bad-gzip":
                conn.sendall(_answer(200, "OK", "application/json", b"not gzip", gzip=True))
            else:
                if mode == "slow":
                    time.sleep(3)
                conn.sendall(answer)

    def close(self) -> None:
        self.sock.close()


def _answer(
    status: int,
    reason: str,
    kind: str,
    body: bytes,
    retry: int | None = None,
    location: str | None = None,
    gzip: bool = False,
) -> bytes:
    extra = f"Retry-After: {retry}\r\n" if retry is not None else ""
    extra += f"Location: {location}\r\n" if location is not None else ""
    extra += "Content-Encoding: gzip\r\n" if gzip else ""
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}"
        f"\r\n{extra}Connection: close\r\n\r\n"
    )
    return head.encode() + body


@pytest.fixture
def setup(server, tmp_path):
    url, _, data = server
    key = partner(tmp_path, data, "Acme Inspections", "inspector")
    proxy = FaultProxy(url)
    yield url, proxy, key
    proxy.close()


def _record(tmp_path, minute: int):
    path = tmp_path / f"inspection-{minute}.json"
    path.write_text(json.dumps(inspection(occurred_at=f"2026-05-04T09:{minute:02d}:00Z")))
    return path


def _submit(record, key, url: str, *extra: str):
    return vinledger("submit", str(record), "--key", str(key), "--url", url, *extra, check=False)


@pytest.mark.parametrize("mode", ["drop", "half", "gateway", "cdn", "bad-gzip", "not-a-receipt"])
def test_a_lost_answer_says_it_may_be_logged_and_the_same_command_again_is_safe(
    setup, tmp_path, mode
):
    url, proxy, key = setup
    record = _record(tmp_path, 1)
    before = log_size(url)
    proxy.mode = mode
    r = _submit(record, key, proxy.url)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and "It may have been logged" in r.stderr, r.stderr
    assert "send the same envelope again, unchanged" in r.stderr
    assert "Not a vinledger ledger" not in r.stderr and "could not connect" not in r.stderr
    if mode in ("gateway", "cdn"):
        assert "gateway in front of the ledger" in r.stderr, r.stderr
    assert log_size(url) == before + 1  # it was: the ledger acted before the answer was lost

    proxy.mode = "pass"
    again = _submit(record, key, proxy.url)
    assert again.returncode == 0, again.stderr
    assert f"already in the log: entry {before}" in again.stdout, again.stdout
    assert log_size(url) == before + 1  # and once


def test_a_slow_answer_waits_as_long_as_told(setup, tmp_path):
    url, proxy, key = setup
    proxy.mode = "slow"
    before = log_size(url)
    r = _submit(_record(tmp_path, 2), key, proxy.url, "--timeout", "1")
    assert r.returncode == 1 and "no answer within 1 s" in r.stderr, r.stderr
    assert "It may have been logged" in r.stderr
    r = _submit(_record(tmp_path, 3), key, proxy.url, "--timeout", "10")
    assert r.returncode == 0 and "appended: entry" in r.stdout, r.stderr
    assert log_size(url) == before + 2


def test_a_hotspot_login_page_is_named_as_such_and_nothing_is_logged(setup, tmp_path):
    url, proxy, key = setup
    proxy.mode = "login"
    before = log_size(url)
    r = _submit(_record(tmp_path, 4), key, proxy.url)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert "Not the ledger's answer" in r.stderr and "log in" in r.stderr, r.stderr
    assert proxy.forwarded == 0 and log_size(url) == before


def test_a_ledger_that_cannot_be_reached_says_nothing_was_sent(setup, tmp_path):
    _, _, key = setup
    r = _submit(_record(tmp_path, 5), key, f"http://127.0.0.1:{free_port()}")
    assert r.returncode == 1 and "Could not reach the ledger" in r.stderr, r.stderr
    assert "nothing was sent" in r.stderr and "may have been logged" not in r.stderr


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("firewall", "Refused on the way"),
        ("to-https", "Give the ledger's https address: https://127.0.0.1"),
    ],
)
def test_what_refuses_the_request_on_the_way_says_nothing_was_logged(setup, tmp_path, mode, said):
    url, proxy, key = setup
    proxy.mode = mode
    before = log_size(url)
    r = _submit(_record(tmp_path, 7), key, proxy.url)
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    assert said in r.stderr and "may have been logged" not in r.stderr, r.stderr
    assert proxy.forwarded == 0 and log_size(url) == before


def test_a_url_that_is_no_url_is_said_so(setup, tmp_path):
    _, _, key = setup
    r = _submit(_record(tmp_path, 8), key, "http://127.0.0.1:port")
    assert r.returncode == 1 and "is not a URL" in r.stderr and "Traceback" not in r.stderr


def test_a_batch_whose_answer_was_lost_is_sent_again_and_answers_every_entry(setup, tmp_path):
    url, proxy, key = setup
    signer = load_private_key(key.read_bytes())
    envelopes = [
        dsse.sign_envelope(
            json.dumps(inspection(occurred_at=f"2026-05-04T10:{m:02d}:00Z")).encode(), signer
        )
        for m in range(12)
    ]
    before = log_size(url)
    proxy.mode = "drop"
    with VinledgerClient(proxy.url) as client:
        with pytest.raises(NoAnswer) as lost:
            client.submit_batch(envelopes)
        assert lost.value.sent and isinstance(lost.value, ClientError)
        assert "It may have been logged" in str(lost.value)
        proxy.mode = "gateway"
        with pytest.raises(ClientError) as gateway:
            client.submit_batch(envelopes)
        assert gateway.value.status == 504 and gateway.value.retry_after == 7
        proxy.mode = "pass"
        results = client.submit_batch(envelopes)
    assert [r["status"] for r in results] == [200] * 12
    assert sorted(r["index"] for r in results) == list(range(before, before + 12))
    assert log_size(url) == before + 12


def test_reads_through_a_login_page_are_errors_not_data(setup):
    _, proxy, _ = setup
    proxy.mode = "login"
    with VinledgerClient(proxy.url) as client:
        for read in (client.checkpoint, client.vkey, lambda: client.history(VIN)):
            with pytest.raises(ClientError, match="Not the ledger's answer"):
                read()
