"""The OpenAPI document at ``/schema``, as the API answers, for clients generated from it.

Litestar describes a route's errors in its own shape (``status_code``, ``detail``,
``extra``) and types a route that returns bytes as a string. vinledger answers every
error as RFC 9457 ``application/problem+json`` (``api.problems``), serves a bundle
as a JSON object and an attachment as the file it is; ``documented`` rewrites the
generated document to say so, once per app, when a reader first asks for it. The
render plugins here serve that document, as JSON and in the Scalar and Swagger pages.
"""

from __future__ import annotations

import copy
import threading
from http import HTTPStatus
from typing import Any, ClassVar

from litestar import Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    ScalarRenderPlugin,
    SwaggerRenderPlugin,
)

PROBLEM_JSON = "application/problem+json"
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An RFC 9457 problem: what was wrong and what to do (docs/formats.md, Errors).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "what was wrong, and what to do"},
        "instance": {"type": "string"},
        "field": {
            "type": "string",
            "description": "the field concerned: a JSON path into the record ($.vin), an "
            "envelope's field (signatures[0].sig), or a parameter's name",
        },
        "index": {"type": "integer", "description": "the log entry concerned"},
    },
}

# One of a batch's results: the receipt with the status POST /records would have
# answered, or the problem it would have answered, with its media type and an
# instance pointing at the envelope in the request (/records/batch#/envelopes/<i>).
BATCH_RESULT_SCHEMA: dict[str, Any] = {
    "oneOf": [
        {
            "allOf": [
                {"$ref": "#/components/schemas/Receipt"},
                {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"type": "integer", "enum": [200, 201]}},
                },
            ]
        },
        {
            "allOf": [
                _PROBLEM_REF,
                {
                    "type": "object",
                    "required": ["content_type"],
                    "properties": {"content_type": {"type": "string", "enum": [PROBLEM_JSON]}},
                },
            ]
        },
    ]
}

_TEXT = {"type": "string"}
_DAY = {"type": "string", "format": "date"}
_AMOUNT = {"type": "string", "description": 'a decimal string, e.g. "12.50"'}
_STATUSES = ["pending", "held", "payable", "voided", "disputed", "replaced", "nothing to pay"]
_TOTALLED = ["payable", "held", "disputed", "voided", "replaced"]

# GET /commissions as JSON: the rows, and their totals (api.service_dealers).
COMMISSIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["as_of", "commissions", "totals"],
    "properties": {
        "as_of": {**_DAY, "description": "the day the statuses are of (the ledger's day)"},
        "commissions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["sale", "vin", "sold_on", "status", "held_until", "reason"],
                "properties": {
                    "sale": {"type": "integer", "description": "the sale's log index"},
                    "vin": _TEXT,
                    "sold_on": {**_DAY, "description": "the sale's day (the ledger's day)"},
                    "code": _TEXT,
                    "dealer": _TEXT,
                    "beneficiary": {"type": ["string", "null"]},
                    "level": {"type": ["integer", "null"]},
                    "amount": {**_AMOUNT, "type": ["string", "null"]},
                    "currency": {"type": ["string", "null"]},
                    "rule": _TEXT,
                    "rule_version": {"type": ["string", "null"]},
                    "status": {"type": "string", "enum": _STATUSES},
                    "held_until": _DAY,
                    "reason": {
                        "type": ["string", "null"],
                        "description": "why it is pending, or the entry behind voided, "
                        "disputed or replaced",
                    },
                },
            },
        },
        "totals": {
            "type": "array",
            "description": "the amounts added up per beneficiary and currency, by status",
            "items": {
                "type": "object",
                "required": ["beneficiary", "currency", *_TOTALLED],
                "properties": {
                    "beneficiary": _TEXT,
                    "currency": _TEXT,
                    **dict.fromkeys(_TOTALLED, _AMOUNT),
                },
            },
        },
    },
}

# GET /vehicles/{vin}/history (api.service.Ledger.history): the parts a client reads
# besides each entry's signed record.
_UTC_TIME = {"type": "string", "format": "date-time"}
# ?as_of= and ?logged_by= (api.routes.vehicles._utc_time): UTC, written with Z.
_UTC_QUERY = {**_UTC_TIME, "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$"}
HISTORY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["vin", "vehicle", "entries", "view"],
    "properties": {
        "vin": {"type": "string"},
        "vehicle": {"type": "object", "description": "what the VIN itself encodes"},
        "entries": {
            "type": "array",
            "description": "the VIN's entries in log order (those ?as_of= and ?logged_by= keep)",
            "items": {
                "type": "object",
                "required": ["index", "kind", "sequenced_at", "signer", "record"],
                "properties": {
                    "index": {"type": "integer", "description": "its log index"},
                    "kind": {"type": "string"},
                    "sequenced_at": {**_UTC_TIME, "description": "when the ledger logged it"},
                    "signer": {"type": "object"},
                    "record": {"type": "object", "description": "the record as signed"},
                    "in_force": {
                        "type": "object",
                        "description": "only on an entry a correction changed: its record "
                        "with its corrections applied (in log order, later ones winning "
                        "field by field; one an older log holds that the view refuses, "
                        "named in the view's correction_not_applied, is left out), the "
                        "values the view and the page read",
                    },
                    "key_revoked": {
                        "type": "object",
                        "description": "the revocation of the key it was signed with, if "
                        "the operator revoked it: {index, at, reason}",
                    },
                },
            },
        },
        "view": {
            "type": "object",
            "description": "what the entries imply (alerts, odometer, brands, ...), each "
            "conclusion naming the entries behind it",
            "properties": {
                "as_of": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "?as_of= as an RFC 3339 UTC time, or null: the view keeps "
                    "the entries dated (by the date each was signed with) by then",
                },
                "logged_by": {
                    "type": ["string", "null"],
                    "format": "date-time",
                    "description": "?logged_by= as an RFC 3339 UTC time, or null: the view "
                    "keeps the entries the ledger had logged by then",
                },
            },
        },
    },
}

# A receipt's `warnings` (api.routes.records.entry_warnings), said for clients.
RECEIPT_WARNINGS = (
    "what is odd but accepted about the record, each a sentence; so far a VIN whose "
    "check digit does not add up (optional outside North America and China): most "
    "likely a typo, which would start another vehicle's history. Empty when nothing is"
)

# What a submission may answer besides its receipt (docs/formats.md, Submissions).
_SUBMISSION_ERRORS = {
    400: "not an envelope, or a payloadType no provider reads",
    401: "the signature does not verify",
    403: "an unknown or revoked key, or a role that may not submit this kind",
    404: "a referenced entry is not in the log",
    409: "conflicts with the log (a claim or sale logged already, a sale out of order)",
    413: "the envelope or its entry is too large",
    415: "not sent as JSON, or compressed",
    422: "the record is not valid: `field` names what to fix",
    503: "the ledger cannot append now: try again after Retry-After",
}
_BATCH_ERRORS = {
    400: 'the body is not {"envelopes": [...]} of 1 to 1,000 envelopes',
    408: "the body did not arrive in time",
    413: "the batch is too large",
    415: "not sent as JSON, or compressed",
    503: "the ledger is busy or cannot append now: try again after Retry-After",
}


def documented(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of Litestar's OpenAPI document that describes vinledger's answers."""
    doc = copy.deepcopy(schema)
    components = doc.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    if "warnings" in (receipt := components.get("Receipt", {}).get("properties", {})):
        receipt["warnings"]["description"] = RECEIPT_WARNINGS
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            responses = op["responses"]
            if path == "/records" and method == "post":
                responses["200"] = {
                    **copy.deepcopy(responses["201"]),
                    "description": "the same envelope again: the entry it made, never a second",
                }
                _errors(responses, _SUBMISSION_ERRORS)
            elif path == "/records/batch" and method == "post":
                responses["200"]["content"] = {"application/json": {"schema": _batch_answer()}}
                _errors(responses, _BATCH_ERRORS)
            elif path == "/vehicles/{vin}/bundle" and method == "get":
                responses["304"] = {
                    "description": "not modified: the bundle named by If-None-Match (its "
                    "ETag) is still the VIN's"
                }
            elif path == "/vehicles/{vin}/history" and method == "get":
                responses["200"]["content"] = {"application/json": {"schema": HISTORY_SCHEMA}}
                for parameter in op.get("parameters", []):
                    if parameter.get("name") in ("as_of", "logged_by"):
                        parameter["schema"] = {
                            **_UTC_QUERY,
                            "description": parameter.get("description", ""),
                        }
            elif path == "/commissions" and method == "get":
                responses["200"]["content"] = {
                    "application/json": {"schema": COMMISSIONS_SCHEMA},
                    "text/csv": {"schema": {"type": "string"}},
                }
            elif path.startswith("/attachments/"):
                responses["200"]["content"] = {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                }
            for code, response in list(responses.items()):
                if code.isdigit() and int(code) >= 400:
                    responses[code] = _problem(response.get("description") or _phrase(code))
                elif code.startswith("2"):
                    _json_objects(response)
            responses.setdefault("default", _problem("an error, as an RFC 9457 problem"))
    return doc


def _errors(responses: dict[str, Any], errors: dict[int, str]) -> None:
    for status, description in errors.items():
        responses[str(status)] = _problem(description)


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}


def _phrase(code: str) -> str:
    try:
        return HTTPStatus(int(code)).phrase
    except ValueError:
        return "error"


def _batch_answer() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {
                "type": "array",
                "description": "one result per envelope, in the request's order",
                "items": BATCH_RESULT_SCHEMA,
            }
        },
    }


def _json_objects(response: dict[str, Any]) -> None:
    """A JSON answer Litestar typed as a string (a route returning bytes it encoded
    itself, such as the bundle) is a JSON object."""
    media = response.get("content", {}).get("application/json")
    if media is not None and media.get("schema", {}).get("type") == "string":
        media["schema"] = {"type": "object"}


class _Documented:
    """Renders ``documented`` of the app's document instead of the document itself."""

    _lock = threading.Lock()
    _done: ClassVar[dict[int, tuple[dict, dict]]] = {}  # id(Litestar's document) -> (it, ours)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        with self._lock:
            known = self._done.get(id(openapi_schema))
            if known is None or known[0] is not openapi_schema:
                if len(self._done) > 64:  # one per app; tests make many
                    self._done.clear()
                known = self._done[id(openapi_schema)] = (
                    openapi_schema,
                    documented(openapi_schema),
                )
        return super().render(request, known[1])  # type: ignore[misc]


class DocumentedJson(_Documented, JsonRenderPlugin):
    pass


class DocumentedScalar(_Documented, ScalarRenderPlugin):
    pass


class DocumentedSwagger(_Documented, SwaggerRenderPlugin):
    pass


def render_plugins() -> list:
    """Scalar at /schema (the default), Swagger at /schema/swagger, the JSON document at
    /schema/openapi.json; all three describe the API as ``documented`` says."""
    return [
        DocumentedScalar(),
        DocumentedSwagger(path="/swagger"),
        DocumentedJson(path="/openapi.json"),
    ]
