"""The guarantees a buyer's page shows: each policy attached at a sale, whether it is
still in force, and each claim decision, in the reader's language.

A policy states its terms and decides claims in English (``plugins.interfaces``): on a
page in another language they are said from their fields, and the ledger's English
stays beside them, since that is what the log holds.

Given the policies the ledger provides now (``plugins.registry.Registry.policies``), a
policy is headed by its plugin's ``title`` where the page has no words of its own for
it (the built-ins'), and a guarantee in force whose plugin is not installed (or is
disabled) is said to be one whose claims cannot be decided now: the ledger refuses them
(``policy-unavailable``) until its plugin is back.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.drawings import km_text
from api.i18n import DEFAULT, Words
from core.fields import parse_time
from core.sale_standing import recorded_again, sold_again
from plugins.builtin.policies import AFTER_SALE_DAMAGE, WEAR_ITEMS

# The exclusions the built-in policies state, by the name the page has words for.
_EXCLUSIONS = {WEAR_ITEMS: "wear_items", AFTER_SALE_DAMAGE: "after_sale_damage"}


def _listed(vocabulary: str, stated: list[str], t: Words) -> list[dict[str, Any]]:
    """Covered components or exclusions, each {"text", "lang"}: on a page in another
    language, a built-in one in its words and any other as stated, marked English."""
    out = []
    for value in stated:
        name = _EXCLUSIONS.get(value, value) if vocabulary == "exclusion" else value
        if t.lang != DEFAULT and t.knows(vocabulary, name):
            out.append({"text": t.term(vocabulary, name), "lang": None})
        else:
            out.append({"text": value, "lang": None if t.lang == DEFAULT else "en"})
    return out


# The longest plugin title a heading shows; a longer one is cut, marked with "…".
TITLE_MAX_CHARS = 80


def _heading(
    policy_id: str, t: Words, policies: Mapping[str, Any] | None
) -> tuple[str, str | None]:
    """What a policy is headed by, and its language if not the page's ("en"): the
    page's own words for it (the built-ins', in the page's language or else in
    English), or else its plugin's ``title`` (English, as the plugin wrote it), or else
    its id."""
    named = t.term("policy", policy_id)
    if named != policy_id or not policies:
        return named, None
    title = getattr(policies.get(policy_id), "title", "")
    if not isinstance(title, str) or not title.strip():
        return policy_id, None
    title = " ".join(title.split())  # one line, whatever the plugin wrote
    if len(title) > TITLE_MAX_CHARS:
        title = title[: TITLE_MAX_CHARS - 1] + "…"
    return title, None if t.lang == DEFAULT else "en"


def _day_in(term: dict[str, Any], at: datetime) -> date:
    """The calendar day of ``at`` where the policy's terms count days."""
    return at.astimezone(ZoneInfo(term.get("time_zone", "UTC"))).date()


def _zone_said(term: dict[str, Any], t: Words) -> str:
    """Where a policy's last day ends: "UTC", or the zone its terms count days in, with
    its offset that day ("Beijing time (UTC+8)")."""
    name = term.get("time_zone", "UTC")
    if name == "UTC" or term["ends"] is None:
        return "UTC"
    last = date.fromisoformat(term["ends"])
    offset = ZoneInfo(name).utcoffset(datetime(last.year, last.month, last.day, 23, 59))
    minutes = round(offset.total_seconds() / 60) if offset is not None else 0
    hours, part = divmod(abs(minutes), 60)
    sign = "+" if minutes >= 0 else "-"
    utc = "UTC" if minutes == 0 else f"UTC{sign}{hours}" + (f":{part:02d}" if part else "")
    return t("zone_named", zone=t.term("zone", name), utc=utc)


def _terms_said(term: dict[str, Any], t: Words) -> str | None:
    """What a policy promises, from its kind, last day and km limit, in the page's
    words; None on the English page, where the policy's own sentence is."""
    if t.lang == DEFAULT:
        return None
    scope = []
    if term["ends"] is not None:
        scope.append(
            t(
                "terms_scope_until",
                date=t.date(date.fromisoformat(term["ends"])),
                zone=_zone_said(term, t),
            )
        )
    if term["km_limit"] is not None:
        scope.append(t("terms_scope_km", km=km_text(term["km_limit"], t)))
    when = (
        t("terms_when", scope=t("terms_scope_and").join(scope)) if scope else t("terms_when_always")
    )
    kind = term["kind"] if term["kind"] in ("return", "warranty", "reinspection") else "other"
    return t(f"terms_said_{kind}", when=when)


def decision_said(e: dict[str, Any], by_index: dict[int, dict[str, Any]], t: Words) -> str | None:
    """A claim decision in the page's words, from its fields (days and km since the
    sale, approved or not); None on the English page, where the ledger's reason is."""
    rec = e["record"]
    if t.lang == DEFAULT:
        return None
    km, days = rec.get("km_since_sale"), rec["days_since_sale"]
    facts = (
        t("decision_facts", days=days)
        if km is None
        else t("decision_facts_km", days=days, km=km_text(km, t))
    )
    if rec["approved"]:
        return t("decision_approved", facts=facts, policy=t.term("policy", rec["policy"]))
    return t("decision_denied", facts=facts, why=_refused_for(e, by_index, t))


def _refused_for(e: dict[str, Any], by_index: dict[int, dict[str, Any]], t: Words) -> str:
    """Which of the sale's terms the claim's facts fall outside, checked in the order
    the built-in policies check them (``plugins.builtin.policies``); any other reason
    is said only in the ledger's words, shown beside it."""
    rec = e["record"]
    name = t.term("policy", rec["policy"])
    sale = by_index.get(rec["sale"], {})
    stated = sale.get("derived", {}).get("terms", [])
    term = next((x for x in stated if x["policy"] == rec["policy"]), None)
    claim = by_index.get(rec["claim"], {}).get("record", {})
    component = claim.get("component")
    if rec["days_since_sale"] < 0:
        return t("decision_before_sale")
    if term is None:
        return t("decision_other")
    if component is not None and term["components"] and component not in term["components"]:
        return t("decision_not_covered", component=t.term("component", component), policy=name)
    for earlier in by_index.values():  # in log order
        if earlier["index"] >= e["index"] or earlier["kind"] != "claim_decision":
            continue
        was = earlier["record"]
        claimed = by_index.get(was["claim"], {}).get("record", {})
        if (
            was["approved"]
            and was["sale"] == rec["sale"]
            and component is not None
            and claimed.get("kind") == claim.get("kind") == "warranty_claim"
            and claimed.get("component") == component
        ):
            return t("decision_repeat", index=was["claim"])
    # The claim's day where the terms' days are counted, as the policy counts it.
    zone = ZoneInfo(term.get("time_zone", "UTC"))
    claimed_on = parse_time(rec["occurred_at"]).astimezone(zone).date()
    if term["ends"] is not None and claimed_on > date.fromisoformat(term["ends"]):
        ends = t.date(date.fromisoformat(term["ends"]))
        return t("decision_past_end", policy=name, date=ends)
    reading, limit = rec.get("odometer_km"), term["km_limit"]
    if limit is not None and reading is not None and reading > limit:
        return t("decision_past_km", km=km_text(reading, t), policy=name, limit=km_text(limit, t))
    return t("decision_other")


def _resold_said(sale: dict[str, Any], later: dict[str, Any], t: Words) -> str | None:
    """How a return ended by a sale of the car by its own dealer soon after is said: by
    whom and how long after (a resale within the hour ends a buyer's return as surely as
    a real one); None for a sale by anyone else."""
    if later["signer"]["id"] != sale["signer"]["id"]:
        return None
    gap = parse_time(later["record"]["occurred_at"]) - parse_time(sale["record"]["occurred_at"])
    minutes = int(gap.total_seconds() // 60)
    if minutes < 60:
        after = t.count("minutes", minutes)
    elif minutes < 72 * 60:
        after = t.count("hours", minutes // 60)
    else:
        after = t.count("days", gap.days)
    return t("terms_sold_on_same", after=after, index=later["index"])


def terms_shown(
    entries: list[dict[str, Any]],
    sales: list[dict[str, Any]],
    disputed: dict[int, int],
    as_of: datetime,
    t: Words,
    policies: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each policy attached at a sale, as its plugin stated it when the sale was logged;
    none is in force once an approved return undid the sale, or once the sale was
    disputed and its dealer recorded it again; a return, once the car was sold again
    (as the ledger judges claims, ``plugins.claims``).

    ``policies``: the policies the ledger provides now, by id (``Registry.policies``),
    or None where that is not known (nothing is said of it then). With them, a policy
    is headed by its plugin's ``title`` where the page has no words for it, and a term
    in force whose policy is not among them is ``unavailable``: its claims cannot be
    decided while its plugin is not installed."""
    returned = {s["index"]: s["returned"] for s in sales if s.get("returned") is not None}
    sold = [e for e in entries if e["kind"] == "sale"]
    terms = []
    for e in entries:
        if e["kind"] != "sale":
            continue
        later = sold_again(sold, e)  # as plugins.claims judges claims
        sold_on = later is not None
        # A later sale the operator disputes (one that may never have happened) still
        # ends the dealer's return, but not the operator's: say so.
        resold = "sold_on_disputed" if sold_on and later["index"] in disputed else "sold_on"
        same_dealer = _resold_said(e, later, t) if resold == "sold_on" and sold_on else None
        replaced = e["index"] in disputed and (
            recorded_again(sold, e, next(d for d in entries if d["index"] == disputed[e["index"]]))
            is not None
        )
        for term in e.get("derived", {}).get("terms", []):
            parts = []
            if term["ends"] is not None:  # the last day it holds, to its end there
                ends_on = t.date(date.fromisoformat(term["ends"]))
                parts.append(t("terms_until", date=ends_on, zone=_zone_said(term, t)))
            if term["km_limit"] is not None:
                parts.append(t("terms_km", km=f"{term['km_limit']:,}"))
            ends = term["ends"]
            active = (
                e["index"] not in returned
                and not replaced
                and not (sold_on and term["kind"] == "return")
                and (ends is None or ends >= _day_in(term, as_of).isoformat())
            )
            name, name_lang = _heading(term["policy"], t, policies)
            terms.append(
                {
                    "id": term["policy"],
                    "kind": term["kind"],
                    "name": name,
                    "name_lang": name_lang,  # "en": a plugin's title on another language's page
                    "index": e["index"],
                    "dealer": e["signer"]["name"],
                    "limits": ", ".join(parts),
                    "said": _terms_said(term, t),
                    "summary": term["summary"],
                    "components": _listed("component", term["components"], t),
                    "exclusions": _listed("exclusion", term["exclusions"], t),
                    "active": active,
                    # In force, but no plugin here decides its claims now (plugins.claims).
                    "unavailable": active
                    and policies is not None
                    and term["policy"] not in policies,
                    "returned": returned.get(e["index"]),
                    "ended_by": "replaced" if replaced else resold if sold_on else None,
                    "resold_said": same_dealer,  # sold again by its own dealer, soon after
                }
            )
        stated = {term["policy"] for term in e.get("derived", {}).get("terms", [])}
        for ref in e["record"].get("policies", []):
            if ref.get("id") in stated:
                continue
            # Named in the signed sale, but logged before the ledger stated terms at sale
            # (its first release): shown, and said to decide no claim (plugins.claims).
            name, name_lang = _heading(ref["id"], t, policies)
            terms.append(
                {
                    "id": ref["id"],
                    "kind": None,
                    "name": name,
                    "name_lang": name_lang,
                    "index": e["index"],
                    "dealer": e["signer"]["name"],
                    "limits": "",
                    "said": None,
                    "summary": "",
                    "components": [],
                    "exclusions": [],
                    "active": False,
                    "unavailable": False,
                    "returned": None,
                    "ended_by": "unstated",
                    "resold_said": None,
                }
            )
    return terms
