"""Whether a sale still stands: recorded again after the operator disputed it, or
followed by another sale of the car. The ledger judges claims by these
(``plugins.claims``, ``plugins.claim_facts``) and the buyer's page shows guarantees by
them (``api.guarantees``): one rule for both, so the page never shows in force what a claim
would be refused under. Commissions (``plugins.commission_settling``) pay nothing on a
sale recorded again, and the sequencer (``plugins.sale_order``) refuses a new sale that
would log a sale in force again, and the resolution of a dispute whose sale was
recorded again.

``sales`` are a vehicle's sale entries as ``core.history`` reads them (``index``,
``signer.id``, ``record.occurred_at``; ``disputes`` on one the operator disputes:
its open disputes, as ``core.corrections.apply_corrections`` leaves them). A
``dispute`` is a dispute entry as the same view reads it (``index``,
``record.occurred_at``).

A sale recorded again re-records a past transaction: its dealer's new sale, logged
after the dispute, dated no later than the disputed sale or than the dispute (one
dated after the dispute was filed is a new sale of the car), and before every other
sale of the car dated after the disputed one that was on the log by then (a copy of
a later sale is not a fix: that sale would be paid twice).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from core.fields import parse_time

Entry = dict[str, Any]


def _sold_at(sale: Entry) -> datetime:
    return parse_time(sale["record"]["occurred_at"])


def _replaces(sales: list[Entry], sale: Entry, dispute: Entry, new: Entry) -> bool:
    """Whether ``new`` records ``sale`` again, ``sale`` disputed first by ``dispute``."""
    if new["index"] <= sale["index"] or new["signer"]["id"] != sale["signer"]["id"]:
        return False
    sold_at, at = _sold_at(sale), _sold_at(new)
    if new["index"] < dispute["index"]:  # before the dispute: a log written before the
        return at <= sold_at  # sequencer ordered sales (a resale comes after the sale)
    if at > max(sold_at, _sold_at(dispute)):
        return False  # dated after the dispute was filed: a new sale of the car
    later = [
        _sold_at(o)
        for o in sales
        if o["index"] < new["index"] and o["index"] != sale["index"] and _sold_at(o) > sold_at
    ]
    return not later or at < min(later)


def recorded_again(sales: list[Entry], sale: Entry, dispute: Entry) -> Entry | None:
    """The sale that replaces ``sale``, disputed first by the entry ``dispute``: the
    first one by the same dealer that re-records it (see the module's docstring), or,
    in a log written before the sequencer ordered sales, one logged after it and before
    the dispute and dated no later than it."""
    return next((o for o in sales if _replaces(sales, sale, dispute, o)), None)


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
    opened: Entry | None = None
    for dispute in [*disputes, None]:
        resolves = dispute is None or dispute["record"].get("status", "open") == "resolved"
        if not resolves:
            opened = dispute if opened is None else opened
            continue
        if opened is not None:
            end = math.inf if dispute is None else dispute["index"]
            again = recorded_again([o for o in sales if o["index"] < end], sale, opened)
            if again is not None:
                return again
        opened = None
    return None


def replaced_sales(sales: list[Entry], sale: Entry, disputes: list[Entry]) -> list[Entry]:
    """The sales ``sale`` took the place of: each disputed sale it recorded again, and
    each of theirs, and so on (a claim on any of them is a claim on the same car sold
    once). ``disputes``: the car's dispute entries (those ``sales`` name)."""
    first_open = _first_open(disputes)
    chain, found = {sale["index"]}, []
    for o in sorted(sales, key=lambda o: -o["index"]):  # the latest replacement first
        dispute = first_open(o)
        again = None if dispute is None else recorded_again(sales, o, dispute)
        if again is not None and again["index"] in chain:
            chain.add(o["index"])
            found.append(o)
    return found


def _first_open(disputes: list[Entry]):
    by_index = {d["index"]: d for d in disputes}

    def first_open(sale: Entry) -> Entry | None:
        opened = sale.get("disputes")
        return by_index.get(opened[0]["index"]) if opened else None

    return first_open


def records_again(sales: list[Entry], sale: Entry, disputes: list[Entry]) -> list[Entry]:
    """The disputed sales, not yet recorded again, that ``sale`` (about to be logged, with
    the index it will get) would record again: its dealer's fix of them."""
    first_open = _first_open(disputes)
    return [
        o
        for o in sales
        if (dispute := first_open(o)) is not None
        and recorded_again(sales, o, dispute) is None
        and recorded_again([*sales, sale], o, dispute) is sale
    ]


def standing_sale_in_the_way(
    sales: list[Entry], sale: Entry, disputes: list[Entry]
) -> Entry | None:
    """The latest sale of the car in force if ``sale``, about to be logged, is dated at
    or before it; else None (a first sale, a resale dated after it, or a sale its
    dealer records again).

    A sale is in force unless it was disputed and recorded again: a dealer who records
    a sale in force again (re-sent with its keys in another order, its price edited, or
    by a rival dealer) would log one sale twice, and earn its commission twice. A sale
    under an open dispute is still in force: only its own dealer may get past it, and
    only to record it again (``records_again``); that new sale need only be dated after
    the sales in force dated no later than the disputed one (a later sale bounds it
    through ``recorded_again``). ``disputes``: the car's dispute entries."""
    first_open = _first_open(disputes)
    in_force = [
        o
        for o in sales
        if (dispute := first_open(o)) is None or recorded_again(sales, o, dispute) is None
    ]
    fixed = records_again(sales, sale, disputes)
    if fixed:
        until = max(_sold_at(o) for o in fixed)
        fixes = {o["index"] for o in fixed}
        in_force = [o for o in in_force if o["index"] not in fixes and _sold_at(o) <= until]
    latest = max(in_force, key=lambda o: (_sold_at(o), o["index"]), default=None)
    if latest is not None and _sold_at(sale) <= _sold_at(latest):
        return latest
    return None
