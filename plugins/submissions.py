"""What plugins make of a submission before it is sequenced.

Two things, both stored in the entry's ``derived`` so that the history shows exactly
what was decided at the time, whatever plugin version runs later:

- a report in a provider's own format becomes a vinledger inspection record
  (``{"provider": "<id>/<version>", "record": {...}}``). What the provider hands back
  is its own work, not the submitter's: a record the inspection schema refuses, a
  record of another kind, or one about a VIN the signed report never names is a
  plugin failure naming the provider, never a 4xx that sends the inspector looking
  for a mistake in a report they cannot fix;
- a sale's policies become their stated terms (``{"terms": [...]}``), checked here
  so that terms a claim could not be decided from are refused at the sale, naming
  the policy and its plugin, rather than failing later at a claim.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, get_args

import msgspec

from core import dsse
from core.errors import (
    InvalidEnvelope,
    InvalidInput,
    InvalidRecord,
    PluginFailed,
    VinledgerError,
)
from core.fields import Slug
from core.records import Inspection, Record, Sale, encode_record, parse_record
from core.roles import article
from plugins.interfaces import InspectionProvider, Policy, SaleFacts, Terms, zone
from plugins.registry import Registry

# Fields of the sale itself that a policy may name when it refuses the sale.
_SALE_FIELDS = frozenset({"occurred_at", "odometer_km"})
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# What a claim's ``component`` may be (``core.records.WarrantyClaim``): a component
# covered by terms must be written the same way, or no claim can ever name it.
_SLUG_HINT = get_args(Slug)[1].description


def provider_for(registry: Registry, payload_type: str) -> InspectionProvider:
    """The provider that reads reports of ``payload_type``; InvalidEnvelope (400) naming
    what is accepted if none does."""
    provider = registry.provider(payload_type)
    if provider is None:
        accepted = ", ".join([dsse.PAYLOAD_TYPE, *sorted(registry.providers)])
        raise InvalidEnvelope(
            f"payloadType {payload_type!r} is not accepted here; accepted: {accepted}",
            field="payloadType",
        )
    return provider


def read_record(registry: Registry, env: dsse.Envelope) -> tuple[Record, dict | None]:
    """The record an envelope submits, and what was derived from it (or None)."""
    payload = dsse.payload_bytes(env)
    if env.payload_type == dsse.PAYLOAD_TYPE:
        record = parse_record(payload)
        return record, _derive_terms(registry, record)
    provider = provider_for(registry, env.payload_type)
    try:  # what no provider should have to survive: JSON nested past the parser's limit
        msgspec.json.decode(payload)
    except RecursionError:
        raise InvalidRecord(
            "the report nests JSON arrays or objects too deeply; flatten it", field="$"
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError):
        pass  # not JSON, or not valid: the provider says what is wrong with it
    normalised = registry.call(provider, "normalise", payload)
    record = _normalised_record(registry, provider, normalised, payload)
    return record, {
        "provider": f"{provider.id}/{provider.version}",
        "record": msgspec.json.decode(encode_record(record)),
    }


def _normalised_record(
    registry: Registry, provider: InspectionProvider, normalised: Any, payload: bytes
) -> Inspection:
    """The inspection a provider made of a signed report, if it is one vinledger keeps.

    The provider has already refused what is wrong with the report itself; anything
    wrong from here on is the provider's doing, so it fails the provider's plugin.
    """

    def failed(problem: str) -> PluginFailed:
        return registry.failure(
            registry.plugin_of(provider),
            f"provider {provider.id!r} ({provider.payload_type}) {problem}. This is a fault "
            "in the provider, not in the signed report: tell the provider's maintainer",
        )

    if not isinstance(normalised, dict):
        raise failed(f"normalise returned {type(normalised).__name__}, not a dict")
    try:
        encoded = msgspec.json.encode(normalised)
    except TypeError as err:
        raise failed(f"normalised the report into something that is not JSON: {err}") from None
    try:
        record = parse_record(encoded)
    except VinledgerError as err:  # InvalidVIN names "vin", msgspec a JSON path
        at = err.field if (err.field or "$").startswith("$") else f"$.{err.field}"
        where = f" (at `{at}` of the record it made)" if at else ""
        raise failed(f"normalised the report into an invalid record{where}: {err}") from None
    if not isinstance(record, Inspection):
        kind = record.kind
        raise failed(f"normalised the report into {article(kind)} {kind!r}, not an inspection")
    # The partner signed the report, not the normalised record: the record must be
    # about the car the report names. The VIN is looked for in the signed bytes as the
    # record writes it, in its normal form (17 characters, uppercase), so a provider
    # cannot move a signed report onto another car.
    if record.vin.encode() not in payload:
        raise failed(
            f"normalised the report into an inspection of VIN {record.vin}, which the "
            "signed report does not contain; a provider may not change the car a report "
            "is about"
        )
    return record


def _derive_terms(registry: Registry, record: Record) -> dict | None:
    if not isinstance(record, Sale) or not record.policies:
        return None
    facts = SaleFacts(
        vin=record.vin,
        dealer=record.dealer,
        sold_at=record.occurred_at,
        odometer_km=record.odometer_km,
        time_zone=registry.time_zone,
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
        except InvalidInput as err:  # InvalidRecord or a plain InvalidInput: both are 422 here
            if type(err) not in (InvalidInput, InvalidRecord):
                raise  # another refusal (an envelope's, a VIN's) keeps its own status
            field = err.field or "params"
            # A policy names its own fields; place them inside this policy reference.
            path = f"$.{field}" if field in _SALE_FIELDS else f"{where}.{field}"
            named = err.detail.startswith(f"policy {ref.id!r}")  # said once is enough
            detail = err.detail if named else f"policy {ref.id!r}: {err.detail}"
            raise InvalidRecord(detail, field=path) from None
        terms.append(_checked_terms(registry, policy, stated, record, where))
    return {"terms": terms}


def _checked_terms(registry: Registry, policy: Policy, stated: Any, sale: Sale, where: str):
    """The terms as the entry stores them, if a claim can be decided from them.

    Anything but well-typed ``Terms`` is the plugin's failure (500 ``plugin-failed``,
    naming the plugin and the hook), as ``decide`` returning anything but a
    ``Decision`` is: the dealer's sale is not at fault. Well-typed terms the ledger
    cannot keep (another policy's, not starting on the sale's day, ...) refuse the
    sale at the policy (422), so that the dealer attaches another one.
    """
    # Terms, as ``decide`` returns a Decision: anything else (a dict that looks like
    # terms too) is refused, never converted.
    wrong = None
    if not isinstance(stated, Terms):
        wrong = f"returned {type(stated).__name__}, not Terms"
    else:
        try:
            terms = msgspec.convert(msgspec.to_builtins(stated), Terms)
        except (msgspec.ValidationError, TypeError) as err:
            wrong = f"returned Terms of the wrong types: {err}"
    if wrong:
        raise registry.failure(
            registry.plugin_of(policy),
            f"policy {policy.id!r}: {policy.id}.terms {wrong} (the sale may attach "
            "another policy meanwhile)",
        )
    problem = _terms_problem(policy, terms, sale, registry.time_zone)
    if problem:
        raise InvalidRecord(
            f"policy {policy.id!r} (plugin {registry.plugin_of(policy)!r}) stated terms the "
            f"ledger cannot keep: {problem}. Nothing was recorded; attach another policy, and "
            "tell the ledger operator or the plugin's maintainer",
            field=f"{where}.id",
        )
    stored = msgspec.to_builtins(terms)
    if stored["time_zone"] == "UTC":
        del stored["time_zone"]  # as terms were stored before they stated a zone
    return stored


def _terms_problem(policy: Policy, terms: Terms, sale: Sale, ledger_zone: str) -> str | None:
    """What is wrong with well-typed terms, or None (see ``Terms`` for the contract).
    ``ledger_zone``: where the ledger counts days (``SaleFacts.time_zone``)."""
    for name, want in (("policy", policy.id), ("version", policy.version), ("kind", policy.kind)):
        if getattr(terms, name) != want:
            return f"`{name}` is {getattr(terms, name)!r}, not {want!r}"
    starts = _day(terms.starts)
    if starts is None:
        return f"`starts` is {terms.starts!r}, not a day written YYYY-MM-DD"
    # Days are the ledger's: terms counting them elsewhere (UTC's, by sold_at.date() on
    # a Tokyo ledger) would start a day early or late for its buyers.
    sold_on = sale.occurred_at.astimezone(zone(ledger_zone)).date()
    if starts != sold_on:
        where = "" if ledger_zone == "UTC" else f" in {ledger_zone},"
        return (
            f"`starts` is {terms.starts}, not the sale's day{where} {sold_on} (SaleFacts.sale_day)"
        )
    if terms.time_zone != ledger_zone:
        return (
            f"`time_zone` is {terms.time_zone!r}, not the ledger's {ledger_zone!r}: state "
            "SaleFacts.time_zone, where the ledger counts days"
        )
    if terms.ends is not None:
        ends = _day(terms.ends)
        if ends is None:
            return f"`ends` is {terms.ends!r}, not a day written YYYY-MM-DD"
        if ends < starts:
            return f"`ends` ({terms.ends}) is before `starts` ({terms.starts})"
    if terms.km_limit is not None and terms.km_limit < 0:
        return f"`km_limit` is {terms.km_limit}, below zero"
    sold_km = sale.odometer_km
    if terms.km_limit is not None and sold_km is not None and terms.km_limit < sold_km:
        return (
            f"`km_limit` is {terms.km_limit:,}, below the sale's own reading of {sold_km:,} km, "
            "so it could never cover a claim; write the highest odometer reading covered: "
            f"the sale's reading plus the allowance (e.g. {sold_km:,} + 500 = {sold_km + 500:,})"
        )
    for i, component in enumerate(terms.components):
        try:
            msgspec.convert(component, Slug)
        except msgspec.ValidationError:
            return (
                f"`components[{i}]` is {component!r}, which no claim could name: a claim's "
                f"component is a slug, matched exactly; {_SLUG_HINT}"
            )
    if not terms.summary.strip():
        return "`summary` is empty"
    return None


def _day(text: str) -> date | None:
    """A day written YYYY-MM-DD, or None."""
    try:
        return date.fromisoformat(text) if _DAY.fullmatch(text) else None
    except ValueError:  # e.g. 2026-02-30
        return None
