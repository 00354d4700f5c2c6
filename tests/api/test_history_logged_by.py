"""``?logged_by=`` gives what the ledger held at a time (the entries logged by then, by
``sequenced_at``), where ``?as_of=`` gives what happened by a date as the log reads
today: a correction logged in December that dates a total loss to March is in the
history ``?as_of=`` April, and not in the one ``?logged_by=`` April."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest

from core.fields import parse_time
from tests.api.test_pages_details import claim, submitted
from tests.conftest import VIN, inspection, onboard

FIXED = {"severity": "severe", "total_loss": True, "occurred_at": "2026-03-20T08:00:00Z"}


@contextmanager
def clock_at(ledger, when: str):
    at = parse_time(when)
    real, ledger.clock = ledger.clock, lambda: at
    try:
        yield
    finally:
        ledger.clock = real


@pytest.fixture
def late_fix(sqlite_ledger):
    """A moderate claim of 1 Apr 2026 logged on 2 Apr, and its correction, dated 10 Apr
    but logged on 1 Dec, to a severe total loss of 20 Mar: (claim index, correction
    index)."""
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    with clock_at(sqlite_ledger, "2026-04-02T09:00:00Z"):
        (claimed,) = submitted(sqlite_ledger, insurer.envelope(claim()))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-04-10T00:00:00Z",
        "corrects": claimed.index,
        "reason": "the adjuster's final report",
        "fields": FIXED,
    }
    with clock_at(sqlite_ledger, "2026-12-01T10:00:00Z"):
        (fixed,) = submitted(sqlite_ledger, insurer.envelope(fix))
    return claimed.index, fixed.index


def history(client, **params) -> dict:
    r = client.get(f"/vehicles/{VIN}/history", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def alerts(h: dict) -> set[str]:
    return {a["type"] for a in h["view"]["alerts"]}


def test_logged_by_leaves_out_what_was_logged_later(client, late_fix):
    claimed, fixed = late_fix
    then = history(client, logged_by="2026-04-15T00:00:00Z")
    assert [e["index"] for e in then["entries"]] == [claimed]
    assert "in_force" not in then["entries"][0]
    assert "total_loss" not in alerts(then) and "accident" in alerts(then)
    assert then["view"]["logged_by"] == "2026-04-15T00:00:00Z" and then["view"]["as_of"] is None
    # As the log reads today, the correction dated 10 Apr says a total loss in March:
    # as_of 15 Apr shows it (what happened by then, as known today), logged_by 15 Apr
    # does not (the ledger logged it in December).
    today = history(client, as_of="2026-04-15T00:00:00Z")
    assert [e["index"] for e in today["entries"]] == [claimed, fixed]
    assert "total_loss" in alerts(today)
    assert today["view"]["logged_by"] is None
    # Combined: both filters apply.
    both = history(client, as_of="2026-04-15T00:00:00Z", logged_by="2026-12-31T00:00:00Z")
    assert [e["index"] for e in both["entries"]] == [claimed, fixed]
    assert history(client, logged_by="2026-12-31T00:00:00Z")["entries"] == today["entries"]


def test_logged_by_to_the_millisecond_and_before_anything(client, late_fix):
    claimed, fixed = late_fix
    h = history(client)
    logged = {e["index"]: e["sequenced_at"] for e in h["entries"]}
    assert [e["index"] for e in history(client, logged_by=logged[fixed])["entries"]] == [
        claimed,
        fixed,
    ]
    just_before = parse_time(logged[fixed]) - timedelta(microseconds=1)
    text = just_before.isoformat().replace("+00:00", "Z")
    assert [e["index"] for e in history(client, logged_by=text)["entries"]] == [claimed]
    early = history(client, logged_by="2020-01-01T00:00:00Z")
    assert early["entries"] == [] and early["view"]["entries"] == 0


def test_a_key_revoked_later_is_not_shown(client, sqlite_ledger):
    inspector = onboard(sqlite_ledger, "acme", "inspector")
    with clock_at(sqlite_ledger, "2026-05-05T09:00:00Z"):
        (signed,) = submitted(sqlite_ledger, inspector.envelope(inspection()))
    with clock_at(sqlite_ledger, "2026-06-01T09:00:00Z"):
        sqlite_ledger.revoke_key(inspector.keyid, "laptop stolen")
    (then,) = history(client, logged_by="2026-05-15T00:00:00Z")["entries"]
    assert then["index"] == signed.index and "key_revoked" not in then
    (later,) = history(client, logged_by="2026-06-02T00:00:00Z")["entries"]
    assert later["key_revoked"]["reason"] == "laptop stolen"


@pytest.mark.parametrize(
    "given", ["2026-04-05", "2026-04-05T00:00:00+02:00", "2026-04-05T00:00:00", ""]
)
def test_a_malformed_logged_by_is_refused_saying_the_format(client, late_fix, given):
    r = client.get(f"/vehicles/{VIN}/history", params={"logged_by": given})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["field"] == "logged_by"
    assert "`logged_by` must be an RFC 3339 time in UTC written with Z" in problem["detail"]
    assert repr(given) in problem["detail"]
