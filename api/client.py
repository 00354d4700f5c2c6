"""An httpx client for a vinledger server, used by the CLI and the tests.

Every error comes back as a ``ClientError`` carrying an RFC 9457 problem document:
the ledger's own, or one this client writes when the answer did not come from the
ledger (a proxy's or gateway's error page, a network's login page) or did not come at
all (``NoAnswer``). What it says tells a user whether a submission may have been
logged, and that sending the same envelope again is safe: the ledger answers a
repeated envelope with the entry it made, and never logs one twice.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any
from urllib.parse import quote

import httpx

from core import dsse

# Every problem document a vinledger ledger answers has a type under this address.
PROBLEM_TYPES = "https://vinledger.dev/problems/"
DEFAULT_TIMEOUT = 30.0  # seconds
# What to do about a submission whose answer was lost, in every message that says so.
SAFE_RETRY = (
    "It may have been logged: send the same envelope again, unchanged (run the same "
    "command again; do not edit the file in between). The ledger answers with the entry "
    "it made if it has it, and never logs one twice"
)


class ClientError(Exception):
    """``status``: the HTTP status (0: no answer); ``problem``: RFC 9457 fields;
    ``retry_after``: seconds, where the answer said when to try again."""

    def __init__(self, status: int, problem: dict[str, Any], retry_after: float | None = None):
        self.status = status
        self.problem = problem
        self.retry_after = retry_after
        said = f"{problem.get('title', '')}: {problem.get('detail', problem)}"
        super().__init__(f"{status} {said}" if status else said)


class NoAnswer(ClientError):
    """No complete answer came. ``sent``: the request may have reached the ledger (the
    connection failed or timed out after it was sent), so a submission may be logged."""

    def __init__(self, problem: dict[str, Any], *, sent: bool):
        super().__init__(0, problem)
        self.sent = sent


def retry_after(r: httpx.Response) -> float | None:
    try:
        seconds = float(r.headers["retry-after"])
    except (KeyError, ValueError):
        return None  # absent, or an HTTP date: say nothing rather than guess
    return max(0.0, seconds) if math.isfinite(seconds) else None


def foreign_answer(r: httpx.Response, *, submission: bool = False) -> dict[str, Any] | None:
    """A problem document for an answer that did not come from a vinledger ledger but
    from something on the way (a gateway's 502/504, a CDN's 524, a proxy's 413, a
    firewall's 403, a network's login page), or None. ``submission``: the request
    submitted records. A 404 or 405 is left to the caller (a wrong base URL, usually)."""
    sent = r.headers.get("content-type", "").lower()
    if r.status_code < 300 and "html" not in sent:
        return None  # an answer, not an error page: its body is the caller's to read
    if _ledger_problem(r) is not None:
        return None
    where = f"{r.request.method} {r.request.url} answered {r.status_code} {r.reason_phrase}"
    if r.status_code >= 500 or r.status_code == 408:
        then = f" {SAFE_RETRY}." if submission else " Try again in a while."
        return {
            "title": "The ledger's gateway failed",
            "detail": f"{where}, from a proxy or gateway in front of the ledger, not from the "
            f"ledger itself: the ledger is busy, restarting or down, or slow to answer.{then}",
        }
    if r.status_code == 413:
        return {
            "title": "Too large for a proxy on the way",
            "detail": f"{where}, from a proxy in front of the ledger, not from the ledger "
            "(which takes an envelope of up to 96 KiB and a batch of up to 1,000): send "
            "smaller batches, or ask the ledger's operator to raise the proxy's body limit "
            "(nginx: client_max_body_size)",
        }
    if 300 <= r.status_code < 400:
        to = r.headers.get("location", "")
        target = httpx.URL(to) if to else None
        https = (
            target is not None
            and r.request.url.scheme == "http"
            and target.scheme == "https"
            and target.host == r.request.url.host
        )
        hint = (
            f" Give the ledger's https address: {target.copy_with(path='/', query=None)}"
            if https and target is not None
            else " A network that wants a login first (hotspot, hotel or guest Wi-Fi) "
            "redirects too: open any web page in a browser to log in, then try again"
        )
        return {
            "title": "Not the ledger's answer",
            "detail": f"{where}, a redirect to {to or 'nowhere'}: the request was not taken "
            f"(nothing was logged).{hint}",
        }
    if r.status_code < 300 and "html" in sent:
        return {
            "title": "Not the ledger's answer",
            "detail": f"{where} with a web page, not the ledger's answer: a network that "
            "wants a login first (hotspot, hotel or guest Wi-Fi)? Open any web page in a "
            "browser to log in, then try again; or check the URL",
        }
    if 400 <= r.status_code < 500 and r.status_code not in (404, 405):
        return {
            "title": "Refused on the way",
            "detail": f"{where}, from something in front of the ledger (a proxy or a "
            "firewall), not from the ledger: it did not take the request. Check the URL, "
            "or ask the ledger's operator",
        }
    return None


def _ledger_problem(r: httpx.Response) -> dict[str, Any] | None:
    """The answer's RFC 9457 document, if a vinledger ledger wrote it."""
    if not dsse.is_json_type(r.headers.get("content-type", "")):
        return None
    try:
        body = r.json()
    except ValueError:
        return None
    kind = body.get("type", "") if isinstance(body, dict) else ""
    return body if isinstance(kind, str) and kind.startswith(PROBLEM_TYPES) else None


class VinledgerClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        try:
            self.http = httpx.Client(
                base_url=base_url.rstrip("/"), headers=headers, timeout=timeout, transport=transport
            )
        except httpx.InvalidURL as err:
            raise NoAnswer(
                {"title": "Not a URL", "detail": f"{base_url} is not a URL: {err}"}, sent=False
            ) from None

    def __enter__(self) -> VinledgerClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _send(self, method: str, path: str, *, submission: bool = False, **kw) -> httpx.Response:
        """The answer, or ``NoAnswer`` saying whether the request may have arrived."""
        base = str(self.http.base_url).rstrip("/")
        try:
            return self.http.request(method, path, **kw)
        except httpx.InvalidURL as err:
            raise NoAnswer(
                {"title": "Not a URL", "detail": f"{base}{path} is not a URL: {err}"}, sent=False
            ) from None
        except (
            httpx.ConnectError,
            httpx.ConnectTimeout,
            httpx.PoolTimeout,
            httpx.UnsupportedProtocol,  # "ledger.example" for "https://ledger.example"
        ) as err:
            raise NoAnswer(
                {
                    "title": "Could not reach the ledger",
                    "detail": f"could not connect to {base}: {err or type(err).__name__}; "
                    "nothing was sent. Check the URL and the network, then try again",
                },
                sent=False,
            ) from None
        except httpx.RequestError as err:  # after the request went out
            if isinstance(err, httpx.TimeoutException):
                what = f"no answer within {self.timeout:g} s"
            elif isinstance(err, httpx.DecodingError):
                what = f"the answer could not be read ({err})"
            else:
                what = f"the connection failed before the whole answer came ({err})"
            then = SAFE_RETRY if submission else "Try again"
            raise NoAnswer(
                {
                    "title": "No answer from the ledger",
                    "detail": f"{method} {base}{path}: {what}. {then}.",
                },
                sent=True,
            ) from None

    def _check(self, r: httpx.Response, *, submission: bool = False) -> httpx.Response:
        if (foreign := foreign_answer(r, submission=submission)) is not None:
            raise ClientError(r.status_code, foreign, retry_after(r))
        if r.status_code >= 400:
            problem = _ledger_problem(r)
            if problem is None:
                try:
                    problem = r.json()
                except ValueError:
                    problem = {"detail": r.text[:300]}
                if not isinstance(problem, dict):
                    problem = {"detail": r.text[:300]}
            raise ClientError(r.status_code, problem, retry_after(r))
        return r

    def _check_ledger(self, r: httpx.Response, *, submission: bool = False) -> httpx.Response:
        """As ``_check``, for a route every vinledger ledger has: an answer that no route
        matched (404/405 without a vinledger problem type) or that is not JSON means the
        base URL is not a ledger's (``…/log``, say), which a bare 404 would not say."""
        sent = r.headers.get("content-type", "")
        if r.status_code in (404, 405) or not dsse.is_json_type(sent):
            problem = _ledger_problem(r)
            kind = problem["type"] if problem is not None else ""
            routeless = not kind or kind.endswith(("/http-404", "/http-405"))
            if routeless and foreign_answer(r, submission=submission) is None:
                raise ClientError(r.status_code, self._not_a_ledger(r))
        return self._check(r, submission=submission)

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

    def _json(
        self, r: httpx.Response, *, keys: tuple[str, ...] = (), submission: bool = False
    ) -> Any:
        """The answer's JSON, with ``keys`` present; ClientError if it is not that."""
        try:
            body = r.json()
        except ValueError:
            body = None
        if keys and not (isinstance(body, dict) and all(k in body for k in keys)):
            body = None
        if body is None:
            raise ClientError(
                r.status_code,
                {
                    "title": "Not the ledger's answer",
                    "detail": f"{r.request.method} {r.request.url} answered {r.status_code} "
                    f"with something that is not the ledger's answer (a proxy in between?): "
                    f"{r.text[:200]!r}" + (f". {SAFE_RETRY}." if submission else ""),
                },
            )
        return body

    # ---- submitting --------------------------------------------------------------

    def submit_envelope(self, env: dsse.Envelope | bytes) -> dict[str, Any]:
        body = env if isinstance(env, bytes) else dsse.encode_envelope(env)
        r = self._check_ledger(self._post("/records", body), submission=True)
        return self._json(r, keys=_RECEIPT, submission=True) | {"status": r.status_code}

    def create_referral(self, env: dsse.Envelope | bytes) -> dict[str, Any]:
        """A referrer's signed referral code (``plugins.referrals``), kept beside the log."""
        body = env if isinstance(env, bytes) else dsse.encode_envelope(env)
        r = self._check_ledger(self._post("/referrals", body), submission=True)
        return self._json(r, keys=("code",), submission=True) | {"status": r.status_code}

    def submit_record(
        self, record_json: bytes, private_key, payload_type: str = dsse.PAYLOAD_TYPE
    ) -> dict[str, Any]:
        """Sign ``record_json`` as it is (a record, or a report in a provider's format
        named by ``payload_type``) and submit it."""
        return self.submit_envelope(dsse.sign_envelope(record_json, private_key, payload_type))

    def submit_batch(self, envelopes: list[dsse.Envelope | bytes]) -> list[dict[str, Any]]:
        parts = [e if isinstance(e, bytes) else dsse.encode_envelope(e) for e in envelopes]
        body = b'{"envelopes":[' + b",".join(parts) + b"]}"
        r = self._check_ledger(self._post("/records/batch", body), submission=True)
        return self._json(r, keys=("results",), submission=True)["results"]

    def _post(self, path: str, body: bytes) -> httpx.Response:
        headers = {"Content-Type": "application/json"}
        return self._send("POST", path, submission=True, content=body, headers=headers)

    # ---- reading -----------------------------------------------------------------

    def checkpoint(self) -> str:
        return self._check(self._send("GET", "/log/checkpoint")).text

    def vkey(self) -> str:
        return self._check(self._send("GET", "/log/vkey")).text.strip()

    def history(self, vin: str) -> dict[str, Any]:
        return self._json(self._check(self._send("GET", f"/vehicles/{vin}/history")))

    def bundle_bytes(self, vin: str) -> bytes:
        return self._check(self._send("GET", f"/vehicles/{vin}/bundle")).content

    def get_bytes(self, path: str) -> bytes:
        return self._check(self._send("GET", path)).content

    def inclusion_proof(self, index: int, size: int) -> dict[str, Any]:
        params = {"index": index, "size": size}
        return self._json(self._check(self._send("GET", "/log/proof/inclusion", params=params)))

    def consistency_proof(self, first: int, second: int) -> dict[str, Any]:
        params = {"first": first, "second": second}
        r = self._send("GET", "/log/proof/consistency", params=params)
        return self._json(self._check(r))

    def commissions(
        self,
        as_of: date | None = None,
        sold_from: date | None = None,
        sold_to: date | None = None,
        *,
        csv: bool = False,
    ) -> dict[str, Any] | str:
        """``GET /commissions`` with this client's token: the statement as JSON (rows and
        totals), or its rows as CSV text."""
        asked = {"as_of": as_of, "from": sold_from, "to": sold_to, "format": csv and "csv"}
        params = {k: str(v) for k, v in asked.items() if v}
        r = self._send("GET", "/commissions", params=params)
        if csv:
            return self._check(r).text
        return self._json(self._check_ledger(r), keys=("as_of", "commissions", "totals"))

    def referrals(self, code: str | None = None) -> list[dict[str, Any]]:
        """``GET /referrals`` (the codes this client's referrer token holds) or
        ``GET /referrals/CODE`` (one code's terms, for a dealer too): a list of terms."""
        if code is None:
            r = self._send("GET", "/referrals")
            return self._json(self._check_ledger(r), keys=("referrals",))["referrals"]
        r = self._send("GET", f"/referrals/{quote(code, safe='')}")
        return [self._json(self._check_ledger(r), keys=("code", "rule", "params"))]

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
        return self._json(self._check(self._send("POST", "/admin/actors", json=body)))

    def revoke_key(self, keyid: str, reason: str) -> dict[str, Any]:
        r = self._send("POST", f"/admin/keys/{keyid}/revoke", json={"reason": reason})
        return self._json(self._check(r))


# What every receipt of POST /records holds (a proxy's own 200 does not).
_RECEIPT = ("index", "leaf_hash", "size", "checkpoint")
