"""The built-in referral-commission rules.

Amounts are ``Decimal`` rounded to cents (half up), never floats, in the sale's
currency. A rule computes from the sale's public price and the referral's private
parameters only, so an auditor holding the referral gets the same amount from the
sale entry. Parameters are stored as the canonical strings ``validate`` returns
(money as "12.50", percentages as "2.5"), never as floats.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.errors import Conflict, InvalidInput
from plugins.hookspecs import hookimpl
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission

CENT = Decimal("0.01")
# The same form as a sale's price (core.records.Money), so no parameter is larger or
# finer than a price can be; the optional sign only lets "-1" be refused as out of range.
_MONEY = re.compile(r"-?[0-9]{1,10}(\.[0-9]{1,2})?")
_PERCENT = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,4})?")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _check(params: Any, required: set[str], optional: frozenset[str] = frozenset()) -> None:
    takes = ", ".join(sorted(required | optional))
    if not isinstance(params, dict):
        raise InvalidInput(f"the parameters must be an object with {takes}", field="params")
    unknown = sorted(set(params) - required - optional)
    if unknown:
        raise InvalidInput(
            f"unknown parameter {unknown[0]!r}; remove it: this rule takes {takes}",
            field=unknown[0],
        )
    missing = sorted(required - set(params))
    if missing:
        raise InvalidInput(
            f"parameter {missing[0]!r} is missing; this rule takes {takes}", field=missing[0]
        )


def _decimal(raw: Any, field: str, form: re.Pattern[str], example: str) -> Decimal:
    # The form is checked before Decimal() sees the text: "1e999", "NaN" or "1_0" are
    # refused here instead of overflowing or being read as something nobody wrote.
    text = str(raw) if isinstance(raw, int) and not isinstance(raw, bool) else raw
    if not isinstance(text, str) or not form.fullmatch(text):
        raise InvalidInput(
            f'parameter {field!r} must be a decimal string such as "{example}", not {raw!r}',
            field=field,
        )
    return Decimal(text)


def _money(raw: Any, field: str) -> str:
    value = _decimal(raw, field, _MONEY, "12.50")
    if value <= 0:
        raise InvalidInput(f'parameter {field!r} must be at least "0.01", not {raw!r}', field=field)
    return f"{_cents(value)}"


def _percent(raw: Any, field: str) -> str:
    value = _decimal(raw, field, _PERCENT, "2.5")
    if not 0 < value <= 50:
        raise InvalidInput(
            f'parameter {field!r} must be above 0 and at most "50", not {raw!r}', field=field
        )
    return f"{value.normalize():f}"  # "2.50" and "2.5" are one percentage, stored as "2.5"


def _currency(raw: Any) -> str:
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw):
        raise InvalidInput(
            f"parameter 'currency' must be a three-letter code such as \"EUR\", not {raw!r}",
            field="currency",
        )
    return raw


class Flat(CommissionRule):
    """A fixed amount per sale, paid only in the currency it was agreed in.

    A sale in another currency earns nothing: converting would need an exchange rate
    that neither the referrer nor the dealer signed, and an auditor could not recompute
    it from the ledger. A sale without a price (so without a currency) still earns the
    fee, since the fee does not depend on the price.
    """

    id = "flat"
    version = "1"
    description = "A fixed fee per sale"

    def validate(self, params):
        _check(params, {"amount", "currency"})
        amount, currency = _money(params["amount"], "amount"), _currency(params["currency"])
        return {"amount": amount, "currency": currency}

    def compute(self, referral: Referral, sale: SaleForCommission):
        p = referral.params
        if sale.currency is not None and sale.currency != p["currency"]:
            return []
        amount = _cents(Decimal(p["amount"]))
        return [Commission(referral.referrer, amount, p["currency"], 1, self.id, self.version)]


def _percentages(params: dict[str, Any], *names: str) -> dict[str, str]:
    out = {name: _percent(params[name], name) for name in names}
    if "cap" in params:
        out["cap"] = _money(params["cap"], "cap")
    return out


def _share(price: Decimal, percent: str, cap: str | None) -> Decimal:
    value = _cents(price * Decimal(percent) / 100)
    return value if cap is None else min(value, Decimal(cap))


class Percentage(CommissionRule):
    """``percent`` of the price, rounded to cents, and never more than ``cap``."""

    id = "percentage"
    version = "1"
    description = "A percentage of the price, up to a cap"

    def validate(self, params):
        _check(params, {"percent"}, frozenset({"cap"}))
        return _percentages(params, "percent")

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        p = referral.params
        amount = _share(sale.price, p["percent"], p.get("cap"))
        return [Commission(referral.referrer, amount, sale.currency, 1, self.id, self.version)]


class Tiered(CommissionRule):
    """The amount of the first tier whose ``up_to`` the price does not exceed.

    A price exactly equal to a tier's ``up_to`` is in that tier; the last tier has
    ``up_to: null`` and takes every higher price.
    """

    id = "tiered"
    version = "1"
    description = "A fixed amount by price band"

    def validate(self, params):
        _check(params, {"tiers"})
        tiers = params["tiers"]
        if not isinstance(tiers, list) or not tiers:
            example = '[{"up_to": "10000", "amount": "100"}, {"up_to": null, "amount": "250"}]'
            raise InvalidInput(f"parameter 'tiers' must be a list such as {example}", field="tiers")
        out, last = [], None
        for n, tier in enumerate(tiers):
            where = f"tiers[{n}]"
            if not isinstance(tier, dict) or set(tier) != {"up_to", "amount"}:
                raise InvalidInput(
                    f'{where} must be {{"up_to": ..., "amount": ...}} and nothing else', field=where
                )
            final = n == len(tiers) - 1
            if (tier["up_to"] is None) != final:
                raise InvalidInput(
                    f'{where}: only the last tier has "up_to": null; give every other tier '
                    "the highest price it covers",
                    field=f"{where}.up_to",
                )
            up_to = None if final else _money(tier["up_to"], f"{where}.up_to")
            if up_to is not None and last is not None and Decimal(up_to) <= Decimal(last):
                raise InvalidInput(
                    f"{where}: up_to must be above the previous tier's {last}, not {up_to}",
                    field=f"{where}.up_to",
                )
            last = up_to
            out.append({"up_to": up_to, "amount": _money(tier["amount"], f"{where}.amount")})
        return {"tiers": out}

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        # Validated tiers always end with "up_to": null, so some tier takes every price.
        tier = next(
            t
            for t in referral.params["tiers"]
            if t["up_to"] is None or sale.price <= Decimal(t["up_to"])
        )
        amount = _cents(Decimal(tier["amount"]))
        return [Commission(referral.referrer, amount, sale.currency, 1, self.id, self.version)]


class TwoLevel(CommissionRule):
    """``percent`` to the referrer and ``upline_percent`` to its upline, each capped.

    A referrer without an upline earns level 1 alone; nothing is paid for level 2.
    """

    id = "two-level"
    version = "1"
    description = "Referrer and upline percentages"

    def validate(self, params):
        _check(params, {"percent", "upline_percent"}, frozenset({"cap"}))
        return _percentages(params, "percent", "upline_percent")

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        p, cap = referral.params, referral.params.get("cap")
        paid = [(referral.referrer, p["percent"], 1)]
        if referral.upline is not None:
            paid.append((referral.upline, p["upline_percent"], 2))
        return [
            Commission(who, _share(sale.price, pct, cap), sale.currency, lvl, self.id, self.version)
            for who, pct, lvl in paid
        ]


class LimitedSlots(Flat):
    """A flat fee, with at most ``slots`` distinct referrers per car model and region.

    A referrer who already holds an active referral for that model and region may add
    codes there; a referrer who holds none is refused once ``slots`` distinct referrers
    do. Other models and regions are counted apart.
    """

    id = "limited-slots"
    version = "1"
    description = "A flat fee, limited referrers per model and region"

    def validate(self, params):
        _check(params, {"slots", "amount", "currency"})
        slots = params["slots"]
        if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= 100:
            raise InvalidInput(
                f"parameter 'slots' must be a whole number from 1 to 100, such as 5, not {slots!r}",
                field="slots",
            )
        flat = super().validate({k: v for k, v in params.items() if k != "slots"})
        return {"slots": slots, **flat}

    def admit(self, referral, active):
        slots = referral.params["slots"]
        holders = {
            a.referrer for a in active if a.model == referral.model and a.region == referral.region
        }
        if referral.referrer not in holders and len(holders) >= slots:
            raise Conflict(
                f"all {slots} referral slots for {referral.model} in {referral.region} are "
                "taken by other referrers; choose another model or region"
            )


@hookimpl
def register_commission_rules():
    return [Flat(), Percentage(), Tiered(), TwoLevel(), LimitedSlots()]
