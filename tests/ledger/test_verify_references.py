"""The offline verifiers check what a vehicle record references, as the sequencer does.

A dealer records only its own sales; a correction (by the corrected entry's signer or
the operator), a dispute and a complaint name an earlier entry of the same VIN, which
a bundle therefore holds; a claim is one the sequencer decides (of its policy's kind,
dated within its window and not before its sale, on a sale no approved return undid).
Each defect is one such rule broken in an otherwise valid, hand-made bundle;
tests/api/test_browser.py feeds the same bundles to verify.js, test_audit_trust.py
and test_monitor_defects.py the same logs to the audit and the monitor.
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
# Records are dated when encode_items logs every entry, unless an item says otherwise.
AT = "2026-05-01T08:00:00Z"
LOGGED = "2026-05-01T08:00:00.000Z"

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


RETURN = {"policy": "return-7d", "kind": "return", "ends": "2026-06-08"}
WARRANTY = {"policy": "powertrain-30d", "kind": "warranty", "ends": "2026-05-31"}
TERMS = {"derived": {"terms": [RETURN]}}
BOTH = {"derived": {"terms": [RETURN, WARRANTY]}}


def logged(at: str) -> dict:
    """An item's entry fields for a batch logged at ``at`` (its ``sequenced_at``)."""
    return {"sequenced_at": at}


def claim(sale_index: int, policy: str = "return-7d", **fields) -> dict:
    return vehicle("return_request", sale=sale_index, policy=policy, **fields)


def warranty(sale_index: int, policy: str = "powertrain-30d", **fields) -> dict:
    fields = {"component": "engine", "description": "oil leak", **fields}
    return vehicle("warranty_claim", sale=sale_index, policy=policy, **fields)


def decision(
    claim_index: int, sale_index: int, policy: str = "return-7d", approved: bool = True
) -> dict:
    return vehicle(
        "claim_decision",
        claim=claim_index,
        sale=sale_index,
        policy=policy,
        policy_version="1",
        approved=approved,
        reason="within 7 days",
        days_since_sale=2,
    )


def filed(record: dict, index: int, at: str = LOGGED, approved: bool = True) -> list:
    """A claim by lotus at ``index`` and its decision, one batch logged at ``at``."""
    ruling = decision(index, record["sale"], record["policy"], approved)
    return [(record, LOTUS, "lotus", logged(at)), (ruling, *BY_OPERATOR, logged(at))]


def correction(corrects: int) -> dict:
    return vehicle("correction", corrects=corrects, reason="typo", fields={"odometer_km": 48_001})


class Defect(NamedTuple):
    items: list
    index: int  # the entry the failed finding must name
    says: str


# What the sequencer refuses of a claim before its policy decides (plugins.claims):
# refused alike, in the same words, by verify.py and verify.js (tests/api/test_browser.py).
CLAIM_RULE_DEFECTS = {
    "a-claim-filed-more-than-72-hours-after-its-date": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            *filed(claim(FIRST + 1), FIRST + 2, at="2026-05-04T08:00:00.001Z"),
        ],
        FIRST + 2,
        "more than 72 hours before the ledger logged it",
    ),
    "a-claim-dated-after-it-was-logged": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            # Read to the microsecond, as msgspec rounds it: 08:05:00.000001.
            *filed(claim(FIRST + 1, occurred_at="2026-05-01T08:05:00.0000005Z"), FIRST + 2),
        ],
        FIRST + 2,
        "dated 2026-05-01T08:05:00.000001Z, more than 5 minutes after the ledger logged it",
    ),
    "a-claim-logged-at-no-time-the-ledger-writes": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            *filed(claim(FIRST + 1), FIRST + 2, at=AT),
        ],
        FIRST + 2,
        "is not a time as the ledger writes it",
    ),
    "a-claim-dated-before-its-sale": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", TERMS),
            *filed(claim(FIRST + 1, occurred_at="2026-05-01T07:59:59.999999Z"), FIRST + 2),
        ],
        FIRST + 2,
        f"before sale {FIRST + 1}",
    ),
    "a-warranty-claim-under-a-return-policy": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", BOTH),
            *filed(warranty(FIRST + 1, "return-7d"), FIRST + 2),
        ],
        FIRST + 2,
        "is a return policy; it takes a return_request, not a warranty_claim",
    ),
    "a-return-request-under-a-warranty": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", BOTH),
            *filed(claim(FIRST + 1, "powertrain-30d"), FIRST + 2),
        ],
        FIRST + 2,
        "is a warranty policy; it takes a warranty_claim, not a return_request",
    ),
    "a-claim-under-a-policy-of-no-kind": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", {"derived": {"terms": [{"policy": "return-7d"}]}}),
            *filed(claim(FIRST + 1), FIRST + 2),
        ],
        FIRST + 2,
        "states no kind",
    ),
    "a-claim-on-a-returned-sale": Defect(
        [
            *PARTIES,
            INSPECTION,
            (sale("lotus"), LOTUS, "lotus", BOTH),
            *filed(claim(FIRST + 1), FIRST + 2),  # approved: the car went back
            *filed(warranty(FIRST + 1), FIRST + 4),
        ],
        FIRST + 4,
        f"sale {FIRST + 1} was returned (entry {FIRST + 3} approved its return)",
    ),
}


def fix(corrects: int, **fields) -> dict:
    return vehicle("correction", corrects=corrects, reason="mistyped", fields=fields)


SOLD = (sale("lotus"), LOTUS, "lotus", TERMS)  # at FIRST + 1
# What the sequencer refuses of a correction's fields (core.corrections): refused alike,
# in the same words, by verify.py, verify.js, the audit and the monitor.
CORRECTION_DEFECTS = {
    "a-correction-of-a-correction": Defect(
        [
            *PARTIES,
            INSPECTION,
            (correction(FIRST), ACME, "acme"),
            (fix(FIRST + 1, x=1), ACME, "acme"),
        ],
        FIRST + 2,
        "a correction cannot be corrected",
    ),
    "a-correction-of-a-field-the-kind-lacks": Defect(
        [*PARTIES, INSPECTION, (fix(FIRST, colour="red"), ACME, "acme")],
        FIRST + 1,
        "an inspection has no field `colour`; check its spelling (a correction of an "
        "inspection may change: attachments, flags, grade, inspector, items, occurred_at, "
        "odometer_km, provider)",
    ),
    "a-correction-of-a-sales-price": Defect(
        [
            *PARTIES,
            INSPECTION,
            SOLD,
            (fix(FIRST + 1, price={"amount": "1.00", "currency": "EUR"}), LOTUS, "lotus"),
        ],
        FIRST + 2,
        "a correction may not change `price` of a sale",
    ),
    "a-correction-moving-a-sale-to-another-dealer": Defect(
        [*PARTIES, INSPECTION, SOLD, (fix(FIRST + 1, dealer="orbit"), *BY_OPERATOR)],
        FIRST + 2,
        "a correction may not change `dealer` of a sale: the ledger checked it",
    ),
    "a-correction-of-a-claims-decision": Defect(
        [
            *PARTIES,
            INSPECTION,
            SOLD,
            *filed(claim(FIRST + 1), FIRST + 2),
            (fix(FIRST + 3, approved=False), *BY_OPERATOR),
        ],
        FIRST + 4,
        "A claim_decision cannot be corrected: it is the ledger's own decision",
    ),
}

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
    **CLAIM_RULE_DEFECTS,
    **CORRECTION_DEFECTS,
}

WELL_FORMED = [
    *PARTIES,
    INSPECTION,
    (correction(FIRST), ACME, "acme"),  # by its own signer
    (correction(FIRST), *BY_OPERATOR),  # or by the operator
    (sale("lotus"), LOTUS, "lotus", TERMS),
    (vehicle("dispute", disputes=FIRST, reason="doubtful"), *BY_OPERATOR),
    (vehicle("complaint", dealer="lotus", sale=FIRST + 3, summary="late papers"), *BY_OPERATOR),
    (fix(FIRST, odometer_km=48_002), ACME, "acme"),  # a second correction of it
    (vehicle("complaint", dealer="orbit", summary="rude on the phone"), *BY_OPERATOR),
    (claim(FIRST + 3), LOTUS, "lotus"),  # dated when its sale is, and when it is logged
    (decision(FIRST + 8, FIRST + 3), *BY_OPERATOR),
    # Claims at both edges of their window, on a sale whose return was refused.
    ({**sale("lotus"), "price": {"amount": "9000.00", "currency": "EUR"}}, LOTUS, "lotus", BOTH),
    *filed(claim(FIRST + 10, occurred_at="2026-05-01T08:05:00Z"), FIRST + 11, approved=False),
    *filed(warranty(FIRST + 10), FIRST + 13, at="2026-05-04T08:00:00.000Z"),
]


# The checks a vehicle entry of its own may fail, each named by the rule it breaks.
ENTRY_CHECKS = ("signature", "record", "role", "reference", "once")


def entry_failures(findings: list[dict], index: int) -> list[str]:
    return [
        f["detail"]
        for f in findings
        if not f["ok"] and f["check"] in ENTRY_CHECKS and f["index"] == index
    ]


def test_a_bundle_whose_references_hold_verifies():
    report = verify_bundle_bytes(make_bundle(WELL_FORMED), LOG.vkey)
    assert report.ok, report.failures


@pytest.mark.parametrize("name", DEFECTS)
def test_a_broken_reference_fails_the_entry(name):
    defect = DEFECTS[name]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    findings = [vars(f) for f in report.findings]
    details = entry_failures(findings, defect.index)
    assert any(defect.says in d for d in details), report.failures


# Defects above that lack the reference itself: the record does not parse.
MALFORMED = {"a-correction-of-nothing", "a-dispute-without-its-entry"}


@pytest.mark.parametrize("name", DEFECTS)
def test_a_broken_reference_is_reported_as_one_not_as_a_bad_signature(name):
    # A genuine signer naming what it may not is not a forgery: the report says which
    # rule the entry breaks, and the page's script labels it alike (test_browser.py).
    defect = DEFECTS[name]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    labels = {f.check for f in report.failures if f.index == defect.index}
    assert labels == ({"record"} if name in MALFORMED else {"reference"}), labels


def test_each_rule_an_entry_breaks_is_named():
    forged = ({**inspection(km=48_000)}, BRAVO, "acme")  # acme's name, bravo's key
    cases = {
        "signature": ([*PARTIES, forged], FIRST),
        "record": ([*PARTIES, ({**inspection(km=48_000), "colour": "red"}, ACME, "acme")], FIRST),
        "role": ([*PARTIES, (sale("acme"), ACME, "acme")], FIRST),  # an inspector sells
        "reference": ([*PARTIES, (sale("orbit"), LOTUS, "lotus")], FIRST),
        "once": ([*PARTIES, INSPECTION, INSPECTION], FIRST + 1),
    }
    for check, (items, index) in cases.items():
        report = verify_bundle_bytes(make_bundle(items), LOG.vkey)
        assert [(f.check, f.index) for f in report.failures] == [(check, index)], check


# A claim on a sale whose own record is malformed: the sale fails as a record, the
# claim as a reference (the audit stops at the sale, the first thing wrong).
REFERENCED_MALFORMED = {
    "a-claim-on-a-sale-whose-record-is-malformed": Defect(
        [
            *PARTIES,
            INSPECTION,
            ({**sale("lotus"), "odometer_km": -5}, LOTUS, "lotus", TERMS),
            (claim(FIRST + 1), LOTUS, "lotus"),
            (decision(FIRST + 2, FIRST + 1), *BY_OPERATOR),
        ],
        FIRST + 2,
        "odometer_km",
    ),
}


def test_a_claim_on_a_malformed_sale_fails_as_a_reference_and_the_sale_as_a_record():
    defect = REFERENCED_MALFORMED["a-claim-on-a-sale-whose-record-is-malformed"]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    assert [(f.check, f.index) for f in report.failures] == [
        ("record", FIRST + 1),
        ("reference", FIRST + 2),
    ]
