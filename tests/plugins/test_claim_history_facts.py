"""plugins/claim_facts.py: a policy sees the VIN's title brands, damage reports and
odometer rollbacks as the history view reads them at the claim, each with its entry
and date, so "void if the car is flood-branded or its odometer rolled back after the
sale" can be written. The built-in policies decide as they did: their stated terms
exclude damage *from* an accident, flood or fire, which a report does not establish.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import ClassVar

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import create_app
from plugins.builtin.policies import LimitedWarranty, PowertrainWarranty
from plugins.hookspecs import hookimpl
from plugins.interfaces import (
    ClaimFacts,
    DamageReport,
    Decision,
    OdometerRollback,
    Policy,
    SaleFacts,
    TitleBrand,
)
from tests.conftest import VIN, inspection, onboard, with_plugin
from tests.plugins.test_claims_filing import admin, post, sale, warranty

FLAGS_OFF = dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FloodVoid(Policy):
    """A third party's engine warranty, void once the car is flood- or salvage-branded,
    reported flooded or burnt, or its odometer rolled back, after the sale."""

    id = "engine-flood-void"
    version = "1"
    kind = "warranty"
    seen: ClassVar[list[ClaimFacts]] = []

    def terms(self, params, sale):
        start = sale.sold_at.date()
        return msgspec.structs.replace(
            PowertrainWarranty().terms(params, sale),
            policy=self.id,
            version=self.version,
            components=["engine"],
            ends=(start + timedelta(days=30)).isoformat(),
            exclusions=["all cover, once a flood, fire, brand or rollback is on record"],
            summary="Engine repairs for 30 days, void after a flood, fire or rollback.",
        )

    def decide(self, terms, claim):
        self.seen.append(claim)
        since = claim.sold_at
        voiding = [
            *(f"title branded {b.brand}" for b in claim.title_brands if b.occurred_at >= since),
            *(
                f"{d.flag} reported (entry {d.index})"
                for d in claim.damage
                if d.flag in ("flood", "fire") and d.occurred_at >= since
            ),
            *(
                f"odometer rolled back (entry {r.index})"
                for r in claim.odometer_rollbacks
                if r.occurred_at >= since
            ),
        ]
        if voiding:
            return Decision(False, "void since the sale: " + "; ".join(voiding))
        return Decision(True, "engine covered")


class Plugin:
    @hookimpl
    def register_policies(self):
        return [FloodVoid()]


@pytest.fixture
def ledger(sqlite_ledger):
    FloodVoid.seen = []
    return with_plugin(sqlite_ledger, Plugin(), "flood-void-plugin")


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


@pytest.fixture
def history(client, ledger):
    """A car with an accident before the sale; after it, a flood (an insurer's claim
    and a flood brand) and an inspection reading 8,000 km below the sale's, with its
    airbag flagged. Answers the indexes and the dealer."""
    inspector = onboard(ledger, "acme", "inspector")
    insurer = onboard(ledger, "shield", "insurer")
    dealer = onboard(ledger, "bay-auto", "dealer")
    at = {}
    before = inspection(km=47_000, flags={**FLAGS_OFF, "accident": True})  # 2026-05-04
    at["accident"] = post(client, inspector, before).json()["index"]
    policies = [{"id": "engine-flood-void"}, {"id": "powertrain-30d"}]
    at["sale"] = post(client, dealer, sale(policies)).json()["index"]
    flood = {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-06-02T08:00:00Z",
        "claim_ref": "SH-1",
        "cause": "flood",
        "severity": "moderate",
        "structural": True,
    }
    at["flood"] = post(client, insurer, flood).json()["index"]
    brand = {
        "kind": "title_brand",
        "vin": VIN,
        "occurred_at": "2026-06-02T12:00:00Z",
        "brand": "flood",
        "jurisdiction": "US-TX",
    }
    at["brand"] = post(client, insurer, brand).json()["index"]
    lowered = {
        **inspection(km=40_000, flags={**FLAGS_OFF, "airbag": True}),
        "occurred_at": "2026-06-03T08:00:00Z",
    }
    at["lowered"] = post(client, inspector, lowered).json()["index"]
    assert all(isinstance(i, int) for i in at.values())
    return at, dealer


def claim(at, policy="engine-flood-void", when="2026-06-04T09:00:00Z"):
    return warranty(at["sale"], when, km=48_100, policy=policy)


def test_the_facts_carry_brands_damage_and_rollbacks_with_entry_and_date(client, history):
    at, dealer = history
    r = post(client, dealer, claim(at))
    assert r.status_code == 201, r.text
    (facts,) = FloodVoid.seen
    assert (facts.sale_index, facts.sold_at) == (at["sale"], utc("2026-06-01T10:00:00Z"))
    assert facts.title_brands == [TitleBrand("flood", at["brand"], utc("2026-06-02T12:00:00Z"))]
    assert facts.damage == [
        DamageReport("accident", at["accident"], utc("2026-05-04T09:30:00Z"), "inspection"),
        DamageReport("flood", at["flood"], utc("2026-06-02T08:00:00Z"), "insurance_claim"),
        DamageReport("structural", at["flood"], utc("2026-06-02T08:00:00Z"), "insurance_claim"),
        DamageReport("airbag", at["lowered"], utc("2026-06-03T08:00:00Z"), "inspection"),
    ]
    assert facts.odometer_rollbacks == [
        OdometerRollback(at["lowered"], utc("2026-06-03T08:00:00Z"), at["sale"], 48_000, 40_000)
    ]
    # The rollback is there although the kilometres since the sale look plausible.
    assert facts.km_since_sale == 100


def test_a_policy_can_void_its_cover_on_what_happened_since_the_sale(client, history):
    at, dealer = history
    assert post(client, dealer, claim(at)).status_code == 201
    decision = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]["record"]
    assert decision["approved"] is False
    assert "title branded flood" in decision["reason"]
    assert f"flood reported (entry {at['flood']})" in decision["reason"]
    assert f"odometer rolled back (entry {at['lowered']})" in decision["reason"]
    assert "accident" not in decision["reason"]  # before the sale: not this policy's concern


def test_a_disputed_report_is_left_out(client, ledger, history):
    at, dealer = history
    for index in (at["brand"], at["flood"], at["lowered"]):
        dispute = {
            "kind": "dispute",
            "vin": VIN,
            "occurred_at": "2026-06-03T12:00:00Z",
            "disputes": index,
            "reason": "the insurer and the inspector had the wrong car",
        }
        admin(client, ledger, dispute)
    assert post(client, dealer, claim(at)).status_code == 201
    (facts,) = FloodVoid.seen
    assert facts.title_brands == [] and facts.odometer_rollbacks == []
    assert [d.flag for d in facts.damage] == ["accident"]


@pytest.mark.parametrize("disputed_at", ["2026-06-03T12:00:00Z", "2026-06-04T11:00:00Z"])
def test_a_dispute_logged_before_the_claim_counts_whatever_its_date(
    client, ledger, history, disputed_at
):
    # Disputes dated after the claim's date but logged before it: the filer must not
    # choose, by the date it gives its claim, whether the disputed brand is a fact.
    at, dealer = history
    for index in (at["brand"], at["flood"], at["lowered"]):
        dispute = {
            "kind": "dispute",
            "vin": VIN,
            "occurred_at": disputed_at,
            "disputes": index,
            "reason": "wrong car",
        }
        admin(client, ledger, dispute)
    assert post(client, dealer, claim(at, when="2026-06-04T09:00:00Z")).status_code == 201
    (facts,) = FloodVoid.seen
    assert facts.title_brands == [] and facts.odometer_rollbacks == []
    assert [d.flag for d in facts.damage] == ["accident"]


def test_the_facts_are_the_history_as_of_the_claims_date(client, ledger, history):
    """A brand logged before the claim but dated after it is not a fact at the claim."""
    at, dealer = history
    insurer = onboard(ledger, "shield-2", "insurer")
    later = {
        "kind": "title_brand",
        "vin": VIN,
        "occurred_at": "2026-06-04T10:00:00Z",
        "brand": "salvage",
        "jurisdiction": "US-TX",
    }
    assert post(client, insurer, later).status_code == 201
    assert post(client, dealer, claim(at, when="2026-06-04T09:00:00Z")).status_code == 201
    (facts,) = FloodVoid.seen
    assert [b.brand for b in facts.title_brands] == ["flood"]


def test_the_built_in_powertrain_warranty_decides_as_before(client, history):
    at, dealer = history
    r = post(client, dealer, claim(at, policy="powertrain-30d"))
    assert r.status_code == 201, r.text
    decision = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]["record"]
    assert decision["policy"] == "powertrain-30d" and decision["approved"] is True


@pytest.mark.parametrize("policy", [PowertrainWarranty(), LimitedWarranty()])
def test_built_in_warranties_ignore_the_new_facts(policy):
    sale_facts = SaleFacts(VIN, "bay-auto", utc("2026-06-01T10:00:00Z"), 48_000)
    terms = policy.terms({}, sale_facts)
    plain = ClaimFacts(
        kind="warranty_claim",
        index=9,
        filed_at=utc("2026-06-04T09:00:00Z"),
        component="engine",
        days_since_sale=3,
        odometer_km=48_100,
        km_since_sale=100,
    )  # as a plugin written before these facts builds them: the defaults are empty
    assert (plain.title_brands, plain.damage, plain.odometer_rollbacks) == ([], [], [])
    flooded = dataclasses.replace(
        plain,
        sold_at=sale_facts.sold_at,
        title_brands=[TitleBrand("flood", 5, utc("2026-06-02T12:00:00Z"))],
        damage=[DamageReport("flood", 4, utc("2026-06-02T08:00:00Z"), "insurance_claim")],
        odometer_rollbacks=[OdometerRollback(6, utc("2026-06-03T08:00:00Z"), 2, 48_000, 40_000)],
    )
    assert policy.decide(terms, flooded) == policy.decide(terms, plain)
