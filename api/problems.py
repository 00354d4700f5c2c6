"""RFC 9457 problem details for every error the API answers.

One handler maps our error hierarchy (``core.errors``) and Litestar's own HTTP
exceptions to ``application/problem+json``; a database that cannot serve now becomes
a 503 with ``Retry-After`` and one log line; anything unexpected becomes a 500
problem that says nothing about the server's insides, and its traceback is logged.
A browser that asks for a page (``Accept: text/html``) at an address with none, or
meets a server error or an outage, gets the error page in its reader's language
instead; every other client gets the problem document, which then says it varies by
``Accept`` (a cache must not hand one to the other).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from litestar import MediaType, Request, Response
from litestar.datastructures.headers import MediaTypeHeader
from litestar.exceptions import HTTPException, ValidationException

from api.i18n import LANGUAGES, Words, choose_language
from core.errors import StorageUnavailable, VinledgerError
from ledger.engines import unavailable

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://vinledger.dev/problems/"
log = logging.getLogger("vinledger.api")


def problem(status: int, title: str, detail: str, slug: str, **extra: Any) -> dict[str, Any]:
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_for(err: VinledgerError) -> dict[str, Any]:
    return problem(
        err.status,
        err.title,
        err.detail,
        err.slug,
        field=err.field,
        index=err.index,
        plugin=getattr(err, "plugin", None),
    )


def _response(
    body: dict[str, Any], request: Request, headers: dict[str, str] | None = None
) -> Response:
    body.setdefault("instance", request.url.path)
    return Response(
        content=body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers
    )


def handle_vinledger_error(request: Request, err: VinledgerError) -> Response:
    # A 401 says how to authenticate (RFC 9110 §15.5.2): the admin API's bearer token.
    # Every 401 names its challenge (RFC 9110 §11.6.1): the admin API's operator token,
    # or for a submission whose signature does not verify, the DSSE signature itself.
    auth = _CHALLENGES.get(err.slug)
    if request.method not in ("GET", "HEAD"):
        # What was refused, for the operator (a partner whose key was revoked, a dealer
        # whose claims fail): the problem's type and field only, never its detail,
        # which may quote what the client sent.
        # Path and field quoted (%r): a client's line break must not forge a log line.
        field = f" ({err.field!r})" if err.field else ""
        log.info(
            "refused %s %r: %d %s%s", request.method, request.url.path, err.status, err.slug, field
        )
    # A refusal that lasts a while (a plugin that did not answer) says when to retry.
    retry = {"Retry-After": str(err.retry_after)} if getattr(err, "retry_after", None) else {}
    return _response(problem_for(err), request, {**(auth or {}), **retry} or None)


_CHALLENGES = {
    "unauthorized": {"WWW-Authenticate": 'Bearer realm="vinledger"'},
    "bad-signature": {"WWW-Authenticate": 'DSSE realm="vinledger"'},
    # What a 415 would have taken (RFC 9110 §15.5.16): bodies as they are.
    "unsupported-media-type": {"Accept-Encoding": "identity"},
}

_HTTP_HINTS = {
    404: "no such resource: check the path (see /schema for the API)",
    405: "this method is not allowed here: see /schema for the API",
}


def _too_large(request: Request) -> str:
    """Litestar's 413 says only "Request Entity Too Large": state the limit and the way out."""
    try:
        limit = request.route_handler.resolve_request_max_body_size()
    except Exception:  # no handler resolved (yet): the app's own limit
        limit = getattr(request.app, "request_max_body_size", None)
    if limit and limit < 2**20 and request.url.path.endswith("/referrals"):
        return (
            f"the request body is larger than {limit:,} bytes, far more than one signed "
            "referral may be; nothing was kept. Send one envelope per POST /referrals"
        )
    if limit and limit < 2**20:  # POST /records: one envelope
        return (
            f"the request body is larger than {limit:,} bytes, far more than one envelope "
            "may be; nothing was appended. Keep documents out of records: attach them by "
            "SHA-256 (`attachments`); send many records with POST /records/batch"
        )
    size = f" of {limit:,} bytes ({limit / 2**20:g} MiB)" if limit else ""
    return (
        f"the request body is larger than this server's limit{size}; nothing was appended. "
        "Send fewer envelopes per POST /records/batch (it takes up to 1,000), and keep "
        "documents out of records: attach them by SHA-256 (`attachments`)"
    )


def wants_html(request: Request) -> bool:
    """A browser asks for text/html first; curl and API clients ask for anything (*/*)
    or for JSON: application/json, application/problem+json or any other ``+json``. The
    page is answered only when HTML wins: the first type in ``Accept``'s order (quality,
    then the more specific) that one of the two answers is HTML; a type of quality 0 is
    refused, not asked for."""
    if request.method not in ("GET", "HEAD"):
        return False
    for accepted in request.accept:  # best first
        asked = MediaTypeHeader(accepted)
        try:
            refused = float(asked.params.get("q", "1")) <= 0
        except ValueError:
            refused = False
        if refused:
            continue
        if asked.maintype == "application" and asked.subtype.endswith("+json"):
            return False
        if MediaTypeHeader(MediaType.JSON).match(asked):
            return False
        if MediaTypeHeader(MediaType.HTML).match(asked):
            return True
    return False


def _by_accept(request: Request) -> dict[str, str]:
    """The headers of a problem document sent where a browser would have had a page
    (a GET or HEAD): it depends on ``Accept``, and no cache may keep it."""
    if request.method in ("GET", "HEAD"):
        return {"Vary": "Accept", "Cache-Control": "no-cache"}
    return {}


def error_page(
    request: Request,
    status: int,
    what: str,
    detail: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """The error page (``error.html.j2``) in the reader's language: ``error_{what}``
    says what happened and ``error_{what}_todo`` what to do, with a link home."""
    query = request.query_params.get("lang")
    t = Words(choose_language(query, request.headers.get("accept-language")))
    configured = request.app.state.ledger.settings.public_url
    root = (
        urlsplit(configured).path if configured else str(request.scope.get("root_path", ""))
    ).rstrip("/")
    html = request.app.template_engine.get_template("error.html.j2").render(
        t=t,
        lang=t.lang,
        root=root,
        languages=LANGUAGES,
        headline=t(f"error_{what}"),
        note=None,
        vin=None,
        lang_query=query and t.lang,
        todo=t(f"error_{what}_todo"),
        detail=detail,
        keep_query="",
    )
    return Response(
        content=html,
        status_code=status,
        media_type=MediaType.HTML,
        headers={
            "Vary": "Accept, Accept-Language",
            "Content-Language": t.lang,
            "Cache-Control": "no-cache",
            **(headers or {}),
        },
    )


def handle_http_exception(request: Request, err: HTTPException) -> Response:
    status = err.status_code
    if status >= 500:  # its detail may name the server's insides (a path, a template)
        return _server_error(request, status, "HTTP exception")
    if status == 404 and wants_html(request):  # a mistyped address, in a browser
        try:
            return error_page(request, 404, "missing", f"404 Not found: {request.url.path}")
        except Exception:  # the page itself failed: the problem document below
            log.exception("the error page failed on %s %r", request.method, request.url.path)
    detail = err.detail
    if status == 413:
        detail = _too_large(request)
    elif not detail or detail == _phrase(status):  # the framework's bare status phrase
        detail = _HTTP_HINTS.get(status, detail or "the request could not be processed")
    if isinstance(err, ValidationException):
        return _invalid_parameters(request, err, detail)
    title = {
        400: "Bad request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        413: "Request too large",
        429: "Too many requests",
    }
    body = problem(status, title.get(status, "Error"), detail, f"http-{status}")
    # The framework's own headers stay: a 405 names the methods it allows (RFC 9110),
    # HEAD with GET (api.app.http_edge answers it).
    headers = {k.lower(): v for k, v in (err.headers or {}).items()}
    allowed = headers.get("allow", "").split(", ")
    if "GET" in allowed and "HEAD" not in allowed:
        headers["allow"] += ", HEAD"
    if status == 404:
        headers.update(_by_accept(request))  # a browser would have had a page
    return _response(body, request, headers)


def _invalid_parameters(request: Request, err: ValidationException, detail: str) -> Response:
    """Litestar's own check of a parameter's type or bounds, said as ours are: which
    parameter, what it must be (``invalid-input``, with ``field``)."""
    found = [e for e in err.extra or [] if isinstance(e, dict) and e.get("key")]
    if found:
        detail = "; ".join(
            f"{getattr(e.get('source'), 'value', e.get('source')) or 'the'} parameter "
            f"`{e['key']}`: "
            f"{str(e.get('message', '')).replace('Expected `int`', 'expected a whole number')}"
            for e in found
        )
        detail += " (see /schema for the API)"
    body = problem(
        err.status_code,
        "Invalid input",
        detail,
        "invalid-input",
        field=found[0]["key"] if found else None,
    )
    return _response(body, request)


def _phrase(status: int) -> str | None:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return None


def handle_storage_unavailable(request: Request, err: StorageUnavailable) -> Response:
    # One line, no traceback: a client retrying through an outage (a full disk, say)
    # must not fill the disk with the same 5 KB of SQLAlchemy frames per request.
    log.warning(
        "storage unavailable (%s) on %s %s: %s",
        err.state or "unknown",
        request.method,
        request.url.path,
        err.cause or "no cause given",
    )
    retry = {"Retry-After": str(err.retry_after)}
    if wants_html(request):  # a person reading a page: nothing about envelopes
        try:
            return error_page(request, 503, "unavailable", "503 Service unavailable", retry)
        except Exception:  # the page itself failed: the problem document below
            log.exception("the error page failed on %s %r", request.method, request.url.path)
    return _response(problem_for(err), request, {**retry, **_by_accept(request)})


def handle_unexpected(request: Request, err: Exception) -> Response:
    if (outage := unavailable(err)) is not None:  # one the engines did not translate
        return handle_storage_unavailable(request, outage)
    return _server_error(request, 500, "unexpected error")


def _server_error(request: Request, status: int, what: str) -> Response:
    """A failure of the server's own (a bug, a framework's 5xx): its traceback in the
    log, and for the client a fixed answer that says nothing about the server's
    insides, as a page for a browser."""
    log.exception("%s on %s %r", what, request.method, request.url.path)
    if wants_html(request):  # a person reading a page: nothing about envelopes
        try:
            phrase = "Internal error" if status == 500 else _phrase(status) or "Server error"
            return error_page(request, status, "internal", f"{status} {phrase}")
        except Exception:  # the page itself failed: the problem document below
            log.exception("the error page failed on %s %r", request.method, request.url.path)
    return _response(
        problem(
            status,
            "Internal error",
            "the server failed to process the request. A submission may or may not have "
            "been appended: send the same envelope again, which answers with its entry "
            "if it was. If this persists, tell the operator.",
            "internal",
        ),
        request,
        _by_accept(request) or None,
    )


exception_handlers = {
    StorageUnavailable: handle_storage_unavailable,
    VinledgerError: handle_vinledger_error,
    HTTPException: handle_http_exception,
    Exception: handle_unexpected,
}
