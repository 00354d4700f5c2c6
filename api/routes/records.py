"""Submissions: signed DSSE envelopes in, proof out."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec
from litestar import Controller, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from sqlalchemy import select

from api.problems import PROBLEM_JSON, log, problem_for
from api.service import Ledger
from api.service_checks import MAX_ENVELOPE_BYTES
from core.dsse import is_json_type
from core.errors import (
    Busy,
    InvalidInput,
    InvalidVIN,
    TooLarge,
    TooSlow,
    UnsupportedMediaType,
    VinledgerError,
)
from core.records import ClaimDecision, parse_record
from core.strict_json import duplicate_key, json_problem
from core.vin import validate_vin
from ledger.checkpoint import b64
from ledger.entry import decode_entry, record_bytes
from ledger.schema import EntryRow
from ledger.sequencer import Appended
from ledger.storage import Store
from ledger.verify_receipt import Receipt as ProvenReceipt
from plugins.claims import CLAIM_KINDS

MAX_BATCH = 1000
MAX_BATCH_BYTES = 16 * 1024 * 1024
# Batches handled at once by one worker: each holds its body (up to 16 MiB), its
# envelopes and their receipts (tens of MB at the limits), and the sequencer appends one
# batch at a time anyway, so more at once would grow the server's memory (32 at once:
# 250 MB; 16 junk bodies: 770 MB, before this limit), not its throughput. A batch's body
# is received first, within BATCH_BODY_SECONDS (408 otherwise), into memory up to
# SPOOL_IN_MEMORY and to a temporary file beyond, so a client sending slowly holds no
# turn; then it waits for a turn up to BATCH_WAIT_SECONDS (503 with Retry-After).
BATCHES_AT_ONCE = 2
BATCH_WAIT_SECONDS = 30.0
BATCH_BODY_SECONDS = 60.0
SPOOL_IN_MEMORY = 1024 * 1024
# One envelope is at most MAX_ENVELOPE_BYTES (its check says so); a body much larger
# than that is refused as it arrives, not read into memory first.
MAX_SUBMIT_BYTES = 2 * MAX_ENVELOPE_BYTES


class Decision(msgspec.Struct):
    """The ledger's decision on a claim: the ``claim_decision`` entry right after it."""

    index: int
    approved: bool
    reason: str
    policy: str


class Receipt(ProvenReceipt, omit_defaults=True):
    """What a submitter takes home: the entry, where it is, and proof that it is there
    (the fields ``vinledger verify-receipt`` checks, ``ledger.verify_receipt``), and
    what the ledger said of it."""

    created: bool
    warnings: list[str]  # what is odd but acceptable (a VIN's check digit): look for a typo
    decision: Decision | None = None  # a return_request's or warranty_claim's only


class BatchReceipt(Receipt, kw_only=True):
    """A receipt as one of a batch's results: with the status POST /records answers."""

    status: int


class _Base64(dict):
    """Base64 of hashes, each encoded once: a batch's proofs share most of their nodes
    (all of them the upper ones), which took ten encodings a receipt."""

    def __missing__(self, raw: bytes) -> str:
        text = self[raw] = b64(raw)
        return text


def receipt(
    a: Appended,
    decision: Decision | None = None,
    *,
    texts: _Base64 | None = None,
    status: int | None = None,
    warned: dict[str | None, list[str]] | None = None,
) -> Receipt:
    """``texts``: base64 of the hashes a batch's receipts share; ``warned``: the
    warnings of the VINs seen so far in the batch. ``status``: one of a batch's results,
    which says the status POST /records would have answered."""
    texts = _Base64() if texts is None else texts
    fields = {
        "index": a.index,
        "leaf_hash": b64(a.leaf_hash),
        "size": a.size,
        "checkpoint": a.checkpoint,
        "inclusion_proof": [texts[h] for h in a.proof],
        "entry": b64(a.entry),
        "created": a.created,
        "warnings": entry_warnings(a.entry, {} if warned is None else warned),
        "decision": decision,
    }
    return Receipt(**fields) if status is None else BatchReceipt(**fields, status=status)


class _Kind(msgspec.Struct):
    kind: str
    vin: str | None = None


_ENTRY_KIND = msgspec.json.Decoder(_Kind)


def entry_warnings(entry: bytes, warned: dict[str | None, list[str]]) -> list[str]:
    """``core.records.record_warnings`` of the record logged as ``entry``. Those are
    about its VIN (a check digit that does not add up, outside the regions that require
    it), which the entry names: the record is not parsed again. ``warned`` holds the
    answer for each VIN seen so far (a batch holds a vehicle's records together)."""
    vin = _ENTRY_KIND.decode(entry).vin
    if vin not in warned:
        try:
            warned[vin] = validate_vin(vin) if vin is not None else []
        except InvalidVIN:  # the ledger checked it; an entry logged before a stricter rule
            warned[vin] = []
    return warned[vin]


def claims_among(outcomes: Iterable[object]) -> list[int]:
    """The indexes of the claims (return requests, warranty claims) among ``outcomes``."""
    return [
        o.index
        for o in outcomes
        if isinstance(o, Appended) and _ENTRY_KIND.decode(o.entry).kind in CLAIM_KINDS
    ]


def claim_decisions(store: Store, claims: list[int]) -> dict[int, Decision]:
    """The decision on each claim, by the claim's index, in one query.

    The sequencer appends a claim's decision right after it, in the same transaction,
    so it is the entry at the claim's index + 1. ``Appended`` does not carry it, hence
    the query; a replayed claim (answered 200) gets its decision the same way.
    """
    if not claims:
        return {}
    with store.reader() as s:
        rows = s.execute(
            select(EntryRow.idx, EntryRow.data).where(EntryRow.idx.in_([i + 1 for i in claims]))
        ).all()
    decisions = {}
    for idx, data in rows:
        entry = decode_entry(bytes(data))
        if entry.kind != "claim_decision":
            continue
        record = parse_record(record_bytes(entry))
        if isinstance(record, ClaimDecision) and record.claim == idx - 1:
            decisions[record.claim] = Decision(idx, record.approved, record.reason, record.policy)
    return decisions


async def _decisions(ledger: Ledger, outcomes: list) -> dict[int, Decision]:
    claims = claims_among(outcomes)
    return await asyncio.to_thread(claim_decisions, ledger.store, claims) if claims else {}


# Content codings in the IANA registry (RFC 9110 §8.4.1): a body sent with one is
# compressed; any other value is a mistake for something else, usually a charset.
_CODINGS = frozenset(
    {
        "gzip",
        "x-gzip",
        "deflate",
        "br",
        "compress",
        "x-compress",
        "zstd",
        "aes128gcm",
        "exi",
        "pack200-gzip",
    }
)


def check_json_body(content_type: str | None, content_encoding: str | None = None) -> None:
    """Refuses (415) a body sent as anything but JSON, or compressed, before it is read.

    A request that names no Content-Type passes: the body is parsed as JSON either way
    and says so if it is not, and raw HTTP clients often send none.
    """
    if content_encoding:
        codings = {c.strip().lower() for c in content_encoding.split(",")} - {"identity", ""}
        if codings:
            said = content_encoding.strip()[:40]
            if codings <= _CODINGS:
                raise UnsupportedMediaType(
                    f"the body was sent with Content-Encoding: {said}; this API takes bodies "
                    "uncompressed: send the JSON as it is, without Content-Encoding"
                )
            raise UnsupportedMediaType(
                f"Content-Encoding: {said} is no compression this API knows (the header names "
                "how a body is compressed, not its charset): send the JSON uncompressed, "
                "without Content-Encoding"
            )
    if not content_type or is_json_type(content_type):
        return
    essence = content_type.split(";", 1)[0].strip().lower()
    curl = (
        ", which is what curl --data sends unless told otherwise"
        if essence == "application/x-www-form-urlencoded"
        else ""
    )
    raise UnsupportedMediaType(
        f"the body was sent as {essence}{curl}; this API takes JSON: send it with "
        "Content-Type: application/json, e.g. curl --json @envelope.json URL, or "
        "curl -H 'Content-Type: application/json' --data-binary @envelope.json URL"
    )


async def require_json(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """``check_json_body`` as a guard, for routes off the submission path: Litestar
    copies the handler for each guard call (~100 µs a request), so the two submission
    routes call ``check_json_body`` themselves."""
    headers = connection.headers
    check_json_body(headers.get("content-type"), headers.get("content-encoding"))


class _Batch(msgspec.Struct, forbid_unknown_fields=True):
    envelopes: list[msgspec.Raw]


ENVELOPE_DOC = (
    'A DSSE envelope: {"payload": base64(record JSON), "payloadType": '
    '"application/vnd.vinledger.record+json", "signatures": [{"keyid": hex SHA-256 of '
    'the raw Ed25519 public key, "sig": base64 Ed25519 signature over PAE}]}'
)


SUBMIT_DOC = (
    "Checks a DSSE envelope and appends it: 201 with a receipt (the entry, its index "
    "and leaf hash, a signed checkpoint that includes it and the inclusion proof); 200 "
    "with the same receipt if the envelope was already in the log.\n\n"
    "For a `return_request` or `warranty_claim` the receipt also carries `decision`: "
    "the `claim_decision` the ledger appended right after the claim, in the same "
    "checkpoint: its log `index` (the claim's + 1), whether the policy `approved` the "
    "claim, the policy's `reason`, and the `policy` id. Other receipts have no "
    "`decision`.\n\n"
    "`warnings` lists what is odd but accepted about the record, so far a VIN whose "
    "check digit does not add up (optional outside North America and China): look for "
    "a typo, which would start the history of another vehicle. Empty when nothing is.\n\n"
    "The body is JSON: send Content-Type application/json (or none); any other "
    "Content-Type, such as the form type `curl --data` sends, is refused with 415."
)
BATCH_DOC = (
    'Up to 1,000 envelopes in one body, `{"envelopes": [...]}`; answers '
    '`{"results": [...]}`, one per envelope in order: a receipt as POST /records '
    "gives it (a claim's with its `decision`) plus `status` 201 or 200, or a problem "
    "document with its `status`. Content-Type as for POST /records."
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


def json_body(schema: Schema, description: str) -> type[Operation]:
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


async def _receive_body(request: Request, spool: tempfile.SpooledTemporaryFile) -> None:
    """The request's body into ``spool``, within ``BATCH_BODY_SECONDS``; at its start."""

    async def receive() -> None:
        async for chunk in request.stream():  # Litestar stops one past the size limit
            spool.write(chunk)

    try:
        await asyncio.wait_for(receive(), BATCH_BODY_SECONDS)
    except TimeoutError:
        raise TooSlow(
            f"the batch's body did not arrive within {BATCH_BODY_SECONDS:g} s; nothing of "
            "it was appended: send it again, or in smaller batches"
        ) from None
    spool.seek(0)


class RecordsController(Controller):
    path = "/records"
    tags = ["records"]

    @post(
        "/",
        summary="Submit one signed record",
        description=SUBMIT_DOC,
        status_code=201,
        operation_class=json_body(ENVELOPE_SCHEMA, ENVELOPE_DOC),
        request_max_body_size=MAX_SUBMIT_BYTES,
    )
    async def submit(self, request: Request, body: bytes, ledger: Ledger) -> Response[Receipt]:
        """Check a DSSE envelope and append it (see ``SUBMIT_DOC``)."""
        check_json_body(
            request.headers.get("content-type"), request.headers.get("content-encoding")
        )
        (outcome,) = await ledger.submit([body])
        if isinstance(outcome, VinledgerError):
            raise outcome
        decision = (await _decisions(ledger, [outcome])).get(outcome.index)
        return Response(receipt(outcome, decision), status_code=201 if outcome.created else 200)

    @post(
        "/batch",
        summary="Submit many signed records",
        description=BATCH_DOC,
        status_code=200,
        operation_class=json_body(BATCH_SCHEMA, '{"envelopes": [envelope, ...]}'),
    )
    async def batch(self, request: Request, ledger: Ledger) -> dict:
        """Up to 1,000 envelopes, one result each (see ``BATCH_DOC``)."""
        check_json_body(
            request.headers.get("content-type"), request.headers.get("content-encoding")
        )
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            await _receive_body(request, spool)  # before its turn: a slow sender holds none
            gate = request.app.state.get("batch_gate")
            if gate is None:
                gate = request.app.state["batch_gate"] = asyncio.Semaphore(BATCHES_AT_ONCE)
            try:
                await asyncio.wait_for(gate.acquire(), BATCH_WAIT_SECONDS)
            except TimeoutError:
                raise Busy(
                    f"this server is handling {BATCHES_AT_ONCE} batches already and yours "
                    f"waited {BATCH_WAIT_SECONDS:g} s; nothing of it was appended: send it "
                    "again in a few seconds",
                    retry_after=5,
                ) from None
            try:
                return await self._batch(request, spool.read(), ledger)
            finally:
                gate.release()

    async def _batch(self, request: Request, raw: bytes, ledger: Ledger) -> dict:
        if len(raw) > MAX_BATCH_BYTES:
            raise TooLarge(
                f"the batch is {len(raw):,} bytes; a batch is at most {MAX_BATCH_BYTES:,} "
                "bytes: split it into smaller batches, and attach documents by SHA-256 "
                "(`attachments`) rather than putting them in records"
            )
        try:
            batch = msgspec.json.decode(raw, type=_Batch)
        except msgspec.ValidationError as err:
            raise InvalidInput(f'body must be {{"envelopes": [...]}}: {err}') from None
        except (msgspec.DecodeError, UnicodeDecodeError) as err:
            raise InvalidInput(
                f'body must be {{"envelopes": [...]}}: {json_problem(raw, err)}'
            ) from None
        except RecursionError:
            raise InvalidInput(
                'body must be {"envelopes": [...]}: it nests JSON arrays or objects too deeply'
            ) from None
        # Readers keep one copy of a repeated key; msgspec the last. Look closer only when
        # the text could hold a repeat ("envelopes" twice, or a key spelled with escapes).
        suspect = raw.count(b'"envelopes"') > 1 or b"\\u" in raw
        if suspect and (duplicate_key(raw) or ("", ""))[0] == "$.envelopes":
            raise InvalidInput(
                'the body names "envelopes" more than once; JSON readers keep one of them '
                "and drop the others: send one list with every envelope",
                field="envelopes",
            )
        if not 1 <= len(batch.envelopes) <= MAX_BATCH:
            raise InvalidInput(
                f"a batch holds 1 to {MAX_BATCH} envelopes, not {len(batch.envelopes)}"
            )
        outcomes = await ledger.submit([bytes(e) for e in batch.envelopes])
        decisions = await _decisions(ledger, outcomes)
        results: list[BatchReceipt | dict] = []
        texts = _Base64()
        warned: dict[str | None, list[str]] = {}
        for i, o in enumerate(outcomes):
            if isinstance(o, Appended):
                status = 201 if o.created else 200
                decision = decisions.get(o.index)
                r = receipt(o, decision, texts=texts, status=status, warned=warned)
            else:
                r = problem_for(o)
                r["content_type"] = PROBLEM_JSON
                r["instance"] = f"{request.url.path}#/envelopes/{i}"  # which one, RFC 6901
                # For the operator, as a single submission's refusal is logged
                # (api.problems): the problem's type and field, never its detail.
                field = f" ({o.field!r})" if o.field else ""
                log.info("refused %r: %d %s%s", r["instance"], o.status, o.slug, field)
            results.append(r)
        return {"results": results}
