"""The built-in referral-commission rules.

Amounts are ``Decimal`` rounded to cents (half up), never floats, in the sale's
currency. A rule computes from the sale's public price and the referral's private
parameters only, so an auditor holding the referral gets the same amount from the
sale entry.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from core.errors import Conflict, InvalidInput
from plugins.hookspecs import hookimpl
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission

CENT = Decimal("0.01")


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _check(params: dict[str, Any], required: set[str], optional: set[str] = frozenset()) -> None:
    unknown = sorted(set(params) - required - optional)
    if unknown:
        raise InvalidInput(
            f"unknown parameter {unknown[0]!r}; this rule takes "
            f"{', '.join(sorted(required | optional))}",
            field=unknown[0],
        )
    missing = sorted(required - set(params))
    if missing:
        raise InvalidInput(f"parameter {missing[0]!r} is required", field=missing[0])


def _amount(params: dict[str, Any], name: str, *, high: Decimal | None = None) -> Decimal:
    raw = params[name]
    try:
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise InvalidOperation
        value = Decimal(str(raw))
    except InvalidOperation:
        raise InvalidInput(
            f'parameter {name!r} must be a decimal string such as "12.50", not {raw!r}',
            field=name,
        ) from None
    if not value.is_finite() or value <= 0 or (high is not None and value > high):
        limit = f" and at most {high}" if high is not None else ""
        raise InvalidInput(f"parameter {name!r} must be above 0{limit}, not {raw}", field=name)
    return value


def _currency(params: dict[str, Any]) -> str:
    value = params["currency"]
    if not (isinstance(value, str) and len(value) == 3 and value.isascii() and value.isupper()):
        raise InvalidInput(
            f"parameter 'currency' must be a three-letter code such as \"EUR\", not {value!r}",
            field="currency",
        )
    return value


class Flat(CommissionRule):
    """A fixed amount per sale, paid only in the currency it was agreed in."""

    id = "flat"
    version = "1"
    description = "A fixed fee per sale"

    def validate(self, params):
        _check(params, {"amount", "currency"})
        return {"amount": f"{_cents(_amount(params, 'amount'))}", "currency": _currency(params)}

    def compute(self, referral: Referral, sale: SaleForCommission):
        p = referral.params
        # A fee agreed in one currency is not converted at a rate nobody signed.
        if sale.currency is not None and sale.currency != p["currency"]:
            return []
        return [
            Commission(
                referral.referrer, Decimal(p["amount"]), p["currency"], 1, self.id, self.version
            )
        ]


class Percentage(CommissionRule):
    id = "percentage"
    version = "1"
    description = "A percentage of the price, up to a cap"

    def validate(self, params):
        _check(params, {"percent"}, {"cap"})
        out = {"percent": str(_amount(params, "percent", high=Decimal(50)))}
        if "cap" in params:
            out["cap"] = f"{_cents(_amount(params, 'cap'))}"
        return out

    def share(self, price: Decimal, percent: str, cap: str | None) -> Decimal:
        value = _cents(price * Decimal(percent) / 100)
        return min(value, Decimal(cap)) if cap is not None else value

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        p = referral.params
        amount = self.share(sale.price, p["percent"], p.get("cap"))
        return [Commission(referral.referrer, amount, sale.currency, 1, self.id, self.version)]


class Tiered(CommissionRule):
    """The amount of the first tier whose ``up_to`` the price does not exceed."""

    id = "tiered"
    version = "1"
    description = "A fixed amount by price band"

    def validate(self, params):
        _check(params, {"tiers"})
        tiers = params["tiers"]
        if not isinstance(tiers, list) or not tiers:
            raise InvalidInput("parameter 'tiers' must be a non-empty list", field="tiers")
        out, last = [], None
        for n, tier in enumerate(tiers):
            where = f"tiers[{n}]"
            if not isinstance(tier, dict) or set(tier) != {"up_to", "amount"}:
                raise InvalidInput(f'{where} must be {{"up_to": ..., "amount": ...}}', field=where)
            final = n == len(tiers) - 1
            if (tier["up_to"] is None) != final:
                raise InvalidInput(
                    f'{where}: only the last tier has "up_to": null', field=f"{where}.up_to"
                )
            up_to = None if final else _amount(tier, "up_to")
            if up_to is not None and last is not None and up_to <= last:
                raise InvalidInput(f"{where}: up_to must increase", field=f"{where}.up_to")
            last = up_to
            out.append(
                {
                    "up_to": None if up_to is None else f"{_cents(up_to)}",
                    "amount": f"{_cents(_amount(tier, 'amount'))}",
                }
            )
        return {"tiers": out}

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        for tier in referral.params["tiers"]:
            if tier["up_to"] is None or sale.price <= Decimal(tier["up_to"]):
                return [
                    Commission(
                        referral.referrer,
                        Decimal(tier["amount"]),
                        sale.currency,
                        1,
                        self.id,
                        self.version,
                    )
                ]
        return []


class TwoLevel(CommissionRule):
    """A percentage to the referrer and a smaller one to its upline, each capped."""

    id = "two-level"
    version = "1"
    description = "Referrer and upline percentages"

    def validate(self, params):
        _check(params, {"percent", "upline_percent"}, {"cap"})
        out = Percentage().validate({k: v for k, v in params.items() if k != "upline_percent"})
        out["upline_percent"] = str(_amount(params, "upline_percent", high=Decimal(50)))
        return out

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        p, share = referral.params, Percentage().share
        paid = [
            Commission(
                referral.referrer,
                share(sale.price, p["percent"], p.get("cap")),
                sale.currency,
                1,
                self.id,
                self.version,
            )
        ]
        if referral.upline is not None:
            paid.append(
                Commission(
                    referral.upline,
                    share(sale.price, p["upline_percent"], p.get("cap")),
                    sale.currency,
                    2,
                    self.id,
                    self.version,
                )
            )
        return paid


class LimitedSlots(Flat):
    """A flat fee, with at most ``slots`` referrers per car model and region.

    A referrer who already holds a slot for that model and region may add codes; a new
    referrer is refused once ``slots`` distinct referrers hold one.
    """

    id = "limited-slots"
    version = "1"
    description = "A flat fee, limited referrers per model and region"

    def validate(self, params):
        _check(params, {"slots", "amount", "currency"})
        slots = params["slots"]
        if isinstance(slots, bool) or not isinstance(slots, int) or not 1 <= slots <= 100:
            raise InvalidInput(
                "parameter 'slots' must be a whole number from 1 to 100", field="slots"
            )
        return {
            "slots": slots,
            **super().validate({k: v for k, v in params.items() if k != "slots"}),
        }

    def admit(self, referral, active):
        holders = {
            a.referrer for a in active if a.model == referral.model and a.region == referral.region
        }
        if referral.referrer not in holders and len(holders) >= referral.params["slots"]:
            raise Conflict(
                f"all {referral.params['slots']} referral slots for {referral.model} in "
                f"{referral.region} are taken"
            )


@hookimpl
def register_commission_rules():
    return [Flat(), Percentage(), Tiered(), TwoLevel(), LimitedSlots()]
