"""A dealer's record, in figures with the entries behind them; and how dealers are ranked.

No opaque score: each figure is a count of signed entries a buyer can open, and the
ranking rule is stated in words (``RANKING_RULE``) and applied exactly as written: on
the exact ratios of the counts, never on the rounded figures shown (1 complaint in 299
sales ranks below 1 in 301, though both show 0.33 per 100).
Input items are ``{"index", "kind", "signer": {"id", ...}, "record"}`` as the API
builds them for histories, disputes among them.

A sale its dealer recorded again after the operator disputed it (a price typo fixed,
``core.sale_standing.replaced_by``) is one transaction logged twice: it counts once,
as the new sale, as commissions pay it once. Claims filed on the old sale are still
claims on its dealer's sale, and count.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from core.corrections import apply_corrections
from core.sale_standing import replaced_by

MIN_SALES_TO_RANK = 5
RANKING_RULE = (
    "Dealers with at least 5 sales on the ledger are ranked by upheld complaints per 100 "
    "sales (fewer first), then by the share of return requests and warranty claims on "
    "their sales that were honoured (more first; none decided counts as all honoured), then "
    "by number of sales (more first). "
    "A sale its dealer recorded again (a typo fixed after the operator disputed it) "
    "counts once, as the new sale. "
    "Dealers with fewer sales are listed but not ranked."
)


def _complaints(items: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each complaint's record as corrected (an operator may find one was not upheld
    after all), read as the history view reads corrections."""
    complaints = [i for i in items if i["kind"] == "complaint"]
    about = {i["index"] for i in complaints}
    fixes = [i for i in items if i["kind"] == "correction" and i["record"]["corrects"] in about]
    if not fixes:
        return {i["index"]: i["record"] for i in complaints}
    return {
        i["index"]: i["record"]
        for i in apply_corrections(complaints + fixes)
        if i["kind"] == "complaint"
    }


def _recorded_again(items: list[dict[str, Any]], own: list[dict[str, Any]]) -> list[int]:
    """The sales of ``own`` that a later sale replaced (``replaced_by``), judged among
    every sale of their car and the disputes of each."""
    disputes: dict[int, list[dict[str, Any]]] = {}
    for i in items:
        if i["kind"] == "dispute":
            disputes.setdefault(i["record"]["disputes"], []).append(i)
    disputed = [sale for sale in own if sale["index"] in disputes]
    if not disputed:
        return []
    by_vin: dict[str, list[dict[str, Any]]] = {}
    for i in items:
        if i["kind"] == "sale":
            by_vin.setdefault(i["record"]["vin"], []).append(i)
    return [
        sale["index"]
        for sale in disputed
        if replaced_by(by_vin[sale["record"]["vin"]], sale, disputes[sale["index"]]) is not None
    ]


def dealer_figures(dealer: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """What the ledger says about ``dealer``: every figure lists its entries."""
    own_sales = [
        i
        for i in items
        if i["kind"] == "sale" and i["record"]["dealer"] == dealer and i["signer"]["id"] == dealer
    ]
    sale_set = {i["index"] for i in own_sales}  # claims on a sale recorded again count
    again = _recorded_again(items, own_sales)
    sales = [index for index in sorted(sale_set) if index not in again]
    claims = {
        i["index"]: i
        for i in items
        if i["kind"] in ("return_request", "warranty_claim") and i["record"]["sale"] in sale_set
    }
    decided = {
        i["record"]["claim"]: i
        for i in items
        if i["kind"] == "claim_decision" and i["record"]["claim"] in claims
    }

    def tally(kind: str) -> dict[str, list[int]]:
        mine = [c for c in claims.values() if c["kind"] == kind]
        return {
            "filed": [c["index"] for c in mine],
            "honoured": [
                c["index"]
                for c in mine
                if c["index"] in decided and decided[c["index"]]["record"]["approved"]
            ],
            "refused": [
                c["index"]
                for c in mine
                if c["index"] in decided and not decided[c["index"]]["record"]["approved"]
            ],
        }

    own = {i["index"] for i in items if i["signer"]["id"] == dealer}
    corrections = [
        i["index"] for i in items if i["kind"] == "correction" and i["record"]["corrects"] in own
    ]
    complaints = [
        index
        for index, rec in _complaints(items).items()
        if rec["dealer"] == dealer and rec.get("upheld", True)
    ]
    returns, warranty = tally("return_request"), tally("warranty_claim")
    decided_count = sum(len(t["honoured"]) + len(t["refused"]) for t in (returns, warranty))
    honoured = len(returns["honoured"]) + len(warranty["honoured"])
    return {
        "dealer": dealer,
        "sales": {"count": len(sales), "entries": sales},
        "sales_recorded_again": {"count": len(again), "entries": again},
        "returns": returns,
        "warranty_claims": warranty,
        "corrections_of_its_entries": {"count": len(corrections), "entries": corrections},
        "complaints_upheld": {"count": len(complaints), "entries": complaints},
        "honoured_share": round(honoured / decided_count, 4) if decided_count else None,
        "complaints_per_100_sales": (
            round(100 * len(complaints) / len(sales), 2) if sales else None
        ),
    }


def rank(figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``figures`` ordered by ``RANKING_RULE``, each with ``rank`` (None: not ranked)."""
    ranked = [f for f in figures if f["sales"]["count"] >= MIN_SALES_TO_RANK]
    ranked.sort(
        key=lambda f: (
            complaints_per_sale(f),
            -honoured_share(f),
            -f["sales"]["count"],
            f["dealer"],
        )
    )
    out = [{**f, "rank": n} for n, f in enumerate(ranked, 1)]
    rest = sorted(
        (f for f in figures if f["sales"]["count"] < MIN_SALES_TO_RANK), key=lambda f: f["dealer"]
    )
    return out + [{**f, "rank": None} for f in rest]


def complaints_per_sale(figures: dict[str, Any]) -> Fraction:
    """Upheld complaints per sale, exactly (the dealer has sales)."""
    return Fraction(figures["complaints_upheld"]["count"], figures["sales"]["count"])


def honoured_share(figures: dict[str, Any]) -> Fraction:
    """The share of decided claims honoured, exactly; 1 when none was decided."""
    claims = (figures["returns"], figures["warranty_claims"])
    honoured = sum(len(c["honoured"]) for c in claims)
    decided = honoured + sum(len(c["refused"]) for c in claims)
    return Fraction(honoured, decided) if decided else Fraction(1)
