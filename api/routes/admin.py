"""The operator's admin API: onboard actors, revoke keys. Bearer-token protected."""

from __future__ import annotations

import base64
import secrets

import msgspec
from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from api.service import Ledger
from core.errors import Unauthorized


def operator_token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    expected: str = connection.app.state.admin_token
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "the admin API needs 'Authorization: Bearer <token>'; the token is in the "
            "data directory's admin.token file"
        )
    if not secrets.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("the bearer token is not this ledger's admin token")


class ActorIn(msgspec.Struct, forbid_unknown_fields=True):
    actor_id: str
    name: str
    role: str
    public_key: str  # PEM text
    upline: str | None = None


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    actor_id: str


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = "revoked by the operator"


def _entries(appended) -> list[dict]:
    return [
        {"index": a.index, "leaf_hash": base64.b64encode(a.leaf_hash).decode()} for a in appended
    ]


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = [operator_token_guard]

    @post("/actors", sync_to_thread=True, status_code=201, summary="Add an actor and its key")
    def add_actor(self, ledger: Ledger, data: ActorIn) -> dict:
        """Appends the actor (if new) and a grant of its key, signed by the operator key.

        Roles: operator, inspector, workshop, insurer, registry, dealer, referrer."""
        appended = ledger.add_actor(
            data.actor_id, data.name, data.role, data.public_key.encode(), data.upline
        )
        return {"actor_id": data.actor_id, "entries": _entries(appended)}

    @post("/keys/{keyid:str}/revoke", sync_to_thread=True, status_code=201, summary="Revoke a key")
    def revoke(self, ledger: Ledger, keyid: str, data: RevokeIn) -> dict:
        """Appends a revocation; the key signs nothing after this entry."""
        return {"key_id": keyid, "entries": _entries([ledger.revoke_key(keyid, data.reason)])}

    @post("/records", sync_to_thread=True, status_code=201, summary="File a record as operator")
    def operator_record(self, ledger: Ledger, body: bytes) -> dict:
        """A record JSON (dispute, complaint, correction, recall, claim) that the ledger
        signs with the operator key and appends after the same checks as any submission."""
        a = ledger.operator_submit(body)
        return {
            "index": a.index,
            "leaf_hash": base64.b64encode(a.leaf_hash).decode(),
            "created": a.created,
        }

    @post("/tokens", sync_to_thread=True, status_code=201, summary="Issue an API token")
    def token(self, ledger: Ledger, data: TokenIn) -> dict:
        """A bearer token for a dealer or referrer to read its own commissions. Shown once."""
        return {"actor_id": data.actor_id, "token": ledger.issue_token(data.actor_id)}

    @get("/keys/{keyid:str}", sync_to_thread=True, summary="A key's status")
    def key(self, ledger: Ledger, keyid: str) -> dict:
        return ledger.key_status(keyid)
