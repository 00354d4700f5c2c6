"""The offline verifiers check what a vehicle record references, as the sequencer does.

A dealer records only its own sales; a correction (by the corrected entry's signer or
the operator), a dispute and a complaint name an earlier entry of the same VIN, which
a bundle therefore holds. Each defect is one such rule broken in an otherwise valid,
hand-made bundle; tests/api/test_browser.py feeds the same bundles to verify.js.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest

from core.keys import generate_private_key
from ledger.verify import verify_bundle_bytes
from tests.conftest import VIN, inspection
from tests.ledger.test_verify_trust import (
    ACME,
    BY_OPERATOR,
    GENESIS,
    LOG,
    ONBOARD,
    actor,
    grant,
    make_bundle,
)

BRAVO = generate_private_key()
LOTUS = generate_private_key()
ORBIT = generate_private_key()
AT = "2026-06-01T10:00:00Z"

PARTIES = [
    *GENESIS,
    *ONBOARD,  # acme, inspector: entries 2, 3
    (actor("bravo", "inspector"), *BY_OPERATOR),
    (grant("bravo", BRAVO), *BY_OPERATOR),
    (actor("lotus", "dealer"), *BY_OPERATOR),
    (grant("lotus", LOTUS), *BY_OPERATOR),
    (actor("orbit", "dealer"), *BY_OPERATOR),
    (grant("orbit", ORBIT), *BY_OPERATOR),
]
FIRST = len(PARTIES)  # the index of the first vehicle entry
INSPECTION = (inspection(km=48_000), ACME, "acme")


def vehicle(kind: str, **fields) -> dict:
    return {"kind": kind, "vin": VIN, "occurred_at": AT, **fields}


def sale(dealer: str) -> dict:
    return vehicle("sale", odometer_km=48_100, dealer=dealer)


TERMS = {"derived": {"terms": [{"policy": "return-7d", "kind": "return", "ends": "2026-06-08"}]}}


def claim(sale_index: int, policy: str = "return-7d") -> dict:
    return vehicle("return_request", sale=sale_index, policy=policy)


def decision(claim_index: int, sale_index: int, policy: str = "return-7d") -> dict:
    return vehicle(
        "claim_decision",
        claim=claim_index,
        sale=sale_index,
        policy=policy,
        policy_version="1",
        approved=True,
        reason="within 7 days",
        days_since_sale=2,
    )


def correction(corrects: int) -> dict:
    return vehicle("correction", corrects=corrects, reason="typo", fields={"odometer_km": 48_001})


class Defect(NamedTuple):
    items: list
    index: int  # the entry the failed "signature" finding must name
    says: str


DEFECTS = {
    "a-sale-naming-another-dealer": Defect(
        [*PARTIES, INSPECTION, (sale("bay-auto"), LOTUS, "lotus")], FIRST + 1, "names dealer"
    ),
    "a-correction-by-another-partner": Defect(
        [*PARTIES, INSPECTION, (correction(FIRST), BRAVO, "bravo")], FIRST + 1, "only that signer"
    ),
    "a-correction-of-no-entry-of-this-vin": Defect(
        [*PARTIES, INSPECTION, (correction(3), ACME, "acme")], FIRST + 1, "no earlier entry"
    ),
    "a-dispute-of-a-later-entry": Defect(
        [
            *PARTIES,
            INSPECTION,
            (vehicle("dispute", disputes=FIRST + 2, reason="doubtful"), *BY_OPERATOR),
            (inspection(km=48_500, day=9), ACME, "acme"),
        ],
        FIRST + 1,
        "no earlier entry",
    ),
    "a-correction-of-nothing": Defect(
        [*PARTIES, INSPECTION, ({**correction(FIRST), "corrects": None}, ACME, "acme")],
        FIRST + 1,
        "corrects",
    ),
    "a-dispute-without-its-entry": Defect(
        [
            *PARTIES,
            INSPECTION,
            ({"kind": "dispute", "vin": VIN, "occurred_at": AT, "reason": "x"}, *BY_OPERATOR),
        ],
        FIRST + 1,
        "disputes",
    ),
    "a-complaint-naming-another-dealers-sale": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus"),
            (vehicle("complaint", dealer="orbit", sale=FIRST + 1, summary="x"), *BY_OPERATOR),
        ],
        FIRST + 2,
        "is not a sale by 'orbit'",
    ),
    "a-claim-on-an-inspection": Defect(
        [*PARTIES, INSPECTION, (claim(FIRST), LOTUS, "lotus")], FIRST + 1, "is not a sale"
    ),
    "a-claim-on-another-dealers-sale": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            (claim(FIRST + 1), ORBIT, "orbit"),
        ],
        FIRST + 2,
        "only on its own sales",
    ),
    "a-claim-on-a-policy-the-sale-lacks": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            (claim(FIRST + 1, "powertrain-30d"), LOTUS, "lotus"),
        ],
        FIRST + 2,
        "carries no policy 'powertrain-30d'",
    ),
    "a-decision-of-an-entry-that-is-no-claim": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            (claim(FIRST + 1), LOTUS, "lotus"),
            (decision(FIRST + 1, FIRST + 1), *BY_OPERATOR),
        ],
        FIRST + 3,
        "a decision comes right after its claim",
    ),
    "a-claim-without-its-decision": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            (claim(FIRST + 1), LOTUS, "lotus"),
            (inspection(km=48_600, day=8), ACME, "acme"),
        ],
        FIRST + 2,
        "right after every claim",
    ),
    "a-claim-on-a-sale-with-malformed-terms": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", {"derived": {"terms": [{"policy": ["x"]}, 5]}}),
            (claim(FIRST + 1), LOTUS, "lotus"),
            (decision(FIRST + 2, FIRST + 1), *BY_OPERATOR),
        ],
        FIRST + 2,
        "carries no policy",
    ),
    "a-decision-of-another-policy-than-its-claim": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            (claim(FIRST + 1), LOTUS, "lotus"),
            (decision(FIRST + 2, FIRST + 1, "powertrain-30d"), *BY_OPERATOR),
        ],
        FIRST + 3,
        "the claim it decides names sale",
    ),
    "a-complaint-naming-an-inspection-as-sale": Defect(
        [
            *PARTIES,
            INSPECTION,
            (vehicle("complaint", dealer="lotus", sale=FIRST, summary="x"), *BY_OPERATOR),
        ],
        FIRST + 1,
        "is not a sale by",
    ),
}

WELL_FORMED = [
    *PARTIES,
    INSPECTION,
    (correction(FIRST), ACME, "acme"),  # by its own signer
    (correction(FIRST), *BY_OPERATOR),  # or by the operator
    (sale("lotus"), LOTUS, "lotus", TERMS),
    (vehicle("dispute", disputes=FIRST, reason="doubtful"), *BY_OPERATOR),
    (vehicle("complaint", dealer="lotus", sale=FIRST + 3, summary="late papers"), *BY_OPERATOR),
    (correction(FIRST + 1), ACME, "acme"),  # a correction of a correction
    (vehicle("complaint", dealer="orbit", summary="rude on the phone"), *BY_OPERATOR),
    (claim(FIRST + 3), LOTUS, "lotus"),
    (decision(FIRST + 8, FIRST + 3), *BY_OPERATOR),
]


def signature_failures(findings: list[dict], index: int) -> list[str]:
    return [
        f["detail"]
        for f in findings
        if not f["ok"] and f["check"] == "signature" and f["index"] == index
    ]


def test_a_bundle_whose_references_hold_verifies():
    report = verify_bundle_bytes(make_bundle(WELL_FORMED), LOG.vkey)
    assert report.ok, report.failures


@pytest.mark.parametrize("name", DEFECTS)
def test_a_broken_reference_fails_the_entry(name):
    defect = DEFECTS[name]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    findings = [vars(f) for f in report.findings]
    details = signature_failures(findings, defect.index)
    assert any(defect.says in d for d in details), report.failures
