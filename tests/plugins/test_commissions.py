"""plugins/builtin/commissions.py: exact cents at every boundary, refusals by field name."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise

import pluggy
import pytest
from hypothesis import given
from hypothesis import strategies as st

import plugins.builtin.commissions as commissions
import plugins.hookspecs
from core.errors import Conflict, InvalidInput, InvalidRecord
from plugins.builtin.commissions import Flat, LimitedSlots, Percentage, Tiered, TwoLevel
from plugins.interfaces import Commission, Referral, SaleForCommission
from plugins.registry import Registry

CENT = Decimal("0.01")
RULES = (Flat(), Percentage(), Tiered(), TwoLevel(), LimitedSlots())

# The range of a sale's price (core.records.Money: ten digits, two places).
money = st.decimals(min_value=CENT, max_value=Decimal("9999999999.99"), places=2)
prices = money
percents = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(50), places=4)
caps = st.decimals(min_value=CENT, max_value=Decimal(1_000_000), places=2)
currencies = st.sampled_from(["EUR", "USD", "CNY", "GBP"])


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def eur_tiers(tiers):
    return {"tiers": tiers, "currency": "EUR"}


def referral(rule, params, referrer="amy", upline=None, model="LFV/2020", region="CN-SH"):
    return Referral("CODE", referrer, upline, rule.id, rule.validate(params), model, region)


def sale(price, currency="EUR"):
    return SaleForCommission(7, "LFVZA611XL3572578", "bay", price, currency)


def assert_exact(paid: list[Commission], rule) -> None:
    for c in paid:
        assert type(c.amount) is Decimal and c.amount.as_tuple().exponent == -2
        assert c.amount >= 0
        assert (c.rule, c.version) == (rule.id, rule.version)


# ---- flat ----------------------------------------------------------------------------


def test_flat_pays_the_referrer_in_its_own_currency():
    rule = Flat()
    r = referral(rule, {"amount": "150", "currency": "EUR"})
    assert r.params == {"amount": "150.00", "currency": "EUR"}
    assert rule.compute(r, sale(Decimal("9000"))) == [
        Commission("amy", Decimal("150.00"), "EUR", 1, "flat", "1.1")
    ]


def test_flat_earns_nothing_in_another_currency_but_does_not_need_a_price():
    rule = Flat()
    r = referral(rule, {"amount": "12.5", "currency": "EUR"}, upline="boss")
    assert rule.compute(r, sale(Decimal("9000"), "USD")) == []
    (paid,) = rule.compute(r, sale(None, None))  # the fee does not depend on the price
    assert (paid.beneficiary, paid.amount, paid.currency) == ("amy", Decimal("12.50"), "EUR")


@given(money, currencies, st.one_of(st.none(), prices))
def test_flat_pays_exactly_the_agreed_amount(amount, currency, price):
    rule = Flat()
    r = referral(rule, {"amount": str(amount), "currency": currency})
    paid = rule.compute(r, sale(price, None if price is None else currency))
    assert [(c.amount, c.currency, c.level) for c in paid] == [(amount, currency, 1)]
    assert_exact(paid, rule)


# ---- percentage ----------------------------------------------------------------------


def test_percentage_rounds_half_up_to_cents():
    rule = Percentage()
    r = referral(rule, {"percent": "1.50", "cap": "250", "cap_currency": "EUR"})
    assert r.params == {"percent": "1.5", "cap": "250.00", "cap_currency": "EUR"}
    (paid,) = rule.compute(r, sale(Decimal("12345.67")))  # 185.18505
    assert (paid.amount, paid.currency) == (Decimal("185.19"), "EUR")
    assert rule.compute(r, sale(Decimal("0.33"))) == [  # 0.00495: rounds to nothing
        Commission("amy", Decimal("0.00"), "EUR", 1, "percentage", "2.1")
    ]
    assert rule.compute(r, sale(None, None)) == []


@given(prices, percents, st.one_of(st.none(), caps), currencies)
def test_percentage_never_exceeds_its_cap(price, percent, cap, currency):
    rule = Percentage()
    params = {"percent": str(percent)}
    if cap is not None:
        params |= {"cap": str(cap), "cap_currency": currency}
    (paid,) = rule.compute(referral(rule, params), sale(price, currency))
    exact = cents(price * percent / 100)
    assert paid.amount == (exact if cap is None else min(exact, cap))
    assert cap is None or paid.amount <= cap
    assert paid.currency == currency
    assert_exact([paid], rule)


# Percentages that divide 100, so that cap * 100 / percent is a whole number of cents.
exact_percents = st.sampled_from(
    ["0.5", "1", "1.25", "2", "2.5", "4", "5", "10", "12.5", "20", "25", "50"]
)


@given(caps, exact_percents)
def test_percentage_reaches_the_cap_exactly_at_cap_times_100_over_percent(cap, percent):
    rule = Percentage()
    at = cap * 100 / Decimal(percent)
    assert at == at.quantize(CENT)
    capped = referral(rule, {"percent": percent, "cap": str(cap), "cap_currency": "EUR"})
    uncapped = referral(rule, {"percent": percent})
    assert rule.compute(uncapped, sale(at))[0].amount == cap  # the cap is reached here...
    assert rule.compute(capped, sale(at))[0].amount == cap
    assert rule.compute(capped, sale(at + CENT))[0].amount == cap  # ...and held above it
    if at > CENT:
        assert rule.compute(capped, sale(at - CENT))[0].amount <= cap


# ---- tiered --------------------------------------------------------------------------

TIERS = [
    {"up_to": "10000", "amount": "100"},
    {"up_to": "25000.50", "amount": "250"},
    {"up_to": None, "amount": "400"},
]


@pytest.mark.parametrize(
    "price, amount",
    [
        ("0.01", "100.00"),
        ("10000.00", "100.00"),
        ("10000.01", "250.00"),
        ("25000.50", "250.00"),
        ("25000.51", "400.00"),
        ("9999999999.99", "400.00"),
    ],
)
def test_tier_boundaries_are_inclusive(price, amount):
    rule = Tiered()
    r = referral(rule, eur_tiers(TIERS))
    (paid,) = rule.compute(r, sale(Decimal(price)))
    assert paid.amount == Decimal(amount) and paid.currency == "EUR"
    assert rule.compute(r, sale(None, None)) == []


def test_tiers_name_their_currency_and_pay_only_in_it():
    rule = Tiered()
    with pytest.raises(InvalidInput, match="'currency' is missing"):
        rule.validate({"tiers": TIERS})
    r = referral(rule, eur_tiers(TIERS))
    assert rule.compute(r, sale(Decimal("5000"), "JPY")) == []  # 5,000 yen is not 5,000 euros
    assert rule.compute(r, sale(Decimal("5000"), "EUR"))[0].amount == Decimal("100.00")


def test_a_tiered_referral_from_before_currencies_is_paid_as_agreed_in_the_sales():
    rule = Tiered()
    old = Referral("OLD", "amy", None, "tiered", {"tiers": TIERS}, "LFV/2020", "CN-SH")
    (paid,) = rule.compute(old, sale(Decimal("30000"), "USD"))
    assert (paid.amount, paid.currency) == (Decimal("400.00"), "USD")


@st.composite
def tier_lists(draw):
    bounds = sorted(draw(st.sets(money, min_size=0, max_size=5)))
    amounts = draw(st.lists(caps, min_size=len(bounds) + 1, max_size=len(bounds) + 1))
    return [
        {"up_to": None if up_to is None else str(up_to), "amount": str(amount)}
        for up_to, amount in zip([*bounds, None], amounts, strict=True)
    ]


@given(tier_lists())
def test_a_price_equal_to_up_to_is_in_that_tier_and_a_cent_above_is_in_the_next(tiers):
    rule = Tiered()
    r = referral(rule, eur_tiers(tiers))
    for tier, following in pairwise(tiers):
        up_to = Decimal(tier["up_to"])
        assert rule.compute(r, sale(up_to))[0].amount == Decimal(tier["amount"])
        assert rule.compute(r, sale(up_to + CENT))[0].amount == Decimal(following["amount"])


@given(tier_lists(), prices)
def test_tiers_pay_the_first_band_the_price_fits(tiers, price):
    rule = Tiered()
    paid = rule.compute(referral(rule, eur_tiers(tiers)), sale(price))
    fits = [t for t in tiers if t["up_to"] is None or price <= Decimal(t["up_to"])]
    assert [c.amount for c in paid] == [Decimal(fits[0]["amount"])]
    assert_exact(paid, rule)


# ---- two-level -----------------------------------------------------------------------


def test_two_level_pays_level_2_to_the_upline_only_when_there_is_one():
    rule = TwoLevel()
    params = {"percent": "2", "upline_percent": "0.5", "cap": "150", "cap_currency": "EUR"}
    assert rule.compute(referral(rule, params, upline="boss"), sale(Decimal("10000"))) == [
        Commission("amy", Decimal("150.00"), "EUR", 1, "two-level", "2.1"),
        Commission("boss", Decimal("50.00"), "EUR", 2, "two-level", "2.1"),
    ]
    assert [c.level for c in rule.compute(referral(rule, params), sale(Decimal("10")))] == [1]
    assert rule.compute(referral(rule, params, upline="boss"), sale(None, None)) == []


@given(prices, percents, percents, st.one_of(st.none(), caps), st.booleans())
def test_two_level_sums_the_two_capped_shares(price, percent, upline_percent, cap, has_upline):
    rule = TwoLevel()
    params = {"percent": str(percent), "upline_percent": str(upline_percent)}
    if cap is not None:
        params |= {"cap": str(cap), "cap_currency": "EUR"}
    upline = "boss" if has_upline else None
    paid = rule.compute(referral(rule, params, upline=upline), sale(price))

    def share(p: Decimal) -> Decimal:
        return cents(price * p / 100) if cap is None else min(cents(price * p / 100), cap)

    expected = [("amy", 1, share(percent))] + ([("boss", 2, share(upline_percent))] * has_upline)
    assert [(c.beneficiary, c.level, c.amount) for c in paid] == expected
    total = sum((c.amount for c in paid), Decimal(0))
    assert total == sum((e[2] for e in expected), Decimal(0))
    # Each share rounds by at most half a cent, so the two never pay much beyond their rates.
    assert total <= price * (percent + upline_percent * has_upline) / 100 + CENT
    assert cap is None or all(c.amount <= cap for c in paid)
    assert_exact(paid, rule)


def test_two_level_pays_the_selling_dealer_nothing_at_any_level():
    rule = TwoLevel()
    params = {"percent": "2", "upline_percent": "0.5"}
    # "bay" sells the car and is the referrer's upline: only the referrer is paid.
    paid = rule.compute(referral(rule, params, upline="bay"), sale(Decimal("10000")))
    assert [(c.beneficiary, c.level) for c in paid] == [("amy", 1)]


def test_two_level_never_pays_a_referrer_that_is_its_own_upline_twice():
    rule = TwoLevel()
    params = {"percent": "2", "upline_percent": "0.5"}
    paid = rule.compute(referral(rule, params, upline="amy"), sale(Decimal("10000")))
    assert [(c.beneficiary, c.level, c.amount) for c in paid] == [("amy", 1, Decimal("200.00"))]


# ---- caps name their currency ------------------------------------------------------------


@pytest.mark.parametrize("rule", [Percentage(), TwoLevel()], ids=lambda r: r.id)
def test_a_cap_holds_only_in_its_own_currency(rule):
    params = {"percent": "2", "upline_percent": "0.5", "cap": "500", "cap_currency": "EUR"}
    params = {k: v for k, v in params.items() if k in VALID[rule.id]}
    r = referral(rule, params, upline="boss")
    # 2 % of 3,000,000 JPY is 60,000 JPY: a cap of 500 EUR cannot be applied to it, so
    # nothing is paid, rather than 500.00 JPY.
    assert rule.compute(r, sale(Decimal("3000000"), "JPY")) == []
    (first, *_) = rule.compute(r, sale(Decimal("3000000"), "EUR"))
    assert (first.amount, first.currency) == (Decimal("500.00"), "EUR")
    uncapped = referral(rule, {k: v for k, v in params.items() if "cap" not in k}, upline="boss")
    (first, *_) = rule.compute(uncapped, sale(Decimal("3000000"), "JPY"))
    assert (first.amount, first.currency) == (Decimal("60000.00"), "JPY")


@pytest.mark.parametrize("rule", [Percentage(), TwoLevel()], ids=lambda r: r.id)
def test_a_cap_without_its_currency_is_refused(rule):
    valid = VALID[rule.id]
    with pytest.raises(InvalidInput, match="names its currency") as err:
        rule.validate({k: v for k, v in valid.items() if k != "cap_currency"})
    assert err.value.field == "cap_currency"
    with pytest.raises(InvalidInput, match="currency of 'cap'") as err:
        rule.validate({k: v for k, v in valid.items() if k != "cap"})
    assert err.value.field == "cap_currency"
    with pytest.raises(InvalidInput) as err:
        rule.validate(valid | {"cap_currency": "eur"})
    assert err.value.field == "cap_currency"


@pytest.mark.parametrize("rule", [Percentage(), TwoLevel()], ids=lambda r: r.id)
def test_a_stored_cap_without_a_currency_is_applied_to_no_sale(rule):
    stored = {"percent": "2", "upline_percent": "0.5", "cap": "500.00"}  # made by version 1
    r = Referral("OLD-1", "amy", None, rule.id, stored, "LFV/2020", "CN-SH")
    with pytest.raises(InvalidRecord, match="cap_currency") as err:
        rule.compute(r, sale(Decimal("3000000"), "JPY"))
    assert err.value.field == "$.referral_code"


# ---- limited slots -------------------------------------------------------------------


def slots_params(n):
    return {"slots": n, "amount": "100", "currency": "EUR"}


@given(st.integers(min_value=1, max_value=8), st.data())
def test_the_slot_after_the_last_is_refused_and_holders_may_add_codes(slots, data):
    rule = LimitedSlots()
    params = slots_params(slots)
    holders = [f"ref-{n}" for n in range(slots)]
    codes = data.draw(st.lists(st.sampled_from(holders), min_size=0, max_size=10))
    active = [referral(rule, params, who) for who in [*holders, *codes]]
    # Referrals elsewhere do not count against this model and region.
    active += [referral(rule, params, "far", region="US-CA")]
    active += [referral(rule, params, "old", model="WDB/2019")]
    for who in holders:
        rule.admit(referral(rule, params, who), active)
    with pytest.raises(Conflict) as err:
        rule.admit(referral(rule, params, "newcomer"), active)
    assert "LFV/2020" in str(err.value) and "CN-SH" in str(err.value)
    rule.admit(referral(rule, params, "newcomer", region="CN-BJ"), active)
    rule.admit(referral(rule, params, "newcomer", model="LSV/2021"), active)
    freed = [a for a in active if a.referrer != holders[-1]]  # one holder's codes all ended
    rule.admit(referral(rule, params, "newcomer"), freed)


def test_the_first_referral_fixes_the_slots_and_nobody_asks_for_more():
    rule = LimitedSlots()
    active = [referral(rule, slots_params(2), "a"), referral(rule, slots_params(2), "b")]
    with pytest.raises(Conflict, match="all 2 referral slots"):
        rule.admit(referral(rule, slots_params(2), "c"), active)
    for more in (3, 100, 1):  # asking for another number changes nothing
        with pytest.raises(Conflict, match=r'fixed at 2 .* ask for "slots": 2'):
            rule.admit(referral(rule, slots_params(more), "c"), active)
    with pytest.raises(Conflict, match="fixed at 2"):
        rule.admit(referral(rule, slots_params(3), "a"), active)  # not even a holder
    # The first referral in another region fixes that region's own number.
    rule.admit(referral(rule, slots_params(3), "c", region="CN-BJ"), active)


def test_slots_count_only_limited_slots_referrals():
    rule, flat = LimitedSlots(), Flat()
    others = [
        referral(flat, {"amount": "10", "currency": "EUR"}, "x"),
        referral(Percentage(), {"percent": "2"}, "y"),
    ]
    rule.admit(referral(rule, slots_params(1), "a"), others)  # the first one here


def test_referrals_made_before_the_slots_were_fixed_keep_the_smallest_number():
    rule = LimitedSlots()
    active = [referral(rule, slots_params(5), "a"), referral(rule, slots_params(1), "b")]
    with pytest.raises(Conflict, match="fixed at 1"):
        rule.admit(referral(rule, slots_params(5), "c"), active)


def test_limited_slots_pays_like_flat():
    rule = LimitedSlots()
    r = referral(rule, slots_params(3))
    assert r.params == {"slots": 3, "amount": "100.00", "currency": "EUR"}
    assert rule.compute(r, sale(Decimal("5000"))) == [
        Commission("amy", Decimal("100.00"), "EUR", 1, "limited-slots", "1.1")
    ]
    assert rule.compute(r, sale(Decimal("5000"), "USD")) == []
    rule.admit(r, [])


# ---- every rule ------------------------------------------------------------------------

VALID = {
    "flat": {"amount": "10", "currency": "EUR"},
    "percentage": {"percent": "2", "cap": "300", "cap_currency": "EUR"},
    "tiered": eur_tiers(TIERS),
    "two-level": {"percent": "2", "upline_percent": "0.5", "cap": "300", "cap_currency": "EUR"},
    "limited-slots": slots_params(2),
}


@st.composite
def valid_params(draw, rule_id):
    match rule_id:
        case "flat":
            return {"amount": str(draw(money)), "currency": draw(currencies)}
        case "percentage":
            cap = draw(st.one_of(st.none(), caps))
            capped = {} if cap is None else {"cap": str(cap), "cap_currency": draw(currencies)}
            return {"percent": str(draw(percents))} | capped
        case "tiered":
            return {"tiers": draw(tier_lists()), "currency": draw(currencies)}
        case "two-level":
            two = {"percent": str(draw(percents)), "upline_percent": str(draw(percents))}
            return two | {"cap": str(draw(caps)), "cap_currency": draw(currencies)}
        case "limited-slots":
            n = draw(st.integers(min_value=1, max_value=100))
            return {"slots": n, "amount": str(draw(money)), "currency": draw(currencies)}


@given(st.data(), st.sampled_from(RULES), st.one_of(st.none(), prices), currencies)
def test_no_float_ever_appears(data, rule, price, currency):
    params = rule.validate(data.draw(valid_params(rule.id)))
    assert json.loads(json.dumps(params), parse_float=Decimal) == params  # stored as JSON
    assert rule.validate(params) == params  # already canonical
    r = Referral("CODE", "amy", "boss", rule.id, params, "LFV/2020", "CN-SH")
    paid = rule.compute(r, sale(price, None if price is None else currency))
    assert_exact(paid, rule)
    assert not any(isinstance(v, float) for c in paid for v in vars(c).values())


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_missing_and_unknown_parameters_are_refused_by_name(rule):
    valid = VALID[rule.id]
    for name in valid:
        if name == "cap":
            continue
        with pytest.raises(InvalidInput, match=f"'{name}' is missing") as err:
            rule.validate({k: v for k, v in valid.items() if k != name})
        assert err.value.field == name
    with pytest.raises(InvalidInput, match="remove it") as err:
        rule.validate(valid | {"bonus": "1"})
    assert err.value.field == "bonus"
    with pytest.raises(InvalidInput) as err:
        rule.validate(["not", "an", "object"])
    assert err.value.field == "params"


decimal_fields = [
    (rule, name)
    for rule in RULES
    for name in VALID[rule.id]
    if name in {"amount", "percent", "upline_percent", "cap"}
]


@pytest.mark.parametrize(
    "bad",
    [10.5, True, None, [], "", "abc", "1e3", "NaN", "Infinity", "1_000", " 5", "1.23456"],
)
@pytest.mark.parametrize("rule, name", decimal_fields, ids=lambda x: getattr(x, "id", x))
def test_decimal_parameters_of_the_wrong_form_are_refused(rule, name, bad):
    with pytest.raises(InvalidInput, match="decimal string such as") as err:
        rule.validate(VALID[rule.id] | {name: bad})
    assert err.value.field == name


@given(st.data(), st.sampled_from(decimal_fields))
def test_decimal_parameters_out_of_range_are_refused(data, field):
    rule, name = field
    high = st.decimals(min_value=Decimal("50.0001"), max_value=Decimal(999), places=4)
    low = st.decimals(min_value=Decimal(-999), max_value=Decimal(0), places=2)
    value = data.draw(low if name in {"amount", "cap"} else st.one_of(low, high))
    with pytest.raises(InvalidInput, match="must be") as err:
        rule.validate(VALID[rule.id] | {name: str(value)})
    assert err.value.field == name


@pytest.mark.parametrize(
    "rule, params, field",
    [
        (Flat(), {"amount": "1", "currency": "eur"}, "currency"),
        (Flat(), {"amount": "1", "currency": "EURO"}, "currency"),
        (Flat(), {"amount": "1", "currency": 978}, "currency"),
        (Percentage(), {"percent": "50.0001"}, "percent"),
        (Percentage(), {"percent": "2", "cap": "0", "cap_currency": "EUR"}, "cap"),
        (Tiered(), eur_tiers([]), "tiers"),
        (Tiered(), eur_tiers({"up_to": None, "amount": "1"}), "tiers"),
        (Tiered(), eur_tiers([{"up_to": "10", "amount": "1"}]), "tiers[0].up_to"),
        (Tiered(), eur_tiers([{"up_to": None, "amount": "1"}] * 2), "tiers[0].up_to"),
        (Tiered(), eur_tiers([{"up_to": None}]), "tiers[0]"),
        (Tiered(), eur_tiers([{"up_to": None, "amount": "1", "x": 1}]), "tiers[0]"),
        (Tiered(), eur_tiers(["10"]), "tiers[0]"),
        (Tiered(), eur_tiers([{"up_to": "x", "amount": "1"}, TIERS[2]]), "tiers[0].up_to"),
        (Tiered(), eur_tiers([{"up_to": None, "amount": "-1"}]), "tiers[0].amount"),
        (Tiered(), eur_tiers([TIERS[0], TIERS[0], TIERS[2]]), "tiers[1].up_to"),
        (Tiered(), eur_tiers([TIERS[1], TIERS[0], TIERS[2]]), "tiers[1].up_to"),
        (LimitedSlots(), slots_params(0), "slots"),
        (LimitedSlots(), slots_params(101), "slots"),
        (LimitedSlots(), slots_params("3"), "slots"),
        (LimitedSlots(), slots_params(True), "slots"),
        (LimitedSlots(), slots_params(2) | {"currency": "usd"}, "currency"),
    ],
)
def test_other_bad_parameters_are_refused_by_name(rule, params, field):
    with pytest.raises(InvalidInput) as err:
        rule.validate(params)
    assert err.value.field == field
    assert field.split(".")[0].split("[")[0] in str(err.value)


def test_the_module_registers_exactly_the_five_rules():
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(plugins.hookspecs)
    pm.register(commissions, name="plugins.builtin.commissions")
    registry = Registry(pm)
    assert set(registry.rules) == {"flat", "percentage", "tiered", "two-level", "limited-slots"}
    assert {r.id: r.version for r in registry.rules.values()} == {
        "flat": "1.1",
        "percentage": "2.1",
        "tiered": "2.1",
        "two-level": "2.1",
        "limited-slots": "1.1",
    }
    assert {registry.plugin_of(r) for r in registry.rules.values()} == {
        "plugins.builtin.commissions"
    }
    assert registry.failed == {}
