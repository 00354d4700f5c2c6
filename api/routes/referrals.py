"""Referral codes and commissions: private to the dealer, the referrer and the operator.

Nothing here is in the log or in any public history. A referrer creates a code by
signing it with its own key; commissions are read with a bearer token (the
operator's admin token sees all; a dealer's or referrer's token sees its own).
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Literal

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter

from api.problems import handle_http_exception
from api.routes.records import MAX_SUBMIT_BYTES, require_json
from api.service import Ledger
from api.service_dealers import commission_totals
from core.errors import Unauthorized


def bearer(request: Request, what: str = "commissions") -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            f"{what} are private: send 'Authorization: Bearer <token>' (the operator "
            "issues tokens with `vinledger tokens issue ACTOR`)"
        )
    return token.strip()


def _named_as_sent(request: Request, err: ValidationException) -> Response:
    """Litestar's check of a query parameter names the handler's argument (``sold_from``):
    name the parameter the client sent (``from``), as the OpenAPI document does."""
    arguments = request.route_handler.parsed_fn_signature.parameters
    sent = {
        arg: field.kwarg_definition.name
        for arg, field in arguments.items()
        if isinstance(field.kwarg_definition, QueryParameter) and field.kwarg_definition.name
    }
    for problem in err.extra or []:
        if isinstance(problem, dict) and problem.get("key") in sent:
            problem["key"] = sent[problem["key"]]
    return handle_http_exception(request, err)


class ReferralsController(Controller):
    path = "/"
    tags = ["referrals"]

    @post(
        "/referrals",
        sync_to_thread=True,
        status_code=201,
        summary="Create a referral code",
        guards=[require_json],
        request_max_body_size=MAX_SUBMIT_BYTES,  # one small envelope: refused as it comes
    )
    def create(self, body: bytes, ledger: Ledger) -> Response[dict]:
        """A DSSE envelope (payloadType application/vnd.vinledger.referral+json) signed by a
        referrer: {"code", "rule", "params", "model", "region"}. Kept private. 201 with
        the code; the same request from the same referrer again (a retry after a lost
        answer) 200 with the code it holds, ``created`` false; a code someone else
        holds, or the same code with other terms, 409."""
        made = ledger.create_referral(body)
        return Response(made, status_code=201 if made["created"] else 200)

    @get(
        "/referrals",
        sync_to_thread=True,
        summary="Your referral codes and their terms (private)",
        cache_control=CacheControlHeader(no_store=True),
    )
    def referrals(self, request: Request, ledger: Ledger) -> dict:
        """The codes a referrer's token holds, with their terms (rule, version, params,
        model, region, the upline paid level 2, when made); the operator's token: every
        code. A dealer reads one code's terms at /referrals/CODE."""
        return {"referrals": ledger.referral_terms(bearer(request, "referral terms"))}

    @get(
        "/referrals/{code:str}",
        sync_to_thread=True,
        summary="A referral code's terms (private)",
        cache_control=CacheControlHeader(no_store=True),
    )
    def referral(self, request: Request, ledger: Ledger, code: str) -> dict:
        """What a sale naming ``code`` pays, and to whom: for any dealer's token (read it
        before recording the sale), the code's referrer and the operator. 404 for a
        code this ledger does not hold (or, to a referrer, one another referrer holds)."""
        [terms] = ledger.referral_terms(bearer(request, "referral terms"), code)
        return terms

    @get(
        "/commissions",
        sync_to_thread=True,
        summary="Commissions (private)",
        cache_control=CacheControlHeader(no_store=True),  # never in a shared cache
        exception_handlers={ValidationException: _named_as_sent},
    )
    def commissions(
        self,
        request: Request,
        ledger: Ledger,
        as_of: Annotated[
            date | None,
            QueryParameter(
                description="the day statuses are computed for, in the ledger's time zone "
                "(config.json's time_zone; default: today there)"
            ),
        ] = None,
        sold_from: Annotated[
            date | None,
            QueryParameter(
                name="from",
                description="only sales sold on or after this day (the ledger's day, as `sold_on`)",
            ),
        ] = None,
        sold_to: Annotated[
            date | None,
            QueryParameter(name="to", description="only sales sold on or before this day"),
        ] = None,
        answer_format: Annotated[
            Literal["json", "csv"] | None,
            QueryParameter(
                name="format",
                description="csv: the rows as CSV (as `Accept: text/csv`), without totals",
            ),
        ] = None,
    ) -> Response[dict]:
        """Each commission with its sale's log index, VIN and day (``sold_on``), rule id and
        version, amount and status (held until the sale's return window closes, then
        payable; voided by a return; disputed, and not payable, while the operator's
        dispute of the sale is open; replaced, never payable, once its dealer recorded the
        sale again; nothing to pay when it rounds to nothing in its currency), with the
        entry behind a status that pays nothing in ``reason``; and ``totals`` per
        beneficiary and currency, by status. Amounts are decimal strings."""
        as_of = as_of or ledger.today()
        rows = ledger.commissions(bearer(request), as_of, sold_from, sold_to)
        if answer_format == "csv" or (answer_format is None and _wants_csv(request)):
            return Response(_csv(rows), media_type=CSV)
        totals = commission_totals(rows)
        return Response({"as_of": as_of.isoformat(), "commissions": rows, "totals": totals})


CSV = "text/csv"
CSV_COLUMNS = (
    "sale",
    "vin",
    "sold_on",
    "code",
    "dealer",
    "beneficiary",
    "level",
    "amount",
    "currency",
    "rule",
    "rule_version",
    "status",
    "held_until",
    "reason",
)


def _wants_csv(request: Request) -> bool:
    """Whether the client asked for CSV (``Accept: text/csv``) rather than JSON."""
    best = request.accept.best_match(["application/json", "text/csv"], default="application/json")
    return best == "text/csv"


def _csv(rows: list[dict]) -> str:
    """The rows as CSV, every text quoted: a spreadsheet keeps "10.120" dinars and a
    VIN as written instead of reading them as numbers."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[k] is None else row[k] for k in CSV_COLUMNS])
    return out.getvalue()
