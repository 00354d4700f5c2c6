"""What plugins make of a submission before it is sequenced.

Two things, both stored in the entry's ``derived`` so that the history shows exactly
what was decided at the time, whatever plugin version runs later:

- a report in a provider's own format becomes a vinledger inspection record
  (``{"provider": "<id>/<version>", "record": {...}}``);
- a sale's policies become their stated terms (``{"terms": [...]}``), checked here
  so that terms a claim could not be decided from are refused at the sale, naming
  the policy and its plugin, rather than failing later at a claim.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import msgspec

from core import dsse
from core.errors import InvalidEnvelope, InvalidRecord, VinledgerError
from core.records import Inspection, Record, Sale, encode_record, parse_record
from plugins.interfaces import Policy, SaleFacts, Terms
from plugins.registry import Registry

# Fields of the sale itself that a policy may name when it refuses the sale.
_SALE_FIELDS = frozenset({"occurred_at", "odometer_km"})
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def read_record(registry: Registry, env: dsse.Envelope) -> tuple[Record, dict | None]:
    """The record an envelope submits, and what was derived from it (or None)."""
    payload = dsse.payload_bytes(env)
    if env.payload_type == dsse.PAYLOAD_TYPE:
        record = parse_record(payload)
        return record, _derive_terms(registry, record)
    provider = registry.provider(env.payload_type)
    if provider is None:
        accepted = ", ".join([dsse.PAYLOAD_TYPE, *sorted(registry.providers)])
        raise InvalidEnvelope(
            f"payloadType {env.payload_type!r} is not accepted here; accepted: {accepted}",
            field="payloadType",
        )
    normalised = registry.call(provider, "normalise", payload)
    try:
        record = parse_record(msgspec.json.encode(normalised))
    except VinledgerError as err:  # the provider produced something our schema refuses
        raise InvalidRecord(
            f"the report normalised by {provider.id} is not a valid inspection: {err}",
            field=err.field,
        ) from None
    if not isinstance(record, Inspection):
        raise InvalidRecord(f"provider {provider.id} produced a {record.kind!r}, not an inspection")
    return record, {
        "provider": f"{provider.id}/{provider.version}",
        "record": msgspec.json.decode(encode_record(record)),
    }


def _derive_terms(registry: Registry, record: Record) -> dict | None:
    if not isinstance(record, Sale) or not record.policies:
        return None
    facts = SaleFacts(
        vin=record.vin,
        dealer=record.dealer,
        sold_at=record.occurred_at,
        odometer_km=record.odometer_km,
    )
    terms: list[dict[str, Any]] = []
    seen = set()
    for i, ref in enumerate(record.policies):
        where = f"$.policies[{i}]"
        if ref.id in seen:
            raise InvalidRecord(f"policy {ref.id!r} is attached twice", field=f"{where}.id")
        seen.add(ref.id)
        policy = registry.policy(ref.id, field=f"{where}.id")
        try:
            stated = registry.call(policy, "terms", dict(ref.params), facts)
        except InvalidRecord as err:
            field = err.field or "params"
            # A policy names its own fields; place them inside this policy reference.
            path = f"$.{field}" if field in _SALE_FIELDS else f"{where}.{field}"
            raise InvalidRecord(f"policy {ref.id!r}: {err.detail}", field=path) from None
        terms.append(_checked_terms(registry, policy, stated, record, where))
    return {"terms": terms}


def _checked_terms(registry: Registry, policy: Policy, stated: Any, sale: Sale, where: str):
    """The terms as the entry stores them, if a claim can be decided from them."""
    try:
        terms = msgspec.convert(msgspec.to_builtins(stated), Terms)
        problem = _terms_problem(policy, terms, sale)
    except (msgspec.ValidationError, TypeError) as err:
        problem = str(err)
    if problem:
        raise InvalidRecord(
            f"policy {policy.id!r} (plugin {registry.plugin_of(policy)!r}) stated terms the "
            f"ledger cannot keep: {problem}. Nothing was recorded; attach another policy, and "
            "tell the ledger operator or the plugin's maintainer",
            field=f"{where}.id",
        )
    return msgspec.to_builtins(terms)


def _terms_problem(policy: Policy, terms: Terms, sale: Sale) -> str | None:
    """What is wrong with well-typed terms, or None (see ``Terms`` for the contract)."""
    for name, want in (("policy", policy.id), ("version", policy.version), ("kind", policy.kind)):
        if getattr(terms, name) != want:
            return f"`{name}` is {getattr(terms, name)!r}, not {want!r}"
    starts = _day(terms.starts)
    if starts is None:
        return f"`starts` is {terms.starts!r}, not a day written YYYY-MM-DD"
    if starts != sale.occurred_at.date():
        return f"`starts` is {terms.starts}, not the sale's day {sale.occurred_at.date()}"
    if terms.ends is not None:
        ends = _day(terms.ends)
        if ends is None:
            return f"`ends` is {terms.ends!r}, not a day written YYYY-MM-DD"
        if ends < starts:
            return f"`ends` ({terms.ends}) is before `starts` ({terms.starts})"
    if terms.km_limit is not None and terms.km_limit < 0:
        return f"`km_limit` is {terms.km_limit}, below zero"
    if not terms.summary.strip():
        return "`summary` is empty"
    return None


def _day(text: str) -> date | None:
    """A day written YYYY-MM-DD, or None."""
    try:
        return date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:  # e.g. 2026-02-30
        return None
