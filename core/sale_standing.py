"""Whether a sale still stands: recorded again after the operator disputed it, or
followed by another sale of the car. The ledger judges claims by these
(``plugins.claims``) and the buyer's page shows guarantees by them (``api.pages``):
one rule for both, so the page never shows in force what a claim would be refused under.
Commissions (``plugins.commission_settling``) pay nothing on a sale recorded again,
and the sequencer (``plugins.sale_order``) refuses a new sale that would log a
standing one again, and the resolution of a dispute whose sale was recorded again.

``sales`` are a vehicle's sale entries as ``core.history`` reads them (``index``,
``signer.id``, ``record.occurred_at``; ``disputes`` on one the operator disputes:
its open disputes, as ``core.corrections.apply_corrections`` leaves them).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from core.fields import parse_time

Entry = dict[str, Any]


def _sold_at(sale: Entry) -> datetime:
    return parse_time(sale["record"]["occurred_at"])


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


def replaced_by(sales: list[Entry], sale: Entry, disputes: list[Entry]) -> Entry | None:
    """The sale that replaced ``sale`` while a dispute of it was open, whatever the
    operator said of that dispute later: a sale recorded again never stands again.

    ``disputes``: every dispute entry of ``sale`` (``record.status`` ``open`` or
    ``resolved``), in log order. Each span from a dispute that opens it to the
    resolution that closes it is judged as ``recorded_again`` judges an open one, by
    the sales logged before that resolution."""
    opened: int | None = None
    for dispute in [*disputes, None]:
        resolves = dispute is None or dispute["record"].get("status", "open") == "resolved"
        if not resolves:
            opened = dispute["index"] if opened is None else opened
            continue
        if opened is not None:
            end = math.inf if dispute is None else dispute["index"]
            again = recorded_again([o for o in sales if o["index"] < end], sale, opened)
            if again is not None:
                return again
        opened = None
    return None


def standing_sale_in_the_way(sales: list[Entry], sale: Entry) -> Entry | None:
    """The latest standing sale of the car if ``sale``, about to be logged, is dated at
    or before it; else None (a first sale, or a resale dated after it).

    A sale stands unless a dispute of it is open: a dealer who records a standing sale
    again (re-sent with its keys in another order, its price edited, or by a rival
    dealer) would log one sale twice, and earn its commission twice. A sale recorded
    wrongly is disputed first; its dealer's new sale then replaces it
    (``recorded_again``), and need only be dated after the standing sales dated no later
    than the disputed one (a later resale of the car does not stop the fix)."""
    standing = [o for o in sales if not o.get("disputes")]
    dealer = sale["signer"]["id"]
    replacing = [
        _sold_at(o)
        for o in sales
        if o.get("disputes")
        and o["signer"]["id"] == dealer
        and recorded_again(sales, o, o["disputes"][0]["index"]) is None
    ]
    if replacing:
        standing = [o for o in standing if _sold_at(o) <= max(replacing)]
    latest = max(standing, key=lambda o: (_sold_at(o), o["index"]), default=None)
    if latest is not None and _sold_at(sale) <= _sold_at(latest):
        return latest
    return None
