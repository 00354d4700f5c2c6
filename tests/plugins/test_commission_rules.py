"""The built-in commission rules: exact decimals at every boundary."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import Conflict, InvalidInput
from plugins.builtin.commissions import Flat, LimitedSlots, Percentage, Tiered, TwoLevel
from plugins.interfaces import Referral, SaleForCommission

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("1000000"), places=2)


def eur_tiers(tiers):
    return {"tiers": tiers, "currency": "EUR"}


def referral(rule, params, referrer="amy", upline=None, model="LFV/2020", region="CN-SH"):
    return Referral("CODE", referrer, upline, rule.id, rule.validate(params), model, region)


def sale(price, currency="EUR"):
    return SaleForCommission(7, "LFVZA611XL3572578", "bay", price, currency)


def test_flat_pays_in_its_own_currency_only():
    rule = Flat()
    r = referral(rule, {"amount": "150", "currency": "EUR"})
    assert r.params == {"amount": "150.00", "currency": "EUR"}
    (paid,) = rule.compute(r, sale(Decimal("9000")))
    assert (paid.amount, paid.currency, paid.level) == (Decimal("150.00"), "EUR", 1)
    assert rule.compute(r, sale(Decimal("9000"), "USD")) == []


@given(
    prices,
    st.decimals(min_value=Decimal("0.1"), max_value=Decimal("50"), places=1),
    st.decimals(min_value=Decimal("1"), max_value=Decimal("5000"), places=2),
)
def test_percentage_never_exceeds_its_cap(price, percent, cap):
    rule = Percentage()
    r = referral(rule, {"percent": str(percent), "cap": str(cap), "cap_currency": "EUR"})
    (paid,) = rule.compute(r, sale(price))
    exact = (price * percent / 100).quantize(Decimal("0.01"), rounding="ROUND_HALF_UP")
    assert paid.amount == min(exact, cap)
    assert isinstance(paid.amount, Decimal) and paid.amount.as_tuple().exponent == -2


def test_percentage_reaches_the_cap_exactly_at_its_price():
    rule = Percentage()
    r = referral(rule, {"percent": "2", "cap": "300", "cap_currency": "EUR"})
    assert rule.compute(r, sale(Decimal("15000")))[0].amount == Decimal("300.00")
    assert rule.compute(r, sale(Decimal("14999.99")))[0].amount == Decimal("300.00")  # 299.9998
    assert rule.compute(r, sale(Decimal("14000")))[0].amount == Decimal("280.00")
    assert rule.compute(r, sale(None)) == []


TIERS = [
    {"up_to": "10000", "amount": "100"},
    {"up_to": "25000", "amount": "250"},
    {"up_to": None, "amount": "400"},
]


@pytest.mark.parametrize(
    "price, amount",
    [
        ("10000.00", "100.00"),
        ("10000.01", "250.00"),
        ("25000", "250.00"),
        ("25000.01", "400.00"),
        ("0.01", "100.00"),
    ],
)
def test_tier_boundaries_are_inclusive(price, amount):
    rule = Tiered()
    (paid,) = rule.compute(referral(rule, eur_tiers(TIERS)), sale(Decimal(price)))
    assert paid.amount == Decimal(amount)


@given(prices)
def test_tiers_pay_the_first_band_the_price_fits(price):
    rule = Tiered()
    (paid,) = rule.compute(referral(rule, eur_tiers(TIERS)), sale(price))
    expected = "100.00" if price <= 10000 else "250.00" if price <= 25000 else "400.00"
    assert paid.amount == Decimal(expected)


@given(prices)
def test_two_level_pays_referrer_and_upline(price):
    rule = TwoLevel()
    params = {"percent": "2", "upline_percent": "0.5", "cap": "500", "cap_currency": "EUR"}
    paid = rule.compute(referral(rule, params, upline="boss"), sale(price))
    assert [(c.beneficiary, c.level) for c in paid] == [("amy", 1), ("boss", 2)]
    assert all(c.amount <= Decimal("500") for c in paid)
    assert paid[1].amount <= paid[0].amount
    alone = rule.compute(referral(rule, params), sale(price))
    assert [c.beneficiary for c in alone] == ["amy"]


def test_limited_slots_per_model_and_region():
    rule = LimitedSlots()
    params = {"slots": 2, "amount": "100", "currency": "EUR"}
    held = [referral(rule, params, "a"), referral(rule, params, "b")]
    with pytest.raises(Conflict, match="LFV/2020 in CN-SH"):
        rule.admit(referral(rule, params, "c"), held)
    rule.admit(referral(rule, params, "a"), held)  # a holder adds another code
    rule.admit(referral(rule, params, "c", region="CN-BJ"), held)  # another region
    rule.admit(referral(rule, params, "c", model="LSV/2021"), held)  # another model


@pytest.mark.parametrize(
    "rule, params, field",
    [
        (Flat(), {"amount": "10"}, "currency"),
        (Flat(), {"amount": 10.5, "currency": "EUR"}, "amount"),
        (Flat(), {"amount": "-1", "currency": "EUR"}, "amount"),
        (Flat(), {"amount": "1", "currency": "eur"}, "currency"),
        (Flat(), {"amount": "1", "currency": "EUR", "bonus": 1}, "bonus"),
        (Percentage(), {"percent": "51"}, "percent"),
        (Tiered(), eur_tiers([{"up_to": "10", "amount": "1"}]), "tiers[0].up_to"),
        (Tiered(), {"tiers": [{"up_to": None, "amount": "1"}]}, "currency"),
        (Tiered(), {"tiers": [{"up_to": None, "amount": "1"}], "currency": "euro"}, "currency"),
        (
            Tiered(),
            {
                "tiers": [
                    {"up_to": "10", "amount": "1"},
                    {"up_to": "5", "amount": "1"},
                    {"up_to": None, "amount": "1"},
                ],
                "currency": "EUR",
            },
            "tiers[1].up_to",
        ),
        (LimitedSlots(), {"slots": 0, "amount": "1", "currency": "EUR"}, "slots"),
    ],
)
def test_bad_parameters_are_refused_by_name(rule, params, field):
    with pytest.raises(InvalidInput) as err:
        rule.validate(params)
    assert err.value.field == field
