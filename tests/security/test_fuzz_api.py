"""Schemathesis against the app's own OpenAPI schema, in-process through ASGI.

Every operation the schema lists is fuzzed with schema-valid (positive) data and,
where the schema constrains something, with schema-violating (negative) data. The
bearer-token operations (the admin API, commissions) are fuzzed three times: without a
token, with a wrong one and with the ledger's admin token. Whatever comes in:

- no response is a 5xx;
- every 4xx is an RFC 9457 ``application/problem+json`` document with ``type``,
  ``title``, ``status`` (equal to the HTTP status) and ``detail``;
- without the right token they answer 401, whatever else is wrong;
- a refused request leaves the log as it was; the ledger still passes a full audit
  afterwards (bad input changes nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from api.app import create_app
from ledger.audit import audit
from tests.conftest import VIN, VIN2, inspection, make_ledger, onboard
from tests.security.strategies import mutated_bytes, mutated_json

SCHEMA_PATH = "/schema/openapi.json"

# Every operation of the schema. A new endpoint fails test_schema_lists_these_operations
# until it is added here, so nothing escapes the fuzzer by accident.
OPERATIONS = [
    ("POST", "/records"),
    ("POST", "/records/batch"),
    ("GET", "/log/checkpoint"),
    ("GET", "/log/vkey"),
    ("GET", "/log/tile/{path}"),
    ("GET", "/log/proof/inclusion"),
    ("GET", "/log/proof/consistency"),
    ("GET", "/log/proof/entry/{index}"),
    ("GET", "/vehicles/{vin}"),
    ("GET", "/vehicles/{vin}/sticker"),
    ("GET", "/vehicles/{vin}/qr.svg"),
    ("GET", "/vehicles/{vin}/badge.svg"),
    ("GET", "/vehicles/{vin}/history"),
    ("GET", "/vehicles/{vin}/bundle"),
    ("GET", "/attachments/{sha256}"),
    ("POST", "/referrals"),
    ("GET", "/referrals"),
    ("GET", "/referrals/{code}"),
    ("GET", "/commissions"),
    ("GET", "/dealers"),
    ("GET", "/dealers/{dealer_id}"),
    ("POST", "/admin/actors"),
    ("POST", "/admin/tokens"),
    ("POST", "/admin/records"),
    ("GET", "/admin/actors/{actor_id}"),
    ("GET", "/admin/keys/{keyid}"),
    ("POST", "/admin/keys/{keyid}/revoke"),
]
# Bearer-token operations: fuzzed without a token, with a wrong one and with the admin
# token (which the admin API requires and which sees every commission).
TOKEN = {op for op in OPERATIONS if op[1].startswith("/admin/")} | {
    ("GET", "/commissions"),
    ("GET", "/referrals"),
    ("GET", "/referrals/{code}"),
}
# Operations whose schema constrains something (a body, an integer), so that
# schema-violating data exists; a bare string parameter has no negative space.
NEGATIVE = {
    ("POST", "/records"),
    ("POST", "/records/batch"),
    ("GET", "/log/proof/inclusion"),
    ("GET", "/log/proof/consistency"),
    ("GET", "/log/proof/entry/{index}"),
    ("POST", "/admin/actors"),
    ("POST", "/admin/tokens"),
    ("POST", "/admin/keys/{keyid}/revoke"),
}
POSITIVE_EXAMPLES = 60
NEGATIVE_EXAMPLES = 40

FUZZ_SETTINGS = {
    "deadline": None,
    "database": None,
    "suppress_health_check": [
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
}


@dataclass
class Target:
    ledger: object
    app: object
    schema: object
    size: int
    partners: dict
    sale: int
    inspection: int
    appended: int = 0


def log_size(ledger) -> int:
    return int(ledger.reader.checkpoint().split("\n")[1])


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """One seeded ledger and app for the whole module: VINs, tiles and bundles exist."""
    base = tmp_path_factory.mktemp("fuzz-api")
    ledger = make_ledger(base / "data", f"sqlite:///{base / 'ledger.db'}")
    partners = {
        role: onboard(ledger, f"{role}-one", role)
        for role in ("inspector", "workshop", "insurer", "registry", "dealer")
    }
    inspections = []
    for day, vin in ((1, VIN), (2, VIN), (3, VIN2)):
        env = partners["inspector"].envelope(inspection(vin=vin, day=day))
        (outcome,) = ledger.submit_now([env])
        assert outcome.created
        inspections.append(outcome.index)
    (sale,) = ledger.submit_now([partners["dealer"].envelope(TEMPLATES["sale"])])
    assert sale.created, sale
    app = create_app(ledger)
    schema = schemathesis.openapi.from_asgi(SCHEMA_PATH, app)
    yield Target(ledger, app, schema, log_size(ledger), partners, sale.index, inspections[0])
    ledger.close()


def check_response(case, response, *, auth: str | None) -> None:
    status = response.status_code
    where = f"{case.method} {case.formatted_path} -> {status}: {response.text[:300]!r}"
    assert status < 500, f"server error: {where}"
    if auth in ("none", "wrong"):
        assert status == 401, f"a token-protected operation without the right token: {where}"
    if status >= 400:
        ctype = ", ".join(response.headers.get("content-type") or [])
        assert ctype.startswith("application/problem+json"), f"not problem+json ({ctype}): {where}"
        body = json.loads(response.text)
        assert isinstance(body, dict), where
        assert isinstance(body.get("type"), str) and body["type"], where
        assert isinstance(body.get("title"), str) and body["title"], where
        assert body.get("status") == status, where
        assert isinstance(body.get("detail"), str) and body["detail"], where
    # The answer is one the schema documents, as a client generated from it reads it.
    documented = case.operation.definition.raw["responses"]
    said = documented.get(str(status))
    # An answer that is no error is listed by its own status; an error may be any
    # status, as the document's "default" problem says.
    assert said is not None or status >= 400, f"status {status} is not in the schema: {where}"
    said = said or documented["default"]
    media = (response.headers.get("content-type") or [""])[0].split(";")[0].strip()
    listed = said.get("content") or {}
    assert not listed or media in listed, f"{media} not documented ({list(listed)}): {where}"


def call_and_check(target: Target, case, *, headers=None, auth=None):
    """One request; a refused one must leave the log as it was, an accepted one is noted."""
    before = log_size(target.ledger)
    response = case.call(headers=headers)
    check_response(case, response, auth=auth)
    after = log_size(target.ledger)
    if response.status_code >= 300:
        assert after == before, f"a {response.status_code} answer changed the log"
    target.appended += after - before
    return response


def fuzz(target: Target, method: str, path: str, mode, auth: str | None) -> None:
    operation = target.schema[path][method]
    headers = None
    if auth == "wrong":
        headers = {"Authorization": "Bearer not-the-admin-token"}
    elif auth == "right":
        headers = {"Authorization": f"Bearer {target.ledger.settings.admin_token()}"}
    examples = POSITIVE_EXAMPLES if mode is GenerationMode.POSITIVE else NEGATIVE_EXAMPLES

    @settings(max_examples=examples, **FUZZ_SETTINGS)
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        call_and_check(target, case, headers=headers, auth=auth)

    run()


def _cases():
    for method, path in OPERATIONS:
        modes = [GenerationMode.POSITIVE]
        if (method, path) in NEGATIVE:
            modes.append(GenerationMode.NEGATIVE)
        auths = ["none", "wrong", "right"] if (method, path) in TOKEN else [None]
        for mode in modes:
            for auth in auths:
                label = f"{method} {path} {mode.value}" + (f" token={auth}" if auth else "")
                yield pytest.param(method, path, mode, auth, id=label)


def test_schema_lists_these_operations(target):
    listed = {(op.ok().method.upper(), op.ok().path) for op in target.schema.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize("method, path, mode, auth", list(_cases()))
def test_fuzz_operation(target, method, path, mode, auth):
    fuzz(target, method, path, mode, auth)


# ---- signed records: past the signature check, into the schema, plugins and sequencer ----

AT = "2026-05-10T09:00:00Z"
TEMPLATES: dict[str, dict] = {
    "inspection": inspection(vin=VIN2, day=11),
    "maintenance": {
        "kind": "maintenance",
        "vin": VIN2,
        "occurred_at": AT,
        "odometer_km": 50_000,
        "shop": "quicklane",
        "items": [{"description": "oil"}],
        "parts": [{"name": "filter", "quantity": 1}],
        "cost": {"amount": "89.50", "currency": "EUR"},
    },
    "odometer": {"kind": "odometer", "vin": VIN2, "occurred_at": AT, "odometer_km": 50_100},
    "insurance_claim": {
        "kind": "insurance_claim",
        "vin": VIN2,
        "occurred_at": AT,
        "claim_ref": "C-1",
        "severity": "minor",
        "areas": ["front"],
    },
    "title_brand": {
        "kind": "title_brand",
        "vin": VIN2,
        "occurred_at": AT,
        "brand": "salvage",
        "jurisdiction": "DE",
    },
    "transfer": {"kind": "transfer", "vin": VIN2, "occurred_at": AT, "owner_commitment": "a" * 64},
    "sale": {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": "2026-05-05T10:00:00Z",
        "odometer_km": 48_300,
        "dealer": "dealer-one",
        "price": {"amount": "12000", "currency": "EUR"},
        "policies": [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "powertrain-30d"}],
    },
    "recall": {
        "kind": "recall",
        "vin": VIN2,
        "occurred_at": AT,
        "campaign": "R-1",
        "component": "airbag",
        "description": "replace inflator",
        "status": "open",
    },
    "correction": {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": AT,
        "corrects": 4,
        "reason": "typo",
        "fields": {"grade": "A"},
    },
    "return_request": {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-05-07T10:00:00Z",
        "odometer_km": 48_400,
        "sale": 0,
        "policy": "return-7d",
    },
    "warranty_claim": {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": "2026-05-08T10:00:00Z",
        "odometer_km": 48_500,
        "sale": 0,
        "policy": "powertrain-30d",
        "component": "engine",
        "description": "knocking",
    },
}
ROLES = ["inspector", "workshop", "insurer", "registry", "dealer"]
PAYLOAD_TYPES = [
    "application/vnd.vinledger.record+json",
    "application/vnd.vinledger.inspection+json",
]

SIGNER = {
    "inspection": "inspector",
    "maintenance": "workshop",
    "odometer": "inspector",
    "insurance_claim": "insurer",
    "title_brand": "registry",
    "transfer": "registry",
    "sale": "dealer",
    "recall": "workshop",
    "correction": "inspector",
    "return_request": "dealer",
    "warranty_claim": "dealer",
}


@st.composite
def signed_records(draw, sale_index: int, inspection_index: int):
    kind = draw(st.sampled_from(sorted(TEMPLATES)))
    record = json.loads(json.dumps(TEMPLATES[kind]))
    if kind in ("return_request", "warranty_claim"):
        record["sale"] = sale_index
    if kind == "correction":
        record["corrects"] = inspection_index
    record["occurred_at"] = draw(st.sampled_from([record["occurred_at"], AT]))
    if draw(st.booleans()):
        record = draw(mutated_json(record))
    role = draw(st.sampled_from([SIGNER[kind]] * 3 + ROLES))
    payload_type = draw(st.sampled_from(PAYLOAD_TYPES))
    payload = json.dumps(record).encode()
    if draw(st.integers(0, 3)) == 0:
        # Byte-level damage too, invalid UTF-8 included.
        payload = draw(mutated_bytes(payload))
    return role, payload_type, payload


def test_fuzz_signed_records(target):
    """Records signed by a granted key, so every check after the signature is exercised."""
    from core import dsse

    operation = target.schema["/records"]["POST"]

    @settings(max_examples=150, **FUZZ_SETTINGS)
    @given(item=signed_records(target.sale, target.inspection))
    def run(item):
        role, payload_type, payload = item
        env = dsse.sign_envelope(payload, target.partners[role].key, payload_type)
        body = json.loads(dsse.encode_envelope(env))
        case = operation.Case(body=body, media_type="application/json")
        call_and_check(target, case)

    run()


def test_bad_input_changed_nothing(target):
    """Runs after the fuzzing above (same module, same ledger): only 2xx answers appended."""
    lg = target.ledger
    assert log_size(lg) == target.size + target.appended
    result = audit(lg.store, lg.vkey)
    assert result.size == log_size(lg)
