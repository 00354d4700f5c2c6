"""The built-in referral-commission rules.

Amounts are ``Decimal`` rounded half up to the currency's minor unit (cents, whole
yen, thousandths of a dinar: ``plugins.currency``), never floats, in the sale's
currency. A rule computes from the sale's public price and the referral's private
parameters only, so an auditor holding the referral gets the same amount from the
sale entry. Parameters are stored as the canonical strings ``validate`` returns
(money as "12.50", or "10.125" where the currency's minor unit needs the third decimal;
percentages as "2.5"), never as floats.

No rule converts between currencies: an amount agreed in one currency (a flat fee, a
cap) is paid only on sales in that currency, because a rate that neither the referrer
nor the dealer signed could not be recomputed by an auditor from the ledger.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.errors import Conflict, InvalidInput, InvalidRecord
from plugins.currency import minor_units, round_to_minor_unit
from plugins.hookspecs import hookimpl
from plugins.interfaces import Commission, CommissionRule, Referral, SaleForCommission

CENT = Decimal("0.01")
# The same form as a sale's price (core.records.Money), so no parameter is larger or
# finer than a price can be: up to 2 decimals, or the currency's minor unit where it has
# more (thousandths of a dinar); the optional sign only lets "-1" be refused as out of range.
_MONEY = re.compile(r"-?[0-9]{1,10}(\.[0-9]{1,4})?")
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


def _money(raw: Any, field: str, currency: str, *, paid: bool = True) -> str:
    """A positive amount in ``currency`` as stored: in cents ("12.50") where that is
    exact, as every amount was stored before dinars' thousandths were taken, else in
    the currency's minor unit ("10.125" dinars). ``paid``: an amount someone is paid
    must be one the currency pays (an amount finer than its minor unit, "4999.50" yen,
    would be rounded when paid, a cap above what was agreed and a fee below one yen to
    nothing); a price band's bound need only be as fine as a price may be."""
    value = _decimal(raw, field, _MONEY, "12.50")
    if value <= 0:
        raise InvalidInput(f'parameter {field!r} must be at least "0.01", not {raw!r}', field=field)
    digits = minor_units(currency)
    finest = digits if paid else max(2, digits)  # a price's decimals (core.records.Money)
    if value.quantize(Decimal(1).scaleb(-finest), rounding=ROUND_HALF_UP) != value:
        unit = "whole units" if finest == 0 else f"{finest} decimal places"
        raise InvalidInput(
            f"parameter {field!r} is {raw!r}, finer than {currency} is "
            f"{'paid' if paid else 'priced'} in ({unit}); give an amount in {unit}",
            field=field,
        )
    cents = _cents(value)
    return f"{cents if cents == value else round_to_minor_unit(value, currency)}"


def _percent(raw: Any, field: str) -> str:
    value = _decimal(raw, field, _PERCENT, "2.5")
    if not 0 < value <= 50:
        raise InvalidInput(
            f'parameter {field!r} must be above 0 and at most "50", not {raw!r}', field=field
        )
    return f"{value.normalize():f}"  # "2.50" and "2.5" are one percentage, stored as "2.5"


def _currency(raw: Any, field: str = "currency") -> str:
    if not isinstance(raw, str) or not _CURRENCY.fullmatch(raw):
        raise InvalidInput(
            f'parameter {field!r} must be a three-letter code such as "EUR", not {raw!r}',
            field=field,
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
    version = "1.1"  # 1.1: amounts in the currency's minor unit (whole yen)
    description = "A fixed fee per sale"

    def validate(self, params):
        _check(params, {"amount", "currency"})
        currency = _currency(params["currency"])
        amount = _money(params["amount"], "amount", currency)
        return {"amount": amount, "currency": currency}

    def compute(self, referral: Referral, sale: SaleForCommission):
        p = referral.params
        if sale.currency is not None and sale.currency != p["currency"]:
            return []
        amount = round_to_minor_unit(Decimal(p["amount"]), p["currency"])
        return [Commission(referral.referrer, amount, p["currency"], 1, self.id, self.version)]


def _percentages(params: dict[str, Any], *names: str) -> dict[str, str]:
    out = {name: _percent(params[name], name) for name in names}
    if "cap" in params:
        if "cap_currency" not in params:
            raise InvalidInput(
                "parameter 'cap_currency' is missing: a cap names its currency, such as "
                '"EUR", and holds only for sales in that currency',
                field="cap_currency",
            )
        out["cap_currency"] = _currency(params["cap_currency"], "cap_currency")
        out["cap"] = _money(params["cap"], "cap", out["cap_currency"])
    elif "cap_currency" in params:
        raise InvalidInput(
            "parameter 'cap_currency' is the currency of 'cap'; give 'cap' too, or remove it",
            field="cap_currency",
        )
    return out


def _cap_allows(referral: Referral, sale: SaleForCommission) -> bool:
    """Whether the referral's cap lets a share of this sale be paid at all.

    A cap holds only in its own currency, so a capped referral earns nothing on a sale
    in another (as ``Flat``). A cap stored without a currency (before version 2) cannot
    be applied to any sale: the referrer makes a new referral naming one.
    """
    p = referral.params
    if "cap" not in p:
        return True
    if "cap_currency" not in p:
        raise InvalidRecord(
            f"referral {referral.code!r} has a cap of {p['cap']} in no currency, made before "
            "caps named theirs; the referrer makes a new referral with 'cap_currency', or "
            "leave referral_code out",
            field="$.referral_code",
        )
    return p["cap_currency"] == sale.currency


def _share(price: Decimal, percent: str, cap: str | None, currency: str) -> Decimal:
    value = round_to_minor_unit(price * Decimal(percent) / 100, currency)
    return value if cap is None else min(value, round_to_minor_unit(Decimal(cap), currency))


class Percentage(CommissionRule):
    """``percent`` of the price, rounded to the currency's minor unit, and never more
    than ``cap``.

    A ``cap`` names its currency (``cap_currency``) and holds only for sales in that
    currency: a capped referral earns nothing on a sale in another currency, since
    "at most 500" means nothing without a currency and no rule converts. Without a cap
    the share is paid in the sale's currency, whatever it is.
    """

    id = "percentage"
    version = "2.1"  # 2: the cap names its currency; 2.1: the currency's minor unit
    description = "A percentage of the price, up to a cap in a named currency"

    def validate(self, params):
        _check(params, {"percent"}, frozenset({"cap", "cap_currency"}))
        return _percentages(params, "percent")

    def compute(self, referral, sale):
        if sale.price is None or not _cap_allows(referral, sale):
            return []
        p = referral.params
        amount = _share(sale.price, p["percent"], p.get("cap"), sale.currency)
        return [Commission(referral.referrer, amount, sale.currency, 1, self.id, self.version)]


class Tiered(CommissionRule):
    """The amount of the first tier whose ``up_to`` the price does not exceed.

    A price exactly equal to a tier's ``up_to`` is in that tier; the last tier has
    ``up_to: null`` and takes every higher price. The bands and amounts are in
    ``currency``, and only sales in it earn (as ``Flat``): "up to 10,000, 100" means
    nothing without one. A referral made before tiers named a currency (version 1) is
    paid as it was agreed: in the sale's currency, bands read in it.
    """

    id = "tiered"
    version = "2.1"  # 2: the bands and amounts name their currency; 2.1: minor units
    description = "A fixed amount by price band, in a named currency"

    def validate(self, params):
        _check(params, {"tiers", "currency"})
        currency = _currency(params["currency"])
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
            bound = f"{where}.up_to"
            up_to = None if final else _money(tier["up_to"], bound, currency, paid=False)
            if up_to is not None and last is not None and Decimal(up_to) <= Decimal(last):
                raise InvalidInput(
                    f"{where}: up_to must be above the previous tier's {last}, not {up_to}",
                    field=f"{where}.up_to",
                )
            last = up_to
            out.append(
                {"up_to": up_to, "amount": _money(tier["amount"], f"{where}.amount", currency)}
            )
        return {"tiers": out, "currency": currency}

    def compute(self, referral, sale):
        if sale.price is None:
            return []
        agreed = referral.params.get("currency", sale.currency)  # version 1: the sale's
        if sale.currency != agreed:
            return []
        # Validated tiers always end with "up_to": null, so some tier takes every price.
        tier = next(
            t
            for t in referral.params["tiers"]
            if t["up_to"] is None or sale.price <= Decimal(t["up_to"])
        )
        amount = round_to_minor_unit(Decimal(tier["amount"]), agreed)
        return [Commission(referral.referrer, amount, agreed, 1, self.id, self.version)]


class TwoLevel(CommissionRule):
    """``percent`` to the referrer and ``upline_percent`` to its upline, each capped.

    The cap names its currency, as in ``Percentage``. Level 2 is paid only to an upline
    that is neither the referrer itself nor the selling dealer: nobody earns a
    commission on its own sale, or twice on one sale. A referrer without such an
    upline earns level 1 alone.
    """

    id = "two-level"
    version = "2.1"  # 2: cap currency, nothing to the dealer; 2.1: minor units
    description = "Referrer and upline percentages"

    def validate(self, params):
        _check(params, {"percent", "upline_percent"}, frozenset({"cap", "cap_currency"}))
        return _percentages(params, "percent", "upline_percent")

    def compute(self, referral, sale):
        if sale.price is None or not _cap_allows(referral, sale):
            return []
        p, cap = referral.params, referral.params.get("cap")
        paid = [(referral.referrer, p["percent"], 1)]
        if referral.upline not in (None, referral.referrer):
            paid.append((referral.upline, p["upline_percent"], 2))
        return [
            Commission(
                who,
                _share(sale.price, pct, cap, sale.currency),
                sale.currency,
                lvl,
                self.id,
                self.version,
            )
            for who, pct, lvl in paid
            if who != sale.dealer
        ]


class LimitedSlots(Flat):
    """A flat fee, with at most ``slots`` distinct referrers per car model and region.

    The limit is not each applicant's to choose: the first limited-slots referral for
    a model and region fixes ``slots`` there, and every later one for them must ask for
    that same number (refused otherwise), so nobody admits itself by asking for more.
    Should the referrals already there disagree (made before this was checked), the
    smallest number holds. A referrer who already holds a referral there may add
    codes; a referrer who holds none is refused once ``slots`` distinct referrers do.
    Other models and regions, and referrals under other rules, are counted apart.
    """

    id = "limited-slots"
    version = "1.1"  # 1.1: amounts in the currency's minor unit
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
        where = f"{referral.model} in {referral.region}"
        same = [
            a
            for a in active
            if a.rule == self.id and a.model == referral.model and a.region == referral.region
        ]
        slots = min((a.params["slots"] for a in same), default=referral.params["slots"])
        if referral.params["slots"] != slots:
            raise Conflict(
                f"the referral slots for {where} are fixed at {slots} by the first referral "
                f'there; ask for "slots": {slots}, not {referral.params["slots"]}'
            )
        holders = {a.referrer for a in same}
        if referral.referrer not in holders and len(holders) >= slots:
            raise Conflict(
                f"all {slots} referral slots for {where} are taken by other referrers; "
                "choose another model or region"
            )


@hookimpl
def register_commission_rules():
    return [Flat(), Percentage(), Tiered(), TwoLevel(), LimitedSlots()]
