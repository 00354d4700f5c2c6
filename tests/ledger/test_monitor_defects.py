"""The monitor refuses, as it reads them through the tile API, the logs the offline
verifiers and the audit refuse: tests/ledger/test_verify_trust.py (its trust and vehicle
defects) and test_verify_references.py, each valid but for one defect, served from memory."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.monitor import Monitor, MonitorAlert
from ledger.tiles import TILE_WIDTH, encode_entry_bundle, format_tile_path
from tests.ledger.test_verify_references import DEFECTS as REFERENCE_DEFECTS
from tests.ledger.test_verify_references import WELL_FORMED as REFERENCES
from tests.ledger.test_verify_trust import (
    BY_OPERATOR,
    LOG,
    VEHICLE_DEFECTS,
    WELL_FORMED,
    encode_items,
)
from tests.ledger.test_verify_trust import DEFECTS as TRUST_DEFECTS


def served(items):
    """GET for a log of ``items`` under one checkpoint signed by LOG: the checkpoint,
    its entry tiles and its level-0 hash tiles."""
    entries = encode_items(items)
    size = len(entries)
    root = merkle.root([merkle.hash_leaf(e) for e in entries])
    paths = {"/log/checkpoint": LOG.sign(Checkpoint(LOG.origin, size, root)).encode()}
    for n in range(0, (size + TILE_WIDTH - 1) // TILE_WIDTH):
        tile = entries[n * TILE_WIDTH : (n + 1) * TILE_WIDTH]
        paths["/log/tile/" + format_tile_path(None, n, len(tile))] = encode_entry_bundle(tile)
        hashes = b"".join(merkle.hash_leaf(e) for e in tile)
        paths["/log/tile/" + format_tile_path(0, n, len(tile))] = hashes
    return paths.__getitem__


@pytest.mark.parametrize("items", [WELL_FORMED, REFERENCES], ids=["trust", "references"])
def test_a_well_formed_log_is_read_whole(tmp_path, items):
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    assert monitor.poll(served(items)).size == len(items)
    monitor.close()


DEFECTS = {**TRUST_DEFECTS, **REFERENCE_DEFECTS, **VEHICLE_DEFECTS}


@pytest.mark.parametrize("name", DEFECTS)
def test_a_defect_is_an_alert_naming_its_entry(tmp_path, name):
    defect = DEFECTS[name]
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    with pytest.raises(MonitorAlert) as err:
        monitor.poll(served(defect.items))
    assert str(err.value).startswith(f"entry {defect.index}"), str(err.value)
    assert monitor.size == 0
    monitor.close()


def test_terms_holding_any_json_number_are_kept(tmp_path):
    """A sale's terms are kept as the entry holds them, however large a number."""
    from tests.ledger.test_verify_references import (
        FIRST,
        INSPECTION,
        LOTUS,
        PARTIES,
        claim,
        decision,
        sale,
    )

    terms = {"derived": {"terms": [{"policy": "return-7d", "kind": "return", "km_limit": 2**70}]}}
    items = [
        *PARTIES,
        INSPECTION,
        (sale("lotus"), LOTUS, "lotus", terms),
        (claim(FIRST + 1), LOTUS, "lotus"),
        (decision(FIRST + 2, FIRST + 1), *BY_OPERATOR),
    ]
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    assert monitor.poll(served(items)).size == len(items)
    monitor.close()


def _as_kept_before_claim_checks(monitor: Monitor) -> None:
    """The facts table as a monitor kept it before the claim checks: without their columns."""
    monitor.db.execute("DROP INDEX facts_undoes")
    for column in ("sold_at", "undoes"):
        monitor.db.execute(f"ALTER TABLE facts DROP COLUMN {column}")


def test_a_state_kept_before_the_claim_checks_gains_their_facts(tmp_path):
    """A state that holds no sale or decision yet lacks nothing the checks need."""
    from tests.ledger.test_verify_references import FIRST, INSPECTION, PARTIES

    monitor = Monitor(tmp_path / "m", LOG.vkey)
    monitor.poll(served([*PARTIES, INSPECTION]))
    _as_kept_before_claim_checks(monitor)
    monitor.close()
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    assert monitor.poll(served(REFERENCES)).size == len(REFERENCES)
    assert monitor.db.execute("SELECT sold_at FROM facts WHERE idx = ?", (FIRST + 3,)).fetchone()
    monitor.close()


def test_a_state_kept_before_the_claim_checks_with_a_sale_is_refused(tmp_path):
    """It kept no date of that sale, which a later claim is checked against."""
    from tests.ledger.test_verify_references import FIRST

    monitor = Monitor(tmp_path / "m", LOG.vkey)
    monitor.poll(served(REFERENCES[: FIRST + 4]))  # up to the first sale
    _as_kept_before_claim_checks(monitor)
    monitor.close()
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    with pytest.raises(InvalidInput, match="kept no sale dates or returns"):
        monitor.poll(served(REFERENCES))
    assert monitor.size == FIRST + 4
    monitor.close()


def test_a_return_read_in_an_earlier_poll_refuses_a_later_claim(tmp_path):
    """What a claim is checked against is kept across polls: here, the approved return."""
    defect = REFERENCE_DEFECTS["a-claim-on-a-returned-sale"]
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    assert monitor.poll(served(defect.items[: defect.index])).size == defect.index
    monitor.close()
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    with pytest.raises(MonitorAlert, match=f"^entry {defect.index}: sale .* was returned"):
        monitor.poll(served(defect.items))
    assert monitor.size == defect.index
    monitor.close()


def test_whether_a_sale_was_returned_is_an_index_lookup(tmp_path):
    """Not a walk over every fact before the claim (41 ms a claim at 1M entries)."""
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    monitor.poll(served(REFERENCES))
    plan = monitor.db.execute(
        "EXPLAIN QUERY PLAN SELECT min(idx) FROM facts WHERE undoes = ? AND idx < ?", (1, 9)
    ).fetchall()
    assert any("facts_undoes" in str(row) for row in plan), plan
    monitor.close()
