"""What a corrected entry says now: the history JSON carries each corrected entry's
record in force beside the one signed, the page shows the values in force with what was
signed marked beside them, and ``?as_of=`` gives the history as it stood then."""

from __future__ import annotations

import pytest

from tests.api.test_pages import entry_block
from tests.api.test_pages_details import claim, submitted
from tests.conftest import VIN, onboard

FIXED = {"severity": "severe", "total_loss": True, "occurred_at": "2026-03-20T08:00:00Z"}


@pytest.fixture
def corrected(sqlite_ledger):
    """A moderate claim of 1 Apr 2026 its insurer corrected on 10 Apr to a severe total
    loss of 20 Mar: (claim index, correction index)."""
    insurer = onboard(sqlite_ledger, "harbor", "insurer")
    (claimed,) = submitted(sqlite_ledger, insurer.envelope(claim()))
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-04-10T00:00:00Z",
        "corrects": claimed.index,
        "reason": "the adjuster's final report",
        "fields": FIXED,
    }
    (fixed,) = submitted(sqlite_ledger, insurer.envelope(fix))
    return claimed.index, fixed.index


def test_a_corrected_entry_carries_its_record_in_force_beside_the_signed_one(client, corrected):
    claimed, fixed = corrected
    history = client.get(f"/vehicles/{VIN}/history").json()
    by_index = {e["index"]: e for e in history["entries"]}
    entry = by_index[claimed]
    assert entry["record"] == claim()  # as signed
    assert entry["in_force"] == {**claim(), **FIXED}
    assert "in_force" not in by_index[fixed]  # nothing corrected it
    assert history["view"]["corrected"][0]["corrections"][0]["fields"] == sorted(FIXED)


def test_the_page_shows_the_values_in_force_marking_what_was_signed(client, corrected):
    claimed, _ = corrected
    block = entry_block(client.get(f"/vehicles/{VIN}?lang=en").text, claimed)
    assert "<dt>Severity</dt><dd>severe (corrected; signed: moderate)</dd>" in block, block
    assert "(corrected; signed: none)</dd>" in block  # the total loss the correction added
    # The header dates it as in force, with the signed date beside it, as it does a reading.
    assert '<span class="when">2026-03-20 (corrected from 2026-04-01)</span>' in block, block
    zh = entry_block(client.get(f"/vehicles/{VIN}?lang=zh").text, claimed)
    assert "（已更正；原签署为：" in zh and "2026-03-20（由 2026-04-01 更正）" in zh


def test_as_of_gives_the_history_as_it_stood_then(client, corrected):
    claimed, _ = corrected
    then = client.get(f"/vehicles/{VIN}/history", params={"as_of": "2026-04-05T00:00:00Z"})
    assert then.status_code == 200, then.text
    history = then.json()
    assert [e["index"] for e in history["entries"]] == [claimed]  # not the correction yet
    assert "in_force" not in history["entries"][0]
    assert history["view"]["as_of"] == "2026-04-05T00:00:00Z"
    assert history["view"]["entries"] == 1 and history["view"]["corrected"] == []
    assert {a["type"] for a in history["view"]["alerts"]} == {"accident"}
    now = client.get(f"/vehicles/{VIN}/history").json()
    assert now["view"]["as_of"] is None and len(now["entries"]) == 2
    assert "total_loss" in {a["type"] for a in now["view"]["alerts"]}
    before = client.get(f"/vehicles/{VIN}/history?as_of=2020-01-01T00:00:00Z").json()
    assert before["entries"] == [] and before["view"]["entries"] == 0


@pytest.mark.parametrize(
    "given",
    [
        "2026-04-05",
        "yesterday",
        "2026-04-05T00:00:00+02:00",
        "2026-04-05T00:00:00",
        "2026-13-01T00:00:00Z",
    ],
)
def test_a_malformed_as_of_is_refused_saying_the_format(client, corrected, given):
    r = client.get(f"/vehicles/{VIN}/history", params={"as_of": given})
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert "RFC 3339 time in UTC written with Z" in problem["detail"]
    assert "2026-11-27T00:00:00Z" in problem["detail"] and repr(given) in problem["detail"]
