"""Submissions: signed DSSE envelopes in, proof out."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar import Controller, Response, post
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema

from api.problems import PROBLEM_JSON, problem_for
from api.service import Ledger
from core.errors import InvalidInput, TooLarge, VinledgerError
from ledger.checkpoint import b64
from ledger.sequencer import Appended

MAX_BATCH = 1000
MAX_BATCH_BYTES = 16 * 1024 * 1024


class Receipt(msgspec.Struct):
    """What a submitter takes home: the entry, where it is, and proof that it is there."""

    index: int
    leaf_hash: str
    size: int
    checkpoint: str
    inclusion_proof: list[str]
    entry: str
    created: bool


def receipt(a: Appended) -> Receipt:
    return Receipt(
        index=a.index,
        leaf_hash=b64(a.leaf_hash),
        size=a.size,
        checkpoint=a.checkpoint,
        inclusion_proof=[b64(h) for h in a.proof],
        entry=b64(a.entry),
        created=a.created,
    )


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    envelopes: list[msgspec.Raw]


ENVELOPE_DOC = (
    'A DSSE envelope: {"payload": base64(record JSON), "payloadType": '
    '"application/vnd.vinledger.record+json", "signatures": [{"keyid": hex SHA-256 of '
    'the raw Ed25519 public key, "sig": base64 Ed25519 signature over PAE}]}'
)


_STR = Schema(type=OpenAPIType.STRING)
ENVELOPE_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["payload", "payloadType", "signatures"],
    properties={
        "payload": Schema(type=OpenAPIType.STRING, description="base64 of the record JSON"),
        "payloadType": Schema(type=OpenAPIType.STRING, description="the record's media type"),
        "signatures": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                required=["keyid", "sig"],
                properties={"keyid": _STR, "sig": _STR},
            ),
        ),
    },
)
BATCH_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["envelopes"],
    properties={"envelopes": Schema(type=OpenAPIType.ARRAY, items=ENVELOPE_SCHEMA)},
)


def _json_body(schema: Schema, description: str) -> type[Operation]:
    """An OpenAPI operation documenting a JSON body the handler reads as raw bytes.

    The handlers take the body as bytes, so the envelope is parsed once, by
    ``core.dsse`` (which names what is wrong), not first by the framework.
    """

    @dataclass
    class _Operation(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={"application/json": OpenAPIMediaType(schema=schema)},
                description=description,
                required=True,
            )

    return _Operation


class RecordsController(Controller):
    path = "/records"
    tags = ["records"]

    @post(
        "/",
        summary="Submit one signed record",
        status_code=201,
        operation_class=_json_body(ENVELOPE_SCHEMA, ENVELOPE_DOC),
    )
    async def submit(self, body: bytes, ledger: Ledger) -> Response[Receipt]:
        """Check a DSSE envelope and append it. 201 with a receipt; 200 if it was already in."""
        (outcome,) = await ledger.submit([body])
        if isinstance(outcome, VinledgerError):
            raise outcome
        return Response(receipt(outcome), status_code=201 if outcome.created else 200)

    @post(
        "/batch",
        summary="Submit many signed records",
        status_code=200,
        operation_class=_json_body(BATCH_SCHEMA, '{"envelopes": [envelope, ...]}'),
    )
    async def batch(self, body: bytes, ledger: Ledger) -> dict:
        """Up to 1,000 envelopes; answers one result per envelope, in order."""
        raw = body
        if len(raw) > MAX_BATCH_BYTES:
            raise TooLarge(f"a batch is at most {MAX_BATCH_BYTES} bytes; split it")
        try:
            batch = msgspec.json.decode(raw, type=_Batch)
        except (msgspec.DecodeError, UnicodeDecodeError) as err:
            raise InvalidInput(f'body must be {{"envelopes": [...]}}: {err}') from None
        if not 1 <= len(batch.envelopes) <= MAX_BATCH:
            raise InvalidInput(
                f"a batch holds 1 to {MAX_BATCH} envelopes, not {len(batch.envelopes)}"
            )
        outcomes = await ledger.submit([bytes(e) for e in batch.envelopes])
        results = []
        for o in outcomes:
            if isinstance(o, Appended):
                r = msgspec.to_builtins(receipt(o))
                r["status"] = 201 if o.created else 200
            else:
                r = problem_for(o)
                r["content_type"] = PROBLEM_JSON
            results.append(r)
        return {"results": results}
