"""The operator's admin API: onboard actors, list and revoke their keys. Bearer-token
protected.

Each action that succeeds is logged at INFO on ``vinledger.admin`` (ids and entry
indexes only: never a token, a name or a record's contents), so that the operator's
log says who was added, granted or revoked when; refusals are logged by
``api.problems``."""

from __future__ import annotations

import base64
import logging
import re
import secrets
import unicodedata
from typing import TypeVar

import msgspec
from litestar import Controller, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import CacheControlHeader
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPIType, Schema

from api.routes.records import claim_decisions, claims_among, json_body, require_json
from api.service import Ledger
from core.errors import Conflict, InvalidInput, NotFound, Unauthorized
from core.fields import actor_id_problem, key_id_problem
from core.keys import key_id, load_public_key
from core.strict_json import json_problem

W = TypeVar("W", bound=msgspec.Struct)
log = logging.getLogger("vinledger.admin")


def operator_token_guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "the admin API needs 'Authorization: Bearer <token>'; the token is in the "
            "data directory's admin.token file"
        )
    # Read on every request (a small file; admin requests are few): a token the
    # operator renews (`vinledger admin-token`) replaces a lost or leaked one at once.
    try:
        expected = connection.app.state.ledger.settings.admin_token()
    except NotFound as err:  # removed or emptied under a running server
        log.error("the admin API refuses every request: %s", err)
        raise Unauthorized(
            "this ledger has no admin token at the moment; its operator must write one "
            "(`vinledger admin-token`)"
        ) from None
    if not secrets.compare_digest(token.strip().encode(), expected.encode()):
        raise Unauthorized("the bearer token is not this ledger's admin token")


# Latin letters that NFKD does not take apart into a letter and its accent, as they
# are written in plain Latin letters ("Łódź" is `lodz`, "Ærø" `aero`, "Þór" `thor`).
_LETTERS = {"ł": "l", "ø": "o", "æ": "ae", "œ": "oe", "þ": "th", "đ": "d", "ð": "d", "ħ": "h"}
_PLAIN = str.maketrans(
    {**_LETTERS, **{k.upper(): v.upper() for k, v in _LETTERS.items()}, "ı": "i", "ŧ": "t"}
)


def actor_id_from(name: str) -> str:
    """The actor id made from a name when none is given, by the CLI and the API alike:
    letters lose their accents ("Škoda" is `skoda`, "Straße" `strasse`, "Łódź" `lodz`),
    then lowercase ASCII letters and digits are kept and anything else is a '-' (at
    most 63 characters; "" when nothing is left, as of a name in Chinese)."""
    spelled = unicodedata.normalize("NFKD", name.translate(_PLAIN))
    plain = "".join(c for c in spelled if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", plain.casefold()).strip("-")[:63].rstrip("-")


def derived_id_taken(ledger: Ledger, actor_id: str, name: str, option: str) -> Conflict | None:
    """The refusal when ``actor_id``, made from a new actor's ``name``, is an existing
    actor's, or None: a key is granted to an existing actor only when its id is given
    (as ``option``), never because two names make the same id. An actor of that very
    name under another id (made by an older vinledger: "Škoda Praha" was `koda-praha`)
    is refused too: a second actor of one name is the operator's to choose."""
    from sqlalchemy import select

    from ledger.schema import ActorRow
    from ledger.storage import get_actor

    with ledger.store.reader() as s:
        actor = get_actor(s, actor_id)
        named = s.scalars(select(ActorRow).where(ActorRow.name == name).limit(1)).first()
    if actor is None and named is not None:
        return Conflict(
            f"an actor of this name exists as {named.actor_id!r} (entry {named.idx}), not "
            f"as {actor_id!r}, the id made from the name now; nothing was appended. To grant it "
            f"another key give {option} {named.actor_id!r}; for a new actor of the same "
            f"name, choose its id with {option}",
            field="$.actor_id",
            index=named.idx,
        )
    if actor is None:
        return None
    return Conflict(
        f"actor {actor_id!r} exists (entry {actor.idx}) and its id is the one made from "
        f"this name; nothing was appended. To grant it another key give {option} "
        f"explicitly; for a new actor, choose another id with {option}",
        field="$.actor_id",
        index=actor.idx,
    )


class ActorIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    role: str
    public_key: str  # PEM text
    actor_id: str | None = None  # None: made from the name (``actor_id_from``)
    upline: str | None = None


class TokenIn(msgspec.Struct, forbid_unknown_fields=True):
    actor_id: str


class RevokeIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: str = "revoked by the operator"


def _shape(wire: type[msgspec.Struct]) -> str:
    """'a JSON object with `actor_id`, `name` … (`upline` optional)', from the struct."""
    fields = msgspec.structs.fields(wire)
    required = ", ".join(f"`{f.encode_name}`" for f in fields if f.required)
    optional = ", ".join(f"`{f.encode_name}`" for f in fields if not f.required)
    if not required:
        return f"a JSON object with {optional} (optional), or no body"
    return f"a JSON object with {required}" + (f" ({optional} optional)" if optional else "")


def _read(body: bytes, wire: type[W]) -> W:
    """The JSON body as ``wire``, with problems that name the field and the shape wanted.

    No body at all is ``wire()`` when every field has a default (a revocation's reason).
    """
    if not body.strip():
        if all(not f.required for f in msgspec.structs.fields(wire)):
            return wire()
        raise InvalidInput(f"the body is empty; send {_shape(wire)}")
    try:
        return msgspec.json.decode(body, type=wire)
    except msgspec.ValidationError as err:
        message = str(err)
        path = message.rsplit(" - at `", 1)[1].rstrip("`") if " - at `" in message else "$"
        said = message.split(" - at `", 1)[0]
        if said.startswith(("Object missing required field", "Object contains unknown field")):
            name = said.split("`")[1]
            what = "has no" if "missing" in said else "has an unknown field"
            raise InvalidInput(
                f"the body {what} `{name}`; send {_shape(wire)}", field=f"$.{name}"
            ) from None
        raise InvalidInput(f"`{path}`: {said}; send {_shape(wire)}", field=path) from None
    except msgspec.DecodeError as err:
        raise InvalidInput(
            f"the body is not valid JSON: {json_problem(body, err)}; send {_shape(wire)}"
        ) from None


def _schema(wire: type[msgspec.Struct]) -> Schema:
    fields = msgspec.structs.fields(wire)
    return Schema(
        type=OpenAPIType.OBJECT,
        required=[f.encode_name for f in fields if f.required] or None,
        properties={f.encode_name: Schema(type=OpenAPIType.STRING) for f in fields},
    )


def _keyid(keyid: str) -> str:
    if problem := key_id_problem(keyid):
        raise InvalidInput(problem, field="keyid")
    return keyid


def _actor_id(actor_id: str) -> str:
    if problem := actor_id_problem(actor_id):
        raise InvalidInput(problem, field="actor_id")
    return actor_id


def _entries(appended) -> list[dict]:
    return [
        {"index": a.index, "leaf_hash": base64.b64encode(a.leaf_hash).decode()} for a in appended
    ]


class AdminController(Controller):
    path = "/admin"
    tags = ["admin"]
    guards = [operator_token_guard]
    cache_control = CacheControlHeader(no_store=True)  # answers to the operator only

    @post(
        "/actors",
        sync_to_thread=True,
        status_code=201,
        summary="Add an actor and its key",
        guards=[require_json],
        operation_class=json_body(_schema(ActorIn), _shape(ActorIn) + "; public_key is PEM"),
    )
    def add_actor(self, ledger: Ledger, body: bytes) -> dict:
        """Appends the actor (if new) and a grant of its key, signed by the operator key.
        Without `actor_id`, the id is made from the name as `vinledger actors add` makes
        it ("Acme Inspections" is `acme-inspections`, "Škoda Praha" `skoda-praha`) and
        answered; if an actor has that id already, nothing is appended (409). For an
        existing actor (a key rotation) give its `actor_id`, name, role and upline as
        they are: anything else is 409, since an actor entry is never changed.

        Roles: operator, inspector, workshop, insurer, registry, dealer, referrer."""
        data = _read(body, ActorIn)
        actor_id = data.actor_id
        if actor_id is None:
            actor_id = _derived_id(data.name)
            if taken := derived_id_taken(ledger, actor_id, data.name, "`actor_id`"):
                raise taken
        appended = ledger.add_actor(
            actor_id, data.name, data.role, data.public_key.encode(), data.upline
        )
        *added, granted = appended  # the actor entry, if the actor is new; the key grant
        for a in added:
            log.info("admin: actor %s (%s) added at entry %d", actor_id, data.role, a.index)
        key = key_id(load_public_key(data.public_key.encode()))
        log.info("admin: key %s granted to actor %s at entry %d", key, actor_id, granted.index)
        return {"actor_id": actor_id, "entries": _entries(appended)}

    @post(
        "/keys/{keyid:str}/revoke",
        sync_to_thread=True,
        status_code=201,
        summary="Revoke a key",
        guards=[require_json],
        operation_class=json_body(_schema(RevokeIn), _shape(RevokeIn)),
    )
    def revoke(self, ledger: Ledger, keyid: str, body: bytes) -> dict:
        """Appends a revocation; the key signs nothing after this entry. The body may be
        left out: the reason is then "revoked by the operator"."""
        data = _read(body, RevokeIn)
        a = ledger.revoke_key(_keyid(keyid), data.reason)
        log.info("admin: key %s revoked at entry %d", keyid, a.index)
        return {"key_id": keyid, "entries": _entries([a])}

    @post(
        "/records",
        sync_to_thread=True,
        status_code=201,
        summary="File a record as operator",
        guards=[require_json],
    )
    def operator_record(self, ledger: Ledger, body: bytes) -> dict:
        """A record JSON (dispute, complaint, correction, recall, claim) that the ledger
        signs with the operator key and appends after the same checks as any submission.
        A claim's answer carries the ledger's `decision`, as POST /records does."""
        a = ledger.operator_submit(body)
        if a.created:
            log.info("admin: operator record appended at entry %d", a.index)
        answer = {
            "index": a.index,
            "leaf_hash": base64.b64encode(a.leaf_hash).decode(),
            "created": a.created,
        }
        if decision := claim_decisions(ledger.store, claims_among([a])).get(a.index):
            answer["decision"] = msgspec.to_builtins(decision)
        return answer

    @post(
        "/tokens",
        sync_to_thread=True,
        status_code=201,
        summary="Issue an API token",
        guards=[require_json],
        operation_class=json_body(_schema(TokenIn), _shape(TokenIn)),
    )
    def token(self, ledger: Ledger, body: bytes) -> dict:
        """A bearer token for a dealer or referrer to read its own commissions. Shown once."""
        data = _read(body, TokenIn)
        token = ledger.issue_token(data.actor_id)
        log.info("admin: API token issued to actor %s", data.actor_id)
        return {"actor_id": data.actor_id, "token": token}

    @get("/keys/{keyid:str}", sync_to_thread=True, summary="A key's status")
    def key(self, ledger: Ledger, keyid: str) -> dict:
        return ledger.key_status(_keyid(keyid))

    @get("/actors/{actor_id:str}", sync_to_thread=True, summary="An actor and its keys")
    def actor(self, ledger: Ledger, actor_id: str) -> dict:
        """The actor (name, role, upline, the index of its actor entry) and every key
        granted to it: its id, the index of its grant and of its revocation (null while
        it is valid). The key id to revoke when a partner loses a key is here."""
        return ledger.actor_keys(_actor_id(actor_id))


def _derived_id(name: str) -> str:
    """The actor id made from ``name``; InvalidInput, naming ``actor_id``, if none is."""
    actor_id = actor_id_from(name)
    if problem := actor_id_problem(actor_id):
        made = (
            f"would be {actor_id!r}; {problem}"
            if actor_id
            else "has no Latin letter or digit (an id is a-z, 0-9 and '-')"
        )
        raise InvalidInput(
            f"the body has no `actor_id` and the id made from the name {made}: send "
            'one, e.g. "actor_id": "acme-inspections"',
            field="$.actor_id",
        )
    return actor_id


def revocation_reasons(ledger: Ledger, keys: list[dict]) -> dict[int, str]:
    """The reason each revoked key's revocation entry gives, by that entry's index."""
    from core.records import parse_record
    from ledger.entry import decode_entry, record_bytes
    from ledger.storage import entry_by_index

    reasons = {}
    with ledger.store.reader() as s:
        for index in {k["revoked_at_index"] for k in keys} - {None}:
            row = entry_by_index(s, index)
            record = parse_record(record_bytes(decode_entry(row.data)))
            reasons[index] = record.reason
    return reasons
