"""A vehicle's history: the front door with its VIN form, the buyer's page, JSON with the
derived view, and the bundle."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

from litestar import Controller, MediaType, Request, Response, get
from litestar.params import Parameter
from litestar.response import Redirect, Template

from api.drawings import badge_svg, qr_svg
from api.i18n import LANGUAGES, MESSAGES, Words, choose_language
from api.pages import page_model
from api.problems import handle_vinledger_error, wants_html
from api.service import Ledger
from api.verdict import alert_text
from core.errors import InvalidInput, InvalidRecord, NotFound, VinledgerError
from core.fields import parse_time
from core.vin import (
    CHECK_DIGIT_POSITION,
    LOOKALIKES,
    VIN_LENGTH,
    check_digit,
    normalize_vin,
    validate_vin,
)
from ledger.bundle import encode_bundle

SVG = "image/svg+xml"
HTML = MediaType.HTML  # Litestar adds "; charset=utf-8" itself
# The words the in-browser verifier shows, in the page's language (and "kinds": the kinds
# of entry by name, for a failure's line), and the verdict's headline it compares.
VERIFY_WORDS = (
    *("verifying", "verified", "failed_one", "failed_other", "entry", "entry_kind"),
    "detail_sep",
    *("unsupported", "unchecked", "retry"),
    *("verdict_clean", "verdict_problems_one", "verdict_problems_other"),
)


def _verify_words(lang: str) -> str:
    words: dict[str, object] = {k: MESSAGES[lang][k] for k in VERIFY_WORDS}
    words["kinds"] = {k[5:]: v for k, v in MESSAGES[lang].items() if k.startswith("kind_")}
    return _script_json(words)


def _words(request: Request, lang: str | None) -> Words:
    return Words(choose_language(lang, request.headers.get("accept-language")))


def _wants_html(request: Request) -> bool:
    """A browser asks for text/html first; curl and API clients ask for anything (*/*)
    or for JSON of any kind (``api.problems.wants_html``, which every answer follows)."""
    return wants_html(request)


def page_error(request: Request, err: VinledgerError) -> Response:
    """An error on a page a person reads: a page in the reader's language saying what
    happened and what to do; any other client gets the problem document as usual."""
    if not _wants_html(request):
        problem = handle_vinledger_error(request, err)
        problem.headers["Vary"] = "Accept"
        problem.headers["Cache-Control"] = "no-cache"  # records may arrive any minute
        return problem
    t = _words(request, request.query_params.get("lang"))
    # The VIN is in the path, or in the query when the front door's form sent it.
    vin = request.path_params.get("vin") or request.query_params.get("vin", "").strip()
    what = {"not-found": "not_found", "invalid-vin": "invalid_vin"}.get(err.slug, "other")
    note = t("error_not_found_note") if what == "not_found" else None
    if what == "invalid_vin":
        note = vin_hint(vin, t)
    return Template(
        template_name="error.html.j2",
        context={
            "t": t,
            "lang": t.lang,
            "root": _root(request),
            "languages": LANGUAGES,
            "headline": t(f"error_{what}", vin=vin),
            "note": note,
            "vin": vin if what in ("invalid_vin", "not_found") else None,
            "lang_query": request.query_params.get("lang") and t.lang,
            "todo": t(f"error_{what}_todo"),
            "detail": err.detail,
            # The language switch keeps what the front door's form sent.
            "keep_query": f"{urlencode({'vin': vin})}&" if "vin" in request.query_params else "",
        },
        media_type=HTML,
        status_code=err.status,
        headers={
            "Vary": "Accept, Accept-Language",
            "Content-Language": t.lang,
            "Cache-Control": "no-cache",  # records may arrive any minute
        },
    )


def vin_hint(typed: str, t: Words) -> str | None:
    """What is wrong with a VIN a buyer typed, in the page's words (``core.vin`` says it
    in English for programs): its length, a letter no VIN has, or its check digit."""
    vin = normalize_vin(typed)
    if len(vin) != VIN_LENGTH:
        return t("vin_wrong_length", count=len(vin))
    for position, char in enumerate(vin, start=1):
        if char in LOOKALIKES:
            return t("vin_lookalike", position=position, char=char, instead=LOOKALIKES[char])
        if not char.isascii() or not char.isalnum():
            return t("vin_bad_char", position=position, char=char)
    try:
        expected = check_digit(vin)
    except VinledgerError:
        return None
    found = vin[CHECK_DIGIT_POSITION - 1]
    return None if found == expected else t("vin_check_digit", found=found, expected=expected)


def _canonical(request: Request, vin: str, rest: str = "") -> Redirect | None:
    """A VIN typed as people write it (lowercase, spaces, dashes) goes to its page
    (or image). The JSON routes refuse it instead, saying the normal form: a program
    should send the VIN it means, not follow a guess."""
    normal = normalize_vin(vin)
    if not normal or normal == vin or normalize_vin(normal) != normal:
        return None
    query = {"query_params": request.query_params} if request.query_params else {}
    # A redirect's own media type: the route's (an SVG badge) is not one Litestar sends.
    return Redirect(
        f"{_root(request)}/vehicles/{quote(normal, safe='')}{rest}",
        status_code=308,
        media_type="text/plain",
        **query,
    )


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element (no "</script>" can close it)."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


def _base_url(request: Request) -> str:
    """The ledger's public address (``public_url`` in config.json), else the request's."""
    configured = request.app.state.ledger.settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def _root(request: Request) -> str:
    """The path the ledger is served under, for links within the site: the path of
    ``public_url`` (a proxy that serves it at https://host/ledger strips /ledger before
    passing a request on), else the ASGI root path; "" at the root of a host."""
    configured = request.app.state.ledger.settings.public_url
    if configured:
        return urlsplit(configured).path.rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")


def _api_index(root: str) -> dict[str, str]:
    """Where a program finds what a buyer's page shows (``/schema`` has every route)."""
    return {
        "vehicle_page": f"{root}/vehicles/{{vin}}",
        "history": f"{root}/vehicles/{{vin}}/history",
        "bundle": f"{root}/vehicles/{{vin}}/bundle",
        "verifier_key": f"{root}/log/vkey",
        "checkpoint": f"{root}/log/checkpoint",
        "submit": f"{root}/records",
        "openapi": f"{root}/schema",
    }


class VehiclesController(Controller):
    path = "/"  # the front door; each vehicle under /vehicles
    tags = ["vehicles"]

    # The two doors a browser opens are not API operations: /schema lists those.
    @get("/", sync_to_thread=False, include_in_schema=False)
    def home(
        self,
        request: Request,
        ledger: Ledger,
        lang: str | None = Parameter(default=None, description="en or zh"),
    ) -> Response:
        """A browser (text/html first) gets a page in the reader's language with a form to
        look up a VIN and how to check a history offline. Any other client gets a small
        JSON index: the paths of a vehicle's page, history and bundle, the verifier key,
        the checkpoint, record submission and the OpenAPI schema."""
        if not _wants_html(request):
            return Response(
                _api_index(_root(request)), media_type=MediaType.JSON, headers={"Vary": "Accept"}
            )
        t = _words(request, lang)
        return Template(
            template_name="home.html.j2",
            context={
                "t": t,
                "lang": t.lang,
                "lang_query": lang and t.lang,  # the form keeps a language the reader chose
                "languages": LANGUAGES,
                "vkey": ledger.vkey,
                "base_url": _base_url(request),
                "root": _root(request),
            },
            media_type=HTML,
            headers={"Vary": "Accept, Accept-Language", "Content-Language": t.lang},
        )

    @get(
        "/vehicles",
        sync_to_thread=False,
        include_in_schema=False,
        media_type=HTML,
        exception_handlers={VinledgerError: page_error},
    )
    def lookup(
        self,
        request: Request,
        vin: str | None = Parameter(default=None, description="a VIN as typed"),
        lang: str | None = Parameter(default=None, description="en or zh"),
    ) -> Response:
        """A form can only send a query: ``?vin=`` as the reader typed it goes (303) to
        that vehicle's page with the VIN in normal form. An invalid VIN gets the page that
        says what a VIN looks like; no VIN, the front door."""
        query = {"query_params": {"lang": lang}} if lang else {}
        if not (vin or "").strip():
            return Redirect(f"{_root(request)}/", status_code=303, media_type="text/plain", **query)
        normal = normalize_vin(vin)
        validate_vin(normal)
        return Redirect(
            f"{_root(request)}/vehicles/{quote(normal, safe='')}",
            status_code=303,
            media_type="text/plain",
            **query,
        )

    @get(
        "/vehicles/{vin:str}",
        sync_to_thread=True,
        summary="The buyer's page (HTML)",
        media_type=HTML,
        exception_handlers={VinledgerError: page_error},
    )
    def page(
        self,
        request: Request,
        ledger: Ledger,
        vin: str,
        lang: str | None = Parameter(default=None, description="en or zh"),
    ) -> Response:
        """The history in plain words, verified in the reader's browser against the log key."""
        if redirect := _canonical(request, vin):
            return redirect
        t = _words(request, lang)
        model = page_model(
            ledger.history(vin),
            t,
            held=lambda h: ledger.attachment_path(h).is_file(),
            policies=ledger.plugins.policies,
            zone=ledger.settings.time_zone,
        )
        return Template(
            template_name="vehicle.html.j2",
            context={
                "m": model,
                "t": t,
                "lang": t.lang,
                "languages": LANGUAGES,
                "vkey": ledger.vkey,
                "base_url": _base_url(request),
                "root": _root(request),
                "i18n_json": _verify_words(t.lang),
            },
            headers={
                "Vary": "Accept-Language",
                "Content-Language": t.lang,
                "Cache-Control": "no-cache",
            },
        )

    @get(
        "/vehicles/{vin:str}/sticker",
        sync_to_thread=True,
        summary="Printable window sticker",
        media_type=HTML,
        exception_handlers={VinledgerError: page_error},
    )
    def sticker(
        self,
        request: Request,
        ledger: Ledger,
        vin: str,
        lang: str | None = Parameter(default=None, description="en or zh"),
    ) -> Response:
        """A QR code, the VIN and the headline facts, to print and put in the window."""
        if redirect := _canonical(request, vin, "/sticker"):
            return redirect
        t = _words(request, lang)
        link = f"{_base_url(request)}/vehicles/{vin}"
        return Template(
            template_name="sticker.html.j2",
            context={
                "m": page_model(ledger.history(vin), t, zone=ledger.settings.time_zone),
                "as_of": _as_of(ledger, t),
                "t": t,
                "lang": t.lang,
                "root": _root(request),
                "qr": qr_svg(link, sized=False),
                "link": link,
            },
            headers={"Vary": "Accept-Language", "Content-Language": t.lang},
        )

    @get(
        "/vehicles/{vin:str}/qr.svg",
        sync_to_thread=True,
        summary="QR code of the page link",
        media_type=SVG,
    )
    def qr(self, request: Request, ledger: Ledger, vin: str) -> Response:
        """A QR code that opens this vehicle's page."""
        if redirect := _canonical(request, vin, "/qr.svg"):
            return redirect
        ledger.history(vin)  # 404 for a VIN with no entries, rather than a dead link
        return Response(qr_svg(f"{_base_url(request)}/vehicles/{vin}"), media_type=SVG)

    @get(
        "/vehicles/{vin:str}/badge.svg",
        sync_to_thread=True,
        summary="Badge for listings",
        media_type=SVG,
    )
    def badge(
        self,
        request: Request,
        ledger: Ledger,
        vin: str,
        lang: str | None = Parameter(default=None, description="en or zh"),
    ) -> Response:
        """Entries and alerts, coloured by the worst alert; link it to the page. The server
        checks its own bundle first and says NOT VERIFIED if that fails. In the page's
        language: ``?lang=``, else the reader's ``Accept-Language``."""
        if redirect := _canonical(request, vin, "/badge.svg"):  # a listing's VIN as typed
            return redirect
        t = _words(request, lang)
        said = {"Vary": "Accept-Language", "Content-Language": t.lang}
        try:
            history = ledger.history(vin)
        except NotFound:  # an <img> on a listing shows a badge, not a broken image
            svg = badge_svg(True, 0, [], vin, t)
            return Response(svg, media_type=SVG, headers={**said, "Cache-Control": "no-cache"})
        ok = ledger.bundle_verifies(vin, history["entries"][-1]["index"])
        alerts = history["view"]["alerts"]
        describe = None if t.lang == "en" else (lambda a: alert_text(a, t))
        svg = badge_svg(ok, len(history["entries"]), alerts, vin, t, describe)
        return Response(svg, media_type=SVG, headers={**said, "Cache-Control": "max-age=300"})

    @get("/vehicles/{vin:str}/history", sync_to_thread=True, summary="History as JSON")
    def history(
        self,
        ledger: Ledger,
        vin: str,
        as_of: str | None = Parameter(
            default=None,
            description="an RFC 3339 time in UTC written with Z (2026-11-27T00:00:00Z): only "
            "the entries that happened by then (by the date each was signed with, as the "
            "log reads today: entries and corrections logged later count if dated by then), "
            "and the view as of then",
        ),
        logged_by: str | None = Parameter(
            default=None,
            description="an RFC 3339 time in UTC written with Z (2026-11-27T00:00:00Z): only "
            "the entries the ledger had logged by then (by sequenced_at, corrections "
            "included; key revocations logged later not shown): what the ledger held then. "
            "Combines with as_of",
        ),
    ) -> dict:
        """Every entry of the VIN's chain with its record (as signed) and signer, and the
        derived view. A corrected entry also carries ``in_force``: its record with every
        correction applied, the values the view reads. ``?as_of=`` gives the history of
        what happened by then as the log reads today; ``?logged_by=`` what the ledger
        had logged by then."""
        return ledger.history(
            vin, _utc_time(as_of, "as_of"), logged_by=_utc_time(logged_by, "logged_by")
        )

    @get(
        "/vehicles/{vin:str}/bundle",
        sync_to_thread=True,
        summary="Bundle for offline verification",
        media_type="application/json",
    )
    def bundle(self, request: Request, ledger: Ledger, vin: str) -> Response[bytes]:
        """Signed checkpoint, the VIN's entries and their signers' key grants, with proofs.

        Check it with `vinledger verify FILE --vkey VKEY`. Its ETag is a hash of its bytes
        (they change with every new checkpoint): ``If-None-Match`` with it answers 304, so
        a buyer's phone that opens the page again downloads the bundle again only when
        the log has grown.
        """
        body = encode_bundle(ledger.bundle(vin))
        tag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
        headers = {"ETag": tag, "Cache-Control": "no-cache"}  # revalidated on every use
        if _etag_matches(request.headers.get("if-none-match"), tag):
            return Response(b"", status_code=304, headers=headers, media_type="application/json")
        return Response(body, media_type="application/json", headers=headers)


# What ``?as_of=`` and ``?logged_by=`` take: an RFC 3339 time in UTC, written with Z (a
# "+" in a query reads as a space, so offsets are not taken).
_UTC_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def _utc_time(text: str | None, name: str) -> datetime | None:
    """A query's time, or InvalidInput saying how to write it."""
    if text is None:
        return None
    try:
        if _UTC_TIME.fullmatch(text):
            return parse_time(text)
    except InvalidRecord:
        pass
    raise InvalidInput(
        f"`{name}` must be an RFC 3339 time in UTC written with Z, e.g. "
        f"2026-11-27T00:00:00Z, not {text!r}",
        field=name,
    )


def _etag_matches(header: str | None, tag: str) -> bool:
    """``If-None-Match`` names ``tag`` (weak comparison, RFC 9110 13.1.2) or is ``*``."""
    if not header:
        return False
    given = [part.strip().removeprefix("W/") for part in header.split(",")]
    return "*" in given or tag in given


def _as_of(ledger: Ledger, t: Words) -> dict[str, str]:
    """When a sticker is printed, in the ledger's time zone, and the log's size then."""
    zone = ledger.settings.time_zone
    now = datetime.now(ZoneInfo(zone))
    size = int(ledger.reader.checkpoint().split("\n")[1])
    return {
        "date": t.date(now.date()),
        "time": now.strftime("%H:%M"),
        "zone": "UTC" if zone == "UTC" else t.term("zone", zone),
        "size": f"{size:,}",
    }


class AttachmentsController(Controller):
    path = "/attachments"
    tags = ["vehicles"]

    @get("/{sha256:str}", sync_to_thread=True, summary="A document an entry pins by SHA-256")
    def attachment(self, ledger: Ledger, sha256: str) -> Response[bytes]:
        """The file at ``DATA/attachments/<sha256>``, to anyone: the operator puts there
        copies of documents entries pin by SHA-256 (README, "Attachments"). Its bytes
        never change, but the operator may take it down (a document that turned out to
        name a person), so caches keep it a day, not for ever."""
        data = ledger.attachment(sha256)
        return Response(
            data,
            media_type="application/octet-stream",
            headers={"Cache-Control": TAKE_DOWN, "Content-Disposition": "attachment"},
        )


@get("/favicon.ico", sync_to_thread=False, include_in_schema=False, status_code=204)
def favicon() -> None:
    """Browsers ask for /favicon.ico on their own; our pages name their icon
    (``/static/favicon.svg``), so anyone else gets an empty answer, not a 404."""


IMMUTABLE = "public, max-age=31536000, immutable"
TAKE_DOWN = "public, max-age=86400"
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"
# Pages name the script by its content, so a browser may keep it for good (immutable)
# and a new release's pages fetch the new one.
SCRIPT_VERSION = hashlib.sha256((STATIC / "verify.js").read_bytes()).hexdigest()[:16]
