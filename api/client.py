"""An httpx client for a vinledger server, used by the CLI and the tests.

Errors come back as ``ClientError`` carrying the server's RFC 9457 problem document.
"""

from __future__ import annotations

from typing import Any

import httpx

from core import dsse

# Every problem document a vinledger ledger answers has a type under this address.
PROBLEM_TYPES = "https://vinledger.dev/problems/"


class ClientError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        super().__init__(f"{status} {problem.get('title', '')}: {problem.get('detail', problem)}")


class VinledgerClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
        )

    def __enter__(self) -> VinledgerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _check(self, r: httpx.Response) -> httpx.Response:
        if r.status_code >= 400:
            try:
                problem = r.json()
            except ValueError:
                problem = {"detail": r.text}
            raise ClientError(r.status_code, problem)
        return r

    def _check_ledger(self, r: httpx.Response) -> httpx.Response:
        """As ``_check``, for a route every vinledger ledger has: an answer that no route
        matched (404/405 without a vinledger problem type) or that is not JSON means the
        base URL is not a ledger's (``…/log``, say), which a bare 404 would not say."""
        sent = r.headers.get("content-type", "")
        if r.status_code in (404, 405) or not dsse.is_json_type(sent):
            try:
                kind = r.json().get("type", "")
            except (ValueError, AttributeError):
                kind = ""
            if not kind.startswith(PROBLEM_TYPES) or kind.endswith(("/http-404", "/http-405")):
                raise ClientError(r.status_code, self._not_a_ledger(r))
        return self._check(r)

    def _not_a_ledger(self, r: httpx.Response) -> dict[str, Any]:
        base = self.http.base_url
        shown = str(base).rstrip("/")
        origin = str(base.copy_with(path="/", query=None, fragment=None)).rstrip("/")
        guess = f" (perhaps {origin})" if origin != shown else ""
        return {
            "title": "Not a vinledger ledger",
            "detail": f"{shown} does not look like a vinledger ledger: {r.request.method} "
            f"{r.request.url} answered {r.status_code} {r.reason_phrase}. Give the "
            f"ledger's base URL{guess}, e.g. https://ledger.example",
        }

    # ---- submitting --------------------------------------------------------------

    def submit_envelope(self, env: dsse.Envelope | bytes) -> dict[str, Any]:
        body = env if isinstance(env, bytes) else dsse.encode_envelope(env)
        r = self._check_ledger(
            self.http.post("/records", content=body, headers={"Content-Type": "application/json"})
        )
        return r.json() | {"status": r.status_code}

    def create_referral(self, env: dsse.Envelope | bytes) -> dict[str, Any]:
        """A referrer's signed referral code (``plugins.referrals``), kept beside the log."""
        body = env if isinstance(env, bytes) else dsse.encode_envelope(env)
        r = self._check_ledger(
            self.http.post("/referrals", content=body, headers={"Content-Type": "application/json"})
        )
        return r.json() | {"status": r.status_code}

    def submit_record(
        self, record_json: bytes, private_key, payload_type: str = dsse.PAYLOAD_TYPE
    ) -> dict[str, Any]:
        """Sign ``record_json`` as it is (a record, or a report in a provider's format
        named by ``payload_type``) and submit it."""
        return self.submit_envelope(dsse.sign_envelope(record_json, private_key, payload_type))

    def submit_batch(self, envelopes: list[dsse.Envelope | bytes]) -> list[dict[str, Any]]:
        parts = [e if isinstance(e, bytes) else dsse.encode_envelope(e) for e in envelopes]
        body = b'{"envelopes":[' + b",".join(parts) + b"]}"
        r = self._check_ledger(
            self.http.post(
                "/records/batch", content=body, headers={"Content-Type": "application/json"}
            )
        )
        return r.json()["results"]

    # ---- reading -----------------------------------------------------------------

    def checkpoint(self) -> str:
        return self._check(self.http.get("/log/checkpoint")).text

    def vkey(self) -> str:
        return self._check(self.http.get("/log/vkey")).text.strip()

    def history(self, vin: str) -> dict[str, Any]:
        return self._check(self.http.get(f"/vehicles/{vin}/history")).json()

    def bundle_bytes(self, vin: str) -> bytes:
        return self._check(self.http.get(f"/vehicles/{vin}/bundle")).content

    def get_bytes(self, path: str) -> bytes:
        return self._check(self.http.get(path)).content

    def inclusion_proof(self, index: int, size: int) -> dict[str, Any]:
        params = {"index": index, "size": size}
        return self._check(self.http.get("/log/proof/inclusion", params=params)).json()

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        params = {"first": first, "second": second}
        return self._check(self.http.get("/log/proof/consistency", params=params)).json()

    # ---- admin (operator token) -------------------------------------------------

    def add_actor(
        self, actor_id: str, name: str, role: str, public_key_pem: str, upline: str | None = None
    ) -> dict[str, Any]:
        body = {
            "actor_id": actor_id,
            "name": name,
            "role": role,
            "public_key": public_key_pem,
            "upline": upline,
        }
        return self._check(self.http.post("/admin/actors", json=body)).json()

    def revoke_key(self, keyid: str, reason: str) -> dict[str, Any]:
        return self._check(
            self.http.post(f"/admin/keys/{keyid}/revoke", json={"reason": reason})
        ).json()
