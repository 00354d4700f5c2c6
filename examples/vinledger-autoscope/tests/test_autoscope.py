"""AutoScope's report and policy on their own: normalisation, refusals, decisions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import msgspec
import pluggy
import pytest
import vinledger_autoscope
from vinledger_autoscope.reinspection import FreeReinspection
from vinledger_autoscope.report import AutoScopeReport, grade

from core.errors import InvalidRecord, InvalidVIN
from core.records import Inspection, parse_record
from plugins import hookspecs
from plugins.interfaces import ClaimFacts, PriorClaim, SaleFacts
from plugins.registry import Registry

VIN = "1HGCM82633A004352"


def report(**changes) -> dict:
    rep = {
        "ref": "AS-2026-004187",
        "vin": VIN,
        "date": "2026-05-04T09:30:00Z",
        "km": 48_210,
        "inspector": "AS-117",
        "score": 82,
        "checks": {
            "frame": "ok",
            "water": False,
            "fire": False,
            "airbags": "ok",
            "paint": [
                {"panel": "hood", "microns": 118},
                {"panel": "front-left-door", "microns": 240},
            ],
        },
    }
    rep.update(changes)
    return rep


def checks(**changes) -> dict:
    return {**report()["checks"], **changes}


def normalise(rep: dict) -> dict:
    return AutoScopeReport().normalise(json.dumps(rep).encode())


def test_a_report_becomes_a_valid_inspection_record():
    record = normalise(report())
    assert record == {
        "kind": "inspection",
        "vin": VIN,
        "occurred_at": "2026-05-04T09:30:00Z",
        "odometer_km": 48_210,
        "provider": "AutoScope",
        "inspector": "AS-117",
        "grade": "B",
        "items": [
            {"code": "frame", "result": "ok"},
            {"code": "flood", "result": "ok"},
            {"code": "fire", "result": "ok"},
            {"code": "airbags", "result": "ok"},
            {"code": "paint-hood", "result": "ok", "note": "118 µm"},
            {"code": "paint-front-left-door", "result": "minor", "note": "240 µm: resprayed"},
        ],
        "flags": dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False),
    }
    # vinledger's own schema accepts it as it stands.
    assert isinstance(parse_record(msgspec.json.encode(record)), Inspection)


def test_damage_sets_the_flags():
    rep = report(
        score=31,
        checks=checks(
            frame="damage",
            water=True,
            airbags="deployed",
            paint=[{"panel": "roof", "microns": 420}],
        ),
    )
    record = normalise(rep)
    assert record["grade"] == "D"
    assert record["flags"] == {
        "accident": True,
        "flood": True,
        "fire": False,
        "structural": True,
        "airbag": True,
    }
    results = {item["code"]: item["result"] for item in record["items"]}
    assert results == {
        "frame": "fail",
        "flood": "fail",
        "fire": "ok",
        "airbags": "fail",
        "paint-roof": "major",
    }


def test_body_filler_alone_counts_as_an_earlier_accident():
    record = normalise(report(checks=checks(paint=[{"panel": "trunk", "microns": 301}])))
    assert record["flags"]["accident"] is True and record["flags"]["structural"] is False


@pytest.mark.parametrize(
    "score, letter", [(100, "A"), (85, "A"), (84, "B"), (70, "B"), (69, "C"), (50, "C"), (49, "D")]
)
def test_grades(score, letter):
    assert grade(score) == letter


@pytest.mark.parametrize(
    "payload, field, words",
    [
        (b"not json", "$", "not UTF-8 JSON"),
        (b"[1, 2]", "$", "JSON object"),
        (b'{"km": 1, "km": 2}', "$.km", "twice"),
        (json.dumps({**report(), "colour": "red"}).encode(), "$.colour", "unknown field"),
        (json.dumps({k: v for k, v in report().items() if k != "km"}).encode(), "$.km", "missing"),
        (json.dumps(report(ref="4187")).encode(), "$.ref", "AS-2026-004187"),
        (json.dumps(report(date="2026-05-04T11:30:00+02:00")).encode(), "$.date", "UTC"),
        (json.dumps(report(date="2026-02-30T09:30:00Z")).encode(), "$.date", "real date"),
        (json.dumps(report(km=-5)).encode(), "$.km", "whole number"),
        (json.dumps(report(km=48_210.5)).encode(), "$.km", "whole number"),
        (json.dumps(report(score=101)).encode(), "$.score", "0 to 100"),
        (json.dumps(report(score=True)).encode(), "$.score", "whole number"),
        (json.dumps(report(inspector="")).encode(), "$.inspector", "technician"),
        (json.dumps(report(checks=[])).encode(), "$.checks", "JSON object"),
        (json.dumps(report(checks=checks(frame="bent"))).encode(), "$.checks.frame", "'damage'"),
        (json.dumps(report(checks=checks(water="no"))).encode(), "$.checks.water", "true or"),
        (
            json.dumps(report(checks=checks(paint=[{"panel": "wing", "microns": 100}]))).encode(),
            "$.checks.paint[0].panel",
            "unknown panel",
        ),
        (
            json.dumps(
                report(
                    checks=checks(
                        paint=[{"panel": "hood", "microns": 100}, {"panel": "hood", "microns": 90}]
                    )
                )
            ).encode(),
            "$.checks.paint[1].panel",
            "twice",
        ),
        (
            json.dumps(report(checks=checks(paint=[{"panel": "hood", "microns": 5}]))).encode(),
            "$.checks.paint[0].microns",
            "20 to 2,000",
        ),
        (
            json.dumps(report(score=82, checks=checks(fire=True))).encode(),
            "$.score",
            "fire damage",
        ),
    ],
)
def test_refusals_name_the_field(payload, field, words):
    with pytest.raises(InvalidRecord) as err:
        AutoScopeReport().normalise(payload)
    assert err.value.field == field and words in err.value.detail


@pytest.mark.parametrize("panel", [["hood"], {"name": "hood"}, 7, None])
def test_a_panel_that_is_not_a_name_is_refused_not_a_plugin_failure(panel):
    payload = json.dumps(report(checks=checks(paint=[{"panel": panel, "microns": 118}])))
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(hookspecs)
    pm.register(vinledger_autoscope, name="autoscope")
    registry = Registry(pm)
    provider = registry.provider(AutoScopeReport.payload_type)
    with pytest.raises(InvalidRecord) as err:  # through the ledger's guard: a 422, not a 500
        registry.call(provider, "normalise", payload.encode())
    assert err.value.status == 422 and err.value.field == "$.checks.paint[0].panel"
    assert "unknown panel" in err.value.detail


def test_a_bad_vin_is_refused_at_the_report_field():
    with pytest.raises(InvalidVIN) as err:
        normalise(report(vin="1HGCM82633A00435X"))
    assert err.value.field == "$.vin" and err.value.status == 422


# ---- the re-inspection policy -------------------------------------------------------------

SOLD = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


def claim(day: int, component: str = "reinspection", prior=()) -> ClaimFacts:
    return ClaimFacts(
        kind="warranty_claim",
        index=40,
        filed_at=SOLD + timedelta(days=day),
        component=component,
        days_since_sale=day,
        odometer_km=None,
        km_since_sale=None,
        prior_claims=list(prior),
    )


def test_terms_are_14_days_from_the_sale():
    terms = FreeReinspection().terms({}, SaleFacts(VIN, "bay-auto", SOLD, None))
    assert (terms.policy, terms.version, terms.kind) == (
        "autoscope-reinspection-14d",
        "1",
        "reinspection",
    )
    assert (terms.starts, terms.ends, terms.km_limit) == ("2026-06-01", "2026-06-15", None)
    assert terms.components == ["reinspection"]


def test_days_are_the_ledgers_days_not_utcs():
    # 20:00 UTC on 20 November is 05:00 on 21 November in Tokyo: the sale's day there.
    sold = datetime(2026, 11, 20, 20, 0, tzinfo=UTC)
    policy = FreeReinspection()
    terms = policy.terms({}, SaleFacts(VIN, "bay-auto", sold, None, time_zone="Asia/Tokyo"))
    assert (terms.starts, terms.ends, terms.time_zone) == ("2026-11-21", "2026-12-05", "Asia/Tokyo")
    # 5 December, 20:00 UTC is 6 December in Tokyo: past the last day, though UTC's
    # calendar still reads the 5th.
    late = ClaimFacts(
        kind="warranty_claim",
        index=40,
        filed_at=datetime(2026, 12, 5, 20, 0, tzinfo=UTC),
        component="reinspection",
        days_since_sale=15,
        odometer_km=None,
        km_since_sale=None,
    )
    assert policy.decide(terms, late).approved is False


def test_the_policy_takes_no_parameters():
    with pytest.raises(InvalidRecord) as err:
        FreeReinspection().terms({"days": 30}, SaleFacts(VIN, "bay-auto", SOLD, None))
    assert err.value.field == "params.days"


@pytest.mark.parametrize(
    "facts, approved, words",
    [
        (claim(0), True, "day 0"),
        (claim(14), True, "day 14"),
        (claim(15), False, "ended on 2026-06-15"),
        (claim(3, component="engine"), False, "re-inspections only"),
        (
            claim(
                5,
                prior=[
                    PriorClaim(
                        41, "warranty_claim", "autoscope-reinspection-14d", "reinspection", True
                    )
                ],
            ),
            False,
            "already used",
        ),
        (
            claim(
                5,
                prior=[
                    PriorClaim(41, "warranty_claim", "reinspection-lifetime", "reinspection", True)
                ],
            ),
            True,
            "day 5",
        ),
    ],
)
def test_decisions(facts, approved, words):
    policy = FreeReinspection()
    terms = policy.terms({}, SaleFacts(VIN, "bay-auto", SOLD, None))
    decision = policy.decide(terms, facts)
    assert decision.approved is approved and words in decision.reason


# ---- the package as a plugin ------------------------------------------------------------


def test_the_package_registers_its_provider_and_policy():
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(hookspecs)
    pm.register(vinledger_autoscope, name="autoscope")
    registry = Registry(pm)
    provider = registry.provider("application/vnd.autoscope.report+json")
    assert isinstance(provider, AutoScopeReport) and registry.plugin_of(provider) == "autoscope"
    assert list(registry.policies) == ["autoscope-reinspection-14d"]
    assert registry.failed == {}
