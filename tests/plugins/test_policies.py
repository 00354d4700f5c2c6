"""The built-in warranty and return policies: terms at sale, decisions from facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidRecord
from plugins.builtin.policies import (
    LifetimeReinspection,
    LimitedWarranty,
    PowertrainWarranty,
    SevenDayReturn,
)
from plugins.interfaces import ClaimFacts, PriorClaim, SaleFacts

SOLD = datetime(2026, 6, 1, 15, 30, tzinfo=UTC)
SALE = SaleFacts(vin="1HGCM82633A004352", dealer="bay-auto", sold_at=SOLD, odometer_km=48_000)


def claim(kind="return_request", day=0, km=48_000, component=None, prior=()) -> ClaimFacts:
    filed = SOLD + timedelta(days=day)
    return ClaimFacts(
        kind=kind,
        index=99,
        filed_at=filed,
        component=component,
        days_since_sale=(filed.date() - SOLD.date()).days,
        odometer_km=km,
        km_since_sale=None if km is None else km - SALE.odometer_km,
        prior_claims=list(prior),
    )


def test_return_terms_state_date_and_km():
    terms = SevenDayReturn().terms({"max_km": 300}, SALE)
    assert (terms.starts, terms.ends, terms.km_limit) == ("2026-06-01", "2026-06-08", 48_300)
    assert "7 days" in terms.summary and "300 km" in terms.summary


@given(st.integers(0, 30), st.integers(0, 2_000))
def test_seven_day_return_boundaries(day, driven):
    policy = SevenDayReturn()
    terms = policy.terms({}, SALE)  # 500 km by default
    decision = policy.decide(terms, claim(day=day, km=48_000 + driven))
    assert decision.approved == (day <= 7 and driven <= 500)
    if day == 8:
        assert not decision.approved and "2026-06-08" in decision.reason


def test_a_return_late_in_the_last_day_is_in_time():
    policy = SevenDayReturn()
    terms = policy.terms({}, SALE)
    late = claim(day=7)
    late = ClaimFacts(**{**late.__dict__, "filed_at": datetime(2026, 6, 8, 23, 59, tzinfo=UTC)})
    assert policy.decide(terms, late).approved


def test_a_return_needs_a_reading_and_happens_once():
    policy = SevenDayReturn()
    terms = policy.terms({}, SALE)
    assert "no odometer reading" in policy.decide(terms, claim(km=None)).reason
    done = PriorClaim(
        index=50, kind="return_request", policy="return-7d", component=None, approved=True
    )
    assert not policy.decide(terms, claim(prior=[done])).approved
    assert not policy.decide(terms, claim(day=-1)).approved
    assert not policy.decide(terms, claim(kind="warranty_claim", component="engine")).approved


@pytest.mark.parametrize(
    "params, field",
    [
        ({"max_km": 0}, "params.max_km"),
        ({"max_km": "500"}, "params.max_km"),
        ({"max_km": True}, "params.max_km"),
        ({"days": 7}, "params.days"),
    ],
)
def test_bad_parameters_are_refused_by_name(params, field):
    with pytest.raises(InvalidRecord) as err:
        SevenDayReturn().terms(params, SALE)
    assert err.value.field == field


def test_km_limited_policies_need_the_sale_reading():
    unread = SaleFacts(vin=SALE.vin, dealer="d", sold_at=SOLD, odometer_km=None)
    for policy in (SevenDayReturn(), LimitedWarranty()):
        with pytest.raises(InvalidRecord) as err:
            policy.terms({}, unread)
        assert err.value.field == "odometer_km"
    assert PowertrainWarranty().terms({}, unread).km_limit is None


@given(st.integers(0, 60), st.sampled_from(["engine", "transmission", "brakes", "paint"]))
def test_powertrain_covers_engine_and_transmission_for_30_days(day, component):
    policy = PowertrainWarranty()
    terms = policy.terms({}, SALE)
    decision = policy.decide(terms, claim("warranty_claim", day, 49_000, component))
    assert decision.approved == (day <= 30 and component in ("engine", "transmission"))
    assert decision.reason


@given(st.integers(0, 120), st.integers(0, 9_000))
def test_limited_warranty_ends_at_90_days_or_4000_miles(day, driven):
    policy = LimitedWarranty()
    terms = policy.terms({}, SALE)
    assert terms.km_limit == 48_000 + 6_437  # 4,000 miles
    decision = policy.decide(terms, claim("warranty_claim", day, 48_000 + driven, "brakes"))
    assert decision.approved == (day <= 90 and driven <= 6_437)


def test_lifetime_reinspection_never_ends():
    policy = LifetimeReinspection()
    terms = policy.terms({}, SALE)
    assert terms.ends is None and terms.km_limit is None
    assert policy.decide(terms, claim("warranty_claim", 4_000, 300_000, "reinspection")).approved
    assert not policy.decide(terms, claim("warranty_claim", 1, 48_010, "engine")).approved


def test_lifetime_reinspection_starts_at_the_sale():
    policy = LifetimeReinspection()
    years_before = claim("warranty_claim", -3 * 365, 40_000, "reinspection")
    decision = policy.decide(policy.terms({}, SALE), years_before)
    assert not decision.approved and "before the sale" in decision.reason


@pytest.mark.parametrize(
    "policy, kind, component",
    [
        (SevenDayReturn(), "return_request", None),
        (LimitedWarranty(), "warranty_claim", "brakes"),
    ],
)
def test_the_km_limit_is_the_last_reading_covered(policy, kind, component):
    """As ``Terms`` states it: like ``ends``, ``km_limit`` is still covered."""
    terms = policy.terms({}, SALE)
    assert policy.decide(terms, claim(kind, 1, terms.km_limit, component)).approved
    over = policy.decide(terms, claim(kind, 1, terms.km_limit + 1, component))
    assert not over.approved and f"up to {terms.km_limit:,} km" in over.reason


@pytest.mark.parametrize("policy", [SevenDayReturn(), PowertrainWarranty(), LimitedWarranty()])
def test_a_term_past_the_calendars_end_is_refused_naming_the_sale_date(policy):
    late = SaleFacts(
        vin=SALE.vin,
        dealer="d",
        sold_at=datetime(9999, 12, 28, 10, tzinfo=UTC),
        odometer_km=48_000,
    )
    with pytest.raises(InvalidRecord) as err:
        policy.terms({}, late)
    assert err.value.field == "occurred_at" and "9999-12-28" in err.value.detail
    assert LifetimeReinspection().terms({}, late).ends is None
