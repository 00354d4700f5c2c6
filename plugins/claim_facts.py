"""The facts a policy decides a claim from (``plugins.interfaces.ClaimFacts``).

Read from the VIN's entries on the ledger at the claim, as the buyer's history view
reads them: the odometer from ``core.odometer`` (corrected readings, none disputed;
the highest dated from the sale to the claim, so a rollback after the km cap was
passed does not bring the car back under it),
and the title brands, damage and odometer rollbacks from the derived view itself
(``core.history.analyse`` as of the claim's date), never worked out again here, so
that a policy and a buyer see one history. A reading that goes backwards from the
sale's, or from an earlier claim's on the same sale, is the filer's mistake and
refused here before any policy sees it.

``replay`` works the facts out again from a VIN's history, to decide a claim again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

import msgspec

from core.corrections import apply_corrections
from core.errors import InvalidRecord, NotFound
from core.fields import parse_time
from core.history import analyse
from core.odometer import odometer_readings
from core.records import parse_record
from core.sale_standing import replaced_sales
from ledger.claim_rules import CLAIMS
from plugins.interfaces import (
    ClaimFacts,
    DamageReport,
    InsuranceClaim,
    OdometerRollback,
    PriorClaim,
    Terms,
    TitleBrand,
)

CLAIM_KINDS = frozenset(CLAIMS)
# The history view's alerts that report damage, and the flag each reports: an
# inspection's flags and an insurer's cause name theirs (``flag``); a collision and a
# deployed airbag are the insurer's own alert types.
_DAMAGE_FLAGS = frozenset({"accident", "flood", "fire", "structural", "airbag"})
_FLAG_OF_TYPE = {"accident": "accident", "airbag_deployed": "airbag"}


def claim_facts(
    entries: list[dict[str, Any]],
    items: list[dict[str, Any]],
    claim,
    index: int,
    sale,
    day_of: Callable[[datetime], date] = lambda at: at.date(),
) -> ClaimFacts:
    """The facts of ``claim`` (log index ``index``) on ``sale``: days, kilometres,
    earlier claims on the sale, and the VIN's brands, damage and rollbacks.

    ``entries``: the VIN's entries and the claim as logged; ``items``: the same,
    corrected (``core.corrections.apply_corrections``). ``day_of``: the calendar day of
    a moment where the sale's terms count days (``Terms.day_of``; UTC by default).
    Refuses (``InvalidRecord``) a reading that goes backwards from the sale's or from
    an earlier claim's.
    """
    readings = {r["index"]: r for r in _usable(odometer_readings(items))}
    at_claim = [r for r in readings.values() if r["at"] <= claim.occurred_at]
    latest = max(at_claim, key=lambda r: (r["at"], r["index"]), default=None)
    sold = readings.get(claim.sale)
    if latest is not None and sold is not None and latest["km"] < sold["km"]:
        raise _reading_below_sale(claim, index, latest, sold)
    same_sale = _same_sale(items, claim.sale)
    _check_not_below_earlier_claims(items, claim, readings, same_sale)
    went_by = _highest_since_sale(at_claim, sale.occurred_at, index) or latest
    km_since = None
    if went_by is not None and sold is not None:
        km_since = went_by["km"] - sold["km"]
    return ClaimFacts(
        kind=claim.kind,
        index=index,
        filed_at=claim.occurred_at,
        component=getattr(claim, "component", None),
        days_since_sale=(day_of(claim.occurred_at) - day_of(sale.occurred_at)).days,
        odometer_km=None if went_by is None else went_by["km"],
        km_since_sale=km_since,
        prior_claims=_prior_claims(items, same_sale),
        sale_index=claim.sale,
        sold_at=sale.occurred_at,
        **_history(entries, items, claim.occurred_at),
        odometer_index=None if went_by is None else went_by["index"],
    )


def replay(entries: list[dict[str, Any]], claim_index: int) -> tuple[Terms, ClaimFacts]:
    """The terms and facts the claim logged at ``claim_index`` was decided from, worked
    out again from its VIN's entries as ``GET /vehicles/{vin}/history`` lists them
    (each ``index``, ``kind``, ``signer`` with its ``id``, ``record``, and a sale's
    ``derived.terms``), as the ledger read them when it decided: every entry logged
    before the claim, and the claim.

    ``policy.decide(*replay(entries, i))`` decides the claim again: the same
    ``approved`` and ``reason`` as the ``claim_decision`` at ``i + 1`` when ``policy``
    is the version that decided it (its ``policy_version``), and the facts' days and
    kilometres are the ones the decision records. Refuses (``NotFound``,
    ``InvalidRecord``) an index that is no claim, or a claim whose sale or terms are
    not among ``entries``.
    """
    claim_item = next((e for e in entries if e["index"] == claim_index), None)
    if claim_item is None or claim_item["kind"] not in CLAIM_KINDS:
        raise NotFound(f"entry {claim_index} is not a return_request or warranty_claim here")
    claim = parse_record(msgspec.json.encode(claim_item["record"]))
    sale_item = next((e for e in entries if e["index"] == claim.sale), None)
    if sale_item is None or sale_item["kind"] != "sale":
        raise NotFound(f"sale {claim.sale}, which claim {claim_index} names, is not here")
    sale = parse_record(msgspec.json.encode(sale_item["record"]))
    derived = sale_item.get("derived")
    stated = [
        t
        for t in (derived.get("terms", []) if isinstance(derived, dict) else [])
        if t.get("policy") == claim.policy
    ]
    if not stated:
        raise InvalidRecord(
            f"sale {claim.sale} states no terms of {claim.policy!r}, so no claim under it "
            "was decided",
            field="$.policy",
        )
    terms = msgspec.convert(stated[0], Terms)
    logged = [
        {
            "index": e["index"],
            "kind": e["kind"],
            "signer": {"id": e["signer"]["id"]},
            "record": e["record"],
        }
        for e in sorted(entries, key=lambda e: e["index"])
        if e["index"] <= claim_index
    ]
    facts = claim_facts(logged, apply_corrections(logged), claim, claim_index, sale, terms.day_of)
    return terms, facts


def _highest_since_sale(
    at_claim: list[dict[str, Any]], sold_at: datetime, index: int
) -> dict[str, Any] | None:
    """The highest reading dated from the sale to the claim (the claim's own on a tie):
    a car driven past a km cap and then rolled back, or read low at the claim, was
    still driven that far. None when there is none (a sale without a reading)."""
    since = [r for r in at_claim if r["at"] >= sold_at]
    return max(
        since, key=lambda r: (r["km"], r["index"] == index, r["at"], r["index"]), default=None
    )


def _history(
    entries: list[dict[str, Any]], items: list[dict[str, Any]], at: datetime
) -> dict[str, list]:
    """Title brands, damage and odometer rollbacks, as the derived view reads the VIN
    with everything on the ledger at the claim (every dispute and correction logged by
    then applied, whatever its own date), of events dated (as corrected) no later than
    ``at``; what rests on a disputed entry is left out, as for readings. A filer
    cannot pick which facts exist by the date it gives its claim."""
    view = analyse(entries)
    by_index = {i["index"]: i for i in items}

    def when(index: int) -> datetime:
        return parse_time(by_index[index]["record"]["occurred_at"])

    brands, damage, rollbacks = [], [], []
    for found in view["alerts"]:
        if found["disputed"] or any(when(i) > at for i in found["entries"]):
            continue
        kind, facts, entries_of = found["type"], found["facts"], found["entries"]
        if kind.startswith("title_brand_"):
            brands.append(TitleBrand(facts["brand"], entries_of[0], when(entries_of[0])))
        elif kind == "odometer_rollback":
            higher, lowered = entries_of
            rollbacks.append(
                OdometerRollback(lowered, when(lowered), higher, facts["from_km"], facts["to_km"])
            )
        elif (flag := facts.get("flag", _FLAG_OF_TYPE.get(kind))) in _DAMAGE_FLAGS:
            index = entries_of[0]
            source = by_index[index]["kind"]
            damage.append(DamageReport(flag, index, when(index), source))
    # Every insurance claim the view raised an alert for (each raises one for its
    # cause), with the same dates and disputes left out as above.
    claimed = sorted(
        {
            found["entries"][0]
            for found in view["alerts"]
            if not found["disputed"]
            and len(found["entries"]) == 1
            and by_index.get(found["entries"][0], {}).get("kind") == "insurance_claim"
            and when(found["entries"][0]) <= at
        }
    )
    insured = [_insurance_claim(by_index[i]["record"], i, when(i)) for i in claimed]
    return {
        "title_brands": sorted(brands, key=_in_time),
        "damage": sorted(damage, key=_in_time),
        "odometer_rollbacks": sorted(rollbacks, key=_in_time),
        "insurance_claims": sorted(insured, key=_in_time),
    }


def _insurance_claim(rec: dict[str, Any], index: int, at: datetime) -> InsuranceClaim:
    """An insurance_claim record (as corrected) as a policy reads it: its defaults
    written out, as ``core.records.InsuranceClaim`` gives them."""
    return InsuranceClaim(
        index=index,
        occurred_at=at,
        cause=rec.get("cause", "collision"),
        severity=rec.get("severity", "minor"),
        total_loss=bool(rec.get("total_loss", False)),
        structural=bool(rec.get("structural", False)),
        airbag_deployed=bool(rec.get("airbag_deployed", False)),
    )


def _in_time(
    fact: TitleBrand | DamageReport | OdometerRollback | InsuranceClaim,
) -> tuple[datetime, int]:
    return fact.occurred_at, fact.index


def _usable(readings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Undisputed readings with their time; a correction that left a reading unreadable
    (corrections are not checked against the corrected kind's schema) drops it."""
    out = []
    for r in readings:
        km = r["km"]
        if r["disputed"] or isinstance(km, bool) or not isinstance(km, int) or km < 0:
            continue
        try:
            at = parse_time(r["occurred_at"])
        except (InvalidRecord, TypeError):
            continue
        out.append({**r, "at": at})
    return out


def _same_sale(items: list[dict[str, Any]], sale: int) -> frozenset[int]:
    """``sale`` and the sales it was recorded again for (``core.sale_standing``): one
    car sold once, whose claims count together (a repair paid on the sale recorded
    wrongly is not paid again on its new record)."""
    sales = [i for i in items if i["kind"] == "sale"]
    disputes = [i for i in items if i["kind"] == "dispute"]
    claimed = next((o for o in sales if o["index"] == sale), None)
    if claimed is None:
        return frozenset({sale})
    return frozenset({sale, *(o["index"] for o in replaced_sales(sales, claimed, disputes))})


def _prior_claims(items: list[dict[str, Any]], same_sale: frozenset[int]) -> list[PriorClaim]:
    claims = {i["index"]: i for i in items if i["kind"] in CLAIM_KINDS}
    return [
        PriorClaim(
            index=rec["claim"],
            kind=claims[rec["claim"]]["kind"],
            policy=rec["policy"],
            component=claims[rec["claim"]]["record"].get("component"),
            approved=rec["approved"],
        )
        for rec in (i["record"] for i in items if i["kind"] == "claim_decision")
        if rec["sale"] in same_sale and rec["claim"] in claims
    ]


def _check_not_below_earlier_claims(
    items: list[dict[str, Any]],
    claim,
    readings: dict[int, dict[str, Any]],
    same_sale: frozenset[int],
) -> None:
    """A claim's reading is not below one an earlier claim on the same sale (``same_sale``:
    it, or one it was recorded again for) gave when it
    was dated before this one, nor, under the same policy, however it was dated: a
    return refused at 30,301 km is not approved a minute later at 30,300, nor by dating
    the second a second before the first (72 hours allow it). A claim under another
    policy may be dated earlier, with the reading the car had then."""
    km = claim.odometer_km
    for i in items:
        earlier = readings.get(i["index"])
        if km is None:  # no reading: the facts would take an older, lower one
            if (
                i["kind"] in CLAIM_KINDS
                and i["record"].get("sale") in same_sale
                and i["record"].get("policy") == claim.policy
                and earlier is not None
                and earlier["at"] > claim.occurred_at
            ):
                raise InvalidRecord(
                    f"entry {i['index']}, an earlier claim on sale {i['record']['sale']} under "
                    f"{claim.policy}, read {earlier['km']:,} km, dated after this claim: "
                    "give this claim's odometer_km",
                    field="$.odometer_km",
                )
            continue
        if (
            i["kind"] in CLAIM_KINDS
            and i["record"].get("sale") in same_sale
            and earlier is not None
            and earlier["km"] > km
            and (earlier["at"] <= claim.occurred_at or i["record"].get("policy") == claim.policy)
        ):
            raise InvalidRecord(
                f"entry {i['index']}, an earlier claim on sale {i['record']['sale']}, read "
                f"{earlier['km']:,} km; this claim reads {km:,} km, and a car is not driven "
                "backwards: give the odometer as it reads now",
                field="$.odometer_km",
            )


def _reading_below_sale(claim, index: int, latest: dict, sold: dict) -> InvalidRecord:
    if latest["index"] == index:
        where, fix = "the claim's reading", "file it again with the odometer as it reads"
    else:
        where = f"the latest reading on the ledger at the claim (entry {latest['index']})"
        fix = "record the car's reading on the claim (odometer_km)"
    return InvalidRecord(
        f"{where}, {latest['km']:,} km, is below the reading at sale {claim.sale}, "
        f"{sold['km']:,} km; a car is not driven backwards: {fix}",
        field="$.odometer_km",
    )
