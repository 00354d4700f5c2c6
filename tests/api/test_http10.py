"""A client speaking HTTP/1.0 (old scripts, some embedded devices at inspection lanes):
a body without Content-Length cannot be read, since HTTP/1.0 has no chunked encoding;
the answer says so (411), instead of taking it for an empty body (400)."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit


def raw(url: str, request: bytes) -> tuple[int, dict, bytes]:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as s:
        s.sendall(request)  # HTTP/1.0: the server closes the connection after its answer
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_an_http10_post_without_content_length_is_411_length_required(server):
    url, _, _ = server
    body = b'{"payload": "e30=", "payloadType": "application/vnd.vinledger.record+json"}'
    request = b"POST /records HTTP/1.0\r\nHost: ledger\r\nContent-Type: application/json\r\n\r\n"
    status, headers, answer = raw(url, request + body)
    assert status == 411, answer
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(answer)
    assert problem["status"] == 411 and problem["type"].endswith("/length-required")
    assert "Content-Length" in problem["detail"]
    # With its length, the same request is read and judged on what it holds.
    sized = request.replace(b"\r\n\r\n", f"\r\nContent-Length: {len(body)}\r\n\r\n".encode(), 1)
    status, _, answer = raw(url, sized + body)
    assert status == 400 and json.loads(answer)["field"] == "signatures", answer  # read whole
    # A read over HTTP/1.0 needs no length.
    status, _, _ = raw(url, b"GET /healthz HTTP/1.0\r\nHost: ledger\r\n\r\n")
    assert status == 200


def test_an_http10_post_whose_body_is_optional_needs_no_length(server, tmp_path):
    # A default nginx speaks HTTP/1.0 to its backend and sends no Content-Length when
    # its client sent none: a revocation without a body (its reason is optional) must
    # still revoke, and a route that takes no POST still says 405.
    from core.keys import generate_private_key, key_id, public_key_pem
    from tests.conftest import vinledger

    url, _, data = server
    key = generate_private_key()
    pem = tmp_path / "acme.pub"
    pem.write_bytes(public_key_pem(key.public_key()))
    vinledger("actors", "add", "Acme", "--role", "inspector", "--public-key", str(pem), data=data)
    token = (data / "admin.token").read_text().strip()
    keyid = key_id(key.public_key())
    request = (
        f"POST /admin/keys/{keyid}/revoke HTTP/1.0\r\nHost: ledger\r\n"
        f"Authorization: Bearer {token}\r\n\r\n"
    ).encode()
    status, _, answer = raw(url, request)
    assert status == 201, answer
    status, _, _ = raw(url, b"POST /healthz HTTP/1.0\r\nHost: ledger\r\n\r\n")
    assert status == 405
