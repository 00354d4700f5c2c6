"""Whether a sale still stands: recorded again after the operator disputed it, or
followed by another sale of the car. The ledger judges claims by these
(``plugins.claims``) and the buyer's page shows guarantees by them (``api.pages``):
one rule for both, so the page never shows in force what a claim would be refused under.

``sales`` are a vehicle's sale entries as ``core.history`` reads them (``index``,
``signer.id``, ``record.occurred_at``; ``disputes`` on one the operator disputes).
"""

from __future__ import annotations

from typing import Any

from core.fields import parse_time

Entry = dict[str, Any]


def recorded_again(sales: list[Entry], sale: Entry, first_dispute: int) -> Entry | None:
    """The sale that replaces ``sale`` (disputed first at entry ``first_dispute``): one
    by the same dealer, logged after it and either after the dispute or dated no later
    than it (a resale before the dispute comes after the first sale)."""
    sold_at = parse_time(sale["record"]["occurred_at"])
    return next(
        (
            o
            for o in sales
            if o["index"] > sale["index"]
            and o["signer"]["id"] == sale["signer"]["id"]
            and (o["index"] > first_dispute or parse_time(o["record"]["occurred_at"]) <= sold_at)
        ),
        None,
    )


def sold_again(sales: list[Entry], sale: Entry, *, past_disputed: bool = False) -> Entry | None:
    """A sale of the car dated after ``sale``, whatever order they were logged in; with
    ``past_disputed``, one the operator disputes does not count."""
    sold_at = parse_time(sale["record"]["occurred_at"])
    return next(
        (
            o
            for o in sales
            if o["index"] != sale["index"]
            and not (past_disputed and o.get("disputes"))
            and parse_time(o["record"]["occurred_at"]) > sold_at
        ),
        None,
    )
