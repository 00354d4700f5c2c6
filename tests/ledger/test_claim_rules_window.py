"""The checkers' claim rules (``ledger.claim_rules``) against the sequencer's.

The sequencer's claims plugin takes the window and the claim each policy kind takes
from ``ledger.claim_rules``; here the kinds are held to every ``PolicyKind`` a plugin
may state. The rest are the edges a hand-made bundle cannot reach cheaply:
microseconds, and times at the ends of what a datetime holds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import VinledgerError
from ledger import claim_rules as verify
from plugins import claims
from plugins.interfaces import PolicyKind

LOGGED = "2026-05-04T08:00:00.000Z"
NOW = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
SOLD = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


def check(at: datetime, logged: str = LOGGED, **given) -> None:
    facts = {"policy_kind": "return", "sold_at": SOLD, "returned": None, **given}
    kind = "warranty_claim" if facts["policy_kind"] != "return" else "return_request"
    verify.check_claim_rules(kind, 7, "return-7d", at, logged, **facts)


def test_the_window_is_the_documented_one():
    """docs/formats.md and the README promise 72 hours and five minutes."""
    window = (verify.MAX_CLAIM_AGE, verify.CLOCK_SKEW)
    assert window == (timedelta(hours=72), timedelta(minutes=5))
    # The sequencer judges by the same constants, not copies of them.
    assert claims.MAX_CLAIM_AGE is verify.MAX_CLAIM_AGE and claims.CLOCK_SKEW is verify.CLOCK_SKEW


def test_each_policy_kind_takes_the_claim_the_sequencer_takes():
    # As claims._check_kind: a return policy takes return requests, any other warranty claims.
    wanted = {
        k: "return_request" if k == "return" else "warranty_claim" for k in PolicyKind.__args__
    }
    assert wanted == verify.CLAIM_FOR_POLICY


@pytest.mark.parametrize(
    "at", [NOW + claims.CLOCK_SKEW, NOW - claims.MAX_CLAIM_AGE, SOLD + claims.MAX_CLAIM_AGE]
)
def test_a_claim_at_an_edge_of_its_window_holds(at):
    check(at)


@pytest.mark.parametrize(
    ("at", "says"),
    [
        (NOW + claims.CLOCK_SKEW + timedelta(microseconds=1), "more than 5 minutes after"),
        (NOW - claims.MAX_CLAIM_AGE - timedelta(microseconds=1), "more than 72 hours before"),
    ],
)
def test_a_microsecond_past_an_edge_fails(at, says):
    with pytest.raises(VinledgerError, match=says):
        check(at, sold_at=at - timedelta(days=1))


def test_times_at_the_ends_of_a_datetime_do_not_overflow():
    """The window is compared as differences: no datetime is moved past year 1 or 9999."""
    first = datetime(1, 1, 1, tzinfo=UTC)
    check(first, "0001-01-01T00:00:00.000Z", sold_at=first)
    check(datetime(9999, 12, 31, 23, 59, tzinfo=UTC), "9999-12-31T23:59:59.999Z", sold_at=first)
    with pytest.raises(VinledgerError, match="more than 72 hours before"):
        check(first, "9999-12-31T23:59:59.999Z", sold_at=first)


@pytest.mark.parametrize(
    "logged", ["2026-05-04T08:00:00Z", "2026-05-04 08:00:00.000Z", "2026-02-30T08:00:00.000Z"]
)
def test_a_claim_logged_at_no_time_the_sequencer_writes_fails(logged):
    with pytest.raises(VinledgerError, match=r"sequenced_at|RFC 3339"):
        check(NOW, logged)


@pytest.mark.parametrize("kind", [None, 5, ["return"], "lemon", "__class__"])
def test_a_policy_of_no_known_kind_takes_no_claim(kind):
    with pytest.raises(VinledgerError, match="states no kind"):
        verify.check_claim_rules(
            "return_request", 7, "x", NOW, LOGGED, policy_kind=kind, sold_at=SOLD, returned=None
        )


def test_a_returned_sale_names_the_decision_that_returned_it():
    with pytest.raises(VinledgerError, match=r"sale 7 was returned \(entry 9 approved"):
        check(NOW, returned=9)
