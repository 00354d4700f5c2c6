"""What plugins make of a submission before it is sequenced.

Two things, both stored in the entry's ``derived`` so that the history shows exactly
what was decided at the time, whatever plugin version runs later:

- a report in a provider's own format becomes a vinledger inspection record
  (``{"provider": "<id>/<version>", "record": {...}}``);
- a sale's policies become their stated terms (``{"terms": [...]}``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from core import dsse
from core.errors import InvalidEnvelope, InvalidRecord, VinledgerError
from core.records import Inspection, Record, Sale, encode_record, parse_record
from plugins.interfaces import SaleFacts
from plugins.registry import Registry


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
            path = f"$.{field}" if field == "odometer_km" else f"{where}.{field}"
            raise InvalidRecord(f"policy {ref.id!r}: {err.detail}", field=path) from None
        terms.append(msgspec.to_builtins(stated))
    return {"terms": terms}
