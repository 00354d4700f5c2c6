"""Referral codes and commissions: private to the dealer, the referrer and the operator.

Nothing here is in the log or in any public history. A referrer creates a code by
signing it with its own key; commissions are read with a bearer token (the
operator's admin token sees all; a dealer's or referrer's token sees its own).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import Parameter

from api.routes.records import MAX_SUBMIT_BYTES, require_json
from api.service import Ledger
from core.errors import Unauthorized


def bearer(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "commissions are private: send 'Authorization: Bearer <token>' (the operator "
            "issues tokens with `vinledger tokens issue ACTOR`)"
        )
    return token.strip()


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
        "/commissions",
        sync_to_thread=True,
        summary="Commissions (private)",
        cache_control=CacheControlHeader(no_store=True),  # never in a shared cache
    )
    def commissions(
        self,
        request: Request,
        ledger: Ledger,
        as_of: Annotated[
            date | None,
            Parameter(description="the day statuses are computed for (default today, UTC)"),
        ] = None,
    ) -> dict:
        """Each commission with its sale's log index, rule id and version, amount and status
        (held until the sale's return window closes, then payable; voided by a return;
        disputed, and not payable, while the operator's dispute of the sale is open;
        replaced, never payable, once its dealer recorded the sale again; nothing to pay
        when it rounds to nothing in its currency)."""
        return {"commissions": ledger.commissions(bearer(request), as_of)}
