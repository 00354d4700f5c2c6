"""What an insurance claim tells a buyer, whatever its cause: every cause alerts, hail,
vandalism and other claims as badly as their severity, a theft as medium, and the
alerts older views gave (collision, flood, fire) stay exactly as they were."""

from __future__ import annotations

import pytest

from core.history import analyse
from ledger.bundle import build_bundle
from ledger.verify import compare_view, verify_bundle
from tests.conftest import VIN, onboard

SEVERITIES = ("minor", "moderate", "severe")
BY_SEVERITY = {"minor": "low", "moderate": "medium", "severe": "high"}


def claim(cause: str, severity: str, **extra) -> dict:
    return {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-04-01T00:00:00Z",
        "claim_ref": "HM-1",
        "cause": cause,
        "severity": severity,
        **extra,
    }


def alerts_of(*records: dict) -> list[dict]:
    items = [
        {"index": 10 + i, "kind": r["kind"], "signer": {"id": "harbor"}, "record": r}
        for i, r in enumerate(records)
    ]
    return analyse(items)["alerts"]


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize(
    "cause, kind, level, facts",
    [
        ("hail", "hail_damage", BY_SEVERITY, {"flag": "hail"}),
        ("vandalism", "vandalism_damage", BY_SEVERITY, {"flag": "vandalism"}),
        ("theft", "theft", dict.fromkeys(SEVERITIES, "medium"), {}),
        ("other", "other_claim", BY_SEVERITY, {}),
    ],
)
def test_every_cause_reaches_the_buyer(cause, kind, level, facts, severity):
    (found,) = alerts_of(claim(cause, severity))
    assert found["type"] == kind
    assert found["severity"] == level[severity]
    assert found["facts"] == {**facts, "severity": severity}
    assert found["entries"] == [10] and not found["disputed"]
    assert "entry 10" in found["message"] and severity in found["message"]


def test_a_theft_says_the_car_was_stolen_and_recovered():
    (found,) = alerts_of(claim("theft", "minor"))
    assert "stolen and recovered" in found["message"]


def test_a_claims_flags_still_alert_beside_its_cause():
    found = alerts_of(claim("hail", "severe", total_loss=True, structural=True))
    assert [a["type"] for a in found] == ["hail_damage", "structural_damage", "total_loss"]


@pytest.mark.parametrize(
    "record, expected",
    [
        (
            claim("collision", "minor"),
            ("accident", "medium", "minor collision reported by an insurer, entry 10"),
        ),
        (
            claim("collision", "moderate"),
            ("accident", "medium", "moderate collision reported by an insurer, entry 10"),
        ),
        (
            claim("collision", "severe"),
            ("accident", "high", "severe collision reported by an insurer, entry 10"),
        ),
        (
            {k: v for k, v in claim("collision", "moderate").items() if k != "cause"},
            ("accident", "medium", "moderate collision reported by an insurer, entry 10"),
        ),
        (
            claim("flood", "minor"),
            ("flood_damage", "high", "insurance claim for flood damage, entry 10"),
        ),
        (
            claim("fire", "severe"),
            ("fire_damage", "high", "insurance claim for fire damage, entry 10"),
        ),
    ],
)
def test_collision_flood_and_fire_alert_as_before(record, expected):
    (found,) = alerts_of(record)
    assert (found["type"], found["severity"], found["message"]) == expected
    if found["type"] == "accident":
        assert found["facts"] == {"severity": record["severity"]}
    else:
        assert found["facts"] == {"flag": record["cause"]}


def test_the_verifier_recomputes_the_claims_alerts(ledger):
    insurer = onboard(ledger, "harbor", "insurer")
    causes = ("hail", "vandalism", "theft", "other", "collision")
    outs = ledger.submit_now(
        [
            insurer.envelope(
                {
                    **claim(cause, "severe"),
                    "occurred_at": f"2026-04-{day:02d}T00:00:00Z",
                    "claim_ref": f"HM-{day}",  # five claims, each logged once
                }
            )
            for day, cause in enumerate(causes, start=1)
        ]
    )
    assert all(not isinstance(o, Exception) for o in outs), outs
    served = ledger.history(VIN)["view"]
    assert [a["type"] for a in served["alerts"]] == [
        "hail_damage",
        "vandalism_damage",
        "theft",
        "other_claim",
        "accident",
    ]
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    assert report.ok
    compare_view(report, served)
    assert report.ok and report.findings[-1].check == "view"
    assert "5 alerts" in report.findings[-1].detail

    # A server that leaves the theft out is caught.
    hiding = {**served, "alerts": [a for a in served["alerts"] if a["type"] != "theft"]}
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    compare_view(report, hiding)
    assert not report.ok and report.failures[0].check == "view"


def test_a_claim_of_a_cause_this_release_does_not_know_still_raises_an_alert():
    """A later release may add a cause; a buyer must not read "No problems reported"."""
    from core.history import _cause_alert

    found = _cause_alert({"cause": "meteorite", "severity": "severe"}, 12)
    assert found["type"] == "other_claim" and found["severity"] == "high"
