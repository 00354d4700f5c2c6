"""A correction that drops a claim's damage areas withdraws a finding, and the alert
names only the corrections that withdrew what it says, not every correction of the
entry."""

from __future__ import annotations

from core.history import analyse

VIN = "1HGCM82633A004352"


def item(index: int, kind: str, signer: str, when: str, **record) -> dict:
    record = {"kind": kind, "vin": VIN, "occurred_at": when, **record}
    return {"index": index, "kind": kind, "signer": {"id": signer}, "record": record}


def claim(index=20, **more) -> dict:
    fields = {"claim_ref": "HM-1", "severity": "moderate", "areas": ["front", "left"], **more}
    return item(index, "insurance_claim", "harbor-mutual", "2026-06-01T09:00:00Z", **fields)


def fix(index: int, corrects: int, fields: dict, signer="harbor-mutual") -> dict:
    when = f"2026-06-{index - 10:02d}T09:00:00Z"
    return item(index, "correction", signer, when, corrects=corrects, reason="x", fields=fields)


def withdrawn_of(view: dict) -> list[dict]:
    return [a for a in view["alerts"] if a["type"] == "finding_withdrawn"]


def test_damage_areas_corrected_away_are_a_withdrawn_finding():
    (alert,) = withdrawn_of(analyse([claim(), fix(21, 20, {"areas": []})]))
    assert alert["severity"] == "medium" and alert["entries"] == [20, 21]
    assert alert["facts"]["withdrawn"] == [
        {"field": "areas.front", "from": True, "to": None},
        {"field": "areas.left", "from": True, "to": None},
    ]
    assert "damage to the front area; damage to the left area" in alert["message"]


def test_one_area_dropped_is_withdrawn_and_one_added_is_not():
    (alert,) = withdrawn_of(analyse([claim(), fix(21, 20, {"areas": ["front", "rear"]})]))
    assert alert["facts"]["withdrawn"] == [{"field": "areas.left", "from": True, "to": None}]
    assert withdrawn_of(analyse([claim(), fix(21, 20, {"areas": ["front", "left", "roof"]})])) == []


def test_only_the_correction_that_withdrew_the_finding_is_named():
    history = [
        claim(areas=[]),
        fix(29, 20, {"claim_ref": "HM-2"}),
        fix(30, 20, {"severity": "severe"}),
        fix(40, 20, {"severity": "minor"}, signer="operator"),
    ]
    (alert,) = withdrawn_of(analyse(history))
    assert alert["facts"]["corrections"] == [40] and alert["facts"]["by"] == ["operator"]
    assert alert["entries"] == [20, 40]
    assert "a correction by operator (entry 40) withdrew" in alert["message"]


def test_every_correction_that_lowered_a_finding_in_turn_is_named():
    history = [
        claim(severity="severe", areas=[]),
        fix(29, 20, {"severity": "moderate"}),
        fix(30, 20, {"claim_ref": "HM-2"}),
        fix(31, 20, {"severity": "minor"}),
    ]
    (alert,) = withdrawn_of(analyse(history))
    assert alert["facts"]["corrections"] == [29, 31]
