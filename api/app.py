"""The Litestar application."""

from __future__ import annotations

import asyncio
import json
import logging
import os

from litestar import Litestar, MediaType, get
from litestar.config.compression import CompressionConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.i18n import mark_chinese
from api.metrics import HTTP as HTTP_METRICS
from api.metrics import MULTIPROCESS_ENV
from api.openapi import render_plugins
from api.problems import PROBLEM_JSON, exception_handlers, problem
from api.routes.admin import AdminController
from api.routes.dealers import DealersController
from api.routes.log import LogController
from api.routes.metrics import metrics
from api.routes.records import RecordsController
from api.routes.referrals import ReferralsController
from api.routes.vehicles import (
    SCRIPT_VERSION,
    STATIC,
    TEMPLATES,
    AttachmentsController,
    VehiclesController,
    favicon,
)
from api.service import Ledger
from core.errors import StorageUnavailable
from ledger.engines import outage, read_only_cause

READY_TIMEOUT = 3.0  # seconds /readyz waits for the database
LOG_LEVELS = ("debug", "info", "warning", "error")


@get("/healthz", media_type=MediaType.JSON, sync_to_thread=False, include_in_schema=False)
def healthz() -> dict:
    """Liveness: the process answers. It never touches the database, so an outage does
    not get a working server restarted (``/readyz`` says whether it can serve)."""
    return {"status": "ok"}


@get("/readyz", media_type=MediaType.JSON, include_in_schema=False)
async def readyz(ledger: Ledger, state: State) -> dict:
    """Readiness: the database answers a trivial read within ``READY_TIMEOUT`` seconds
    and would take a write; otherwise 503 ``storage-unavailable``, as any submission
    would answer now. 503 ``fork-risk`` while the database is off the checkpoints this
    ledger published (``ledger.continuity.MarkKeeper``)."""
    keeper = state.get("keeper")
    if keeper is not None and keeper.problem is not None:
        raise keeper.problem
    try:
        size = await asyncio.wait_for(asyncio.to_thread(_probe, ledger), READY_TIMEOUT)
    except TimeoutError as err:  # e.g. a server that takes connections but never answers
        raise StorageUnavailable(
            f"the ledger's database did not answer within {READY_TIMEOUT:g} seconds; "
            "try again in a few seconds",
            state="busy",
            cause=f"no answer within {READY_TIMEOUT:g} s",
        ) from err
    return {"ok": True, "size": size}


def _probe(ledger: Ledger) -> int:
    """The log's size, once the database answers and would take a write."""
    size = ledger.store.ping(READY_TIMEOUT)
    with ledger.store.read_engine.connect() as c:
        if c.dialect.name == "postgresql":  # for this transaction, rolled back on close
            c.exec_driver_sql(f"SET LOCAL statement_timeout = {int(READY_TIMEOUT * 1000)}")
        cause = read_only_cause(c)
    if cause is not None:  # every submission would answer 503: leave the rotation
        raise outage("read-only", Exception(cause), "")
    return size


def _template_globals(engine: JinjaTemplateEngine) -> None:
    engine.engine.globals["script_version"] = SCRIPT_VERSION
    # ``{{ name|chinese(lang) }}``: a partner's Chinese marked as such on an English page.
    engine.engine.filters["chinese"] = mark_chinese


def create_app(ledger: Ledger) -> Litestar:
    def provide_ledger(state: State) -> Ledger:
        return state.ledger

    def on_shutdown(app: Litestar) -> None:
        app.state.ledger.close()

    app = Litestar(
        route_handlers=[
            RecordsController,
            LogController,
            VehiclesController,
            AdminController,
            AttachmentsController,
            ReferralsController,
            DealersController,
            healthz,
            readyz,
            metrics,
            favicon,
            create_static_files_router(
                path="/static",
                directories=[STATIC],
                include_in_schema=False,
                # Named by content (?v=): a buyer's phone keeps the script between visits.
                cache_control=CacheControlHeader(public=True, max_age=31_536_000, immutable=True),
            ),
        ],
        template_config=TemplateConfig(
            directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_template_globals
        ),
        # Pages and the page's script go out gzipped to browsers that take it (a buyer's
        # phone on a slow network: the page 14 KB -> 5 KB, the script 59 KB -> 19 KB). Not
        # the bundle, tiles, proofs or receipts: small, binary, or served at a rate where
        # compressing each would cost more CPU than it saves (bench/bundle.py).
        compression_config=CompressionConfig(
            backend="gzip",
            gzip_compress_level=6,
            minimum_size=1024,
            exclude=["/log/", "/records", "/bundle$", "/attachments/", "/healthz$", "/readyz$"],
        ),
        dependencies={"ledger": Provide(provide_ledger, sync_to_thread=False)},
        state=State({"ledger": ledger}),  # the admin token is read per request
        exception_handlers=exception_handlers,
        middleware=[HTTP_METRICS.middleware],
        on_shutdown=[on_shutdown],
        request_max_body_size=16 * 1024 * 1024,
        openapi_config=OpenAPIConfig(
            title="vinledger",
            version="0.1.0",
            description="A verifiable vehicle history ledger: submit signed records, read "
            "vehicle histories and the C2SP tlog-tiles log.",
            path="/schema",
            render_plugins=render_plugins(),
        ),
    )
    app.asgi_handler = http_edge(app.asgi_handler)
    return app


_NOSNIFF = (b"x-content-type-options", b"nosniff")
LENGTH_REQUIRED = problem(
    411,
    "Length required",
    "an HTTP/1.0 request with a body must say its length in Content-Length (or send it "
    "over HTTP/1.1, where chunked transfer encoding says where it ends); without it the "
    "body cannot be told from an empty one",
    "length-required",
)


def _length_unknown(scope: Scope) -> bool:
    """An HTTP/1.0 POST or PUT without Content-Length: its server reads no body (HTTP/1.0
    has no chunked encoding). Where a body is optional (a revocation's reason) that is
    fine; where the route refuses it as empty (400, 422), the answer is 411 instead."""
    if scope.get("http_version") != "1.0" or scope["method"] not in ("POST", "PUT", "PATCH"):
        return False
    return not any(name == b"content-length" for name, _ in scope.get("headers", ()))


async def _send_problem(send: Send, body: dict) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", PROBLEM_JSON.encode()),
        (b"content-length", str(len(data)).encode()),
        _NOSNIFF,
    ]
    await send({"type": "http.response.start", "status": body["status"], "headers": headers})
    await send({"type": "http.response.body", "body": data, "more_body": False})


def http_edge(app: ASGIApp) -> ASGIApp:
    """What every HTTP answer gets, around Litestar (errors and static files too):

    - ``X-Content-Type-Options: nosniff``: a browser takes each answer as the type it
      states, so a record's text is never sniffed into a script or a page;
    - HEAD answered as GET without the body (RFC 9110, 9.3.2): the same status and
      headers, Content-Length included. Litestar routes HEAD only where a handler asks
      for it, and link checkers, `curl -I` and listing sites checking a badge use it;
    - an HTTP/1.0 POST or PUT without Content-Length whose route refuses it as empty is
      answered 411 Length Required (``_length_unknown``).
    """

    async def handler(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        unsized = _length_unknown(scope)
        replaced = False

        async def edged(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the refusal's body, answered as 411 instead
            if message["type"] == "http.response.start":
                if unsized and message["status"] in (400, 422):
                    replaced = True
                    await _send_problem(send, LENGTH_REQUIRED)
                    return
                message = {**message, "headers": [*message.get("headers", []), _NOSNIFF]}
            elif head and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await app({**scope, "method": "GET"} if head else scope, receive, edged)

    return handler


def app_from_environment() -> Litestar:
    """For ``uvicorn --factory api.app:app_from_environment`` (uses VINLEDGER_DATA)."""
    from api.config import load_settings
    from ledger.continuity import MarkKeeper, mark_path

    settings = load_settings()
    settings.check_database()
    settings.admin_token()  # missing or empty: refuse to start, not every admin request
    ledger = Ledger(settings)
    # Refuses a database behind what this ledger published (ledger/continuity.py).
    keeper = MarkKeeper(ledger.store, ledger.vkey, mark_path(ledger.settings.data_dir))
    app = create_app(ledger)
    app.state["keeper"] = keeper  # /readyz answers 503 while it finds a fork
    app.on_startup.append(keeper.start)
    app.on_shutdown.insert(0, keeper.stop)  # before the ledger closes
    if path := os.environ.get(MULTIPROCESS_ENV):  # serve --workers N: one of the workers

        def forget_my_gauges() -> None:  # an in-progress count no one will lower again
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), path)

        app.on_shutdown.append(forget_my_gauges)
    configure_logging(
        os.environ.get("VINLEDGER_LOG_LEVEL", "info"),
        access_log=os.environ.get("VINLEDGER_ACCESS_LOG") == "1",
    )
    return app


def configure_logging(level: str, *, access_log: bool) -> None:
    """After Litestar and uvicorn set up logging (both before the app serves): the
    ledger's own lines (refusals, admin actions, outages) from ``level``; uvicorn's
    from warning at least (its start-up lines repeat what ``serve`` says); a line per
    request (method, path, status, client address) only with ``access_log``: paths
    name VINs, and client addresses are personal data."""
    if level not in LOG_LEVELS:
        raise ValueError(f"VINLEDGER_LOG_LEVEL is {level!r}; use one of {', '.join(LOG_LEVELS)}")
    number = logging.getLevelName(level.upper())
    logging.getLogger().setLevel(number)  # vinledger.*, ledger.* propagate to it
    logging.getLogger("uvicorn.error").setLevel(max(number, logging.WARNING))
    access = logging.INFO if access_log else logging.CRITICAL + 1
    logging.getLogger("uvicorn.access").setLevel(access)
