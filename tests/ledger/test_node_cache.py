"""The readers' cache of big subtrees: same answers as storage, bounded, only big nodes."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from ledger import storage
from ledger.storage import NodeCache, read_nodes, select_rows
from tests.conftest import maintenance, onboard


@pytest.fixture
def grown(ledger):
    shop = onboard(ledger, "quicklane", "workshop")
    for start in range(0, 600, 200):  # 600 entries: nodes (8, 0), (8, 1) and (9, 0)
        records = [maintenance(km=1_000 + d, day=1 + d % 28) for d in range(start, start + 200)]
        ledger.submit_now([shop.envelope(r) for r in records])
    return ledger


@pytest.fixture
def reads(monkeypatch) -> list:
    """Every node coordinate the cache asks storage for."""
    seen: list = []

    def counting(c, coords):
        seen.extend(coords)
        return read_nodes(c, coords)

    monkeypatch.setattr(storage, "read_nodes", counting)
    return seen


def _stored(ledger) -> dict[tuple[int, int], bytes]:
    with ledger.store.read_engine.connect() as c:
        return {(lv, n): bytes(h) for lv, n, h in c.execute(text("SELECT * FROM nodes"))}


def test_answers_as_storage_and_keeps_only_big_subtrees(grown, reads):
    stored = _stored(grown)
    big = {x for x in stored if x[0] >= NodeCache.MIN_LEVEL}
    assert big == {(8, 0), (8, 1), (9, 0)}
    asked = [*random.Random(3).sample(list(stored), 100), *big]
    random.Random(4).shuffle(asked)
    cache = NodeCache()
    with grown.store.read_engine.connect() as c:
        assert cache.read(c, asked) == [stored[x] for x in asked]
        assert set(cache._nodes) == big
        reads.clear()
        # Asked again, the big ones come from memory: only the small ones are read.
        assert cache.read(c, asked) == [stored[x] for x in asked]
    assert set(reads) == set(asked) - big


def test_starts_over_when_full(grown):
    cache = NodeCache(limit=2)
    with grown.store.read_engine.connect() as c:
        cache.read(c, [(8, 0), (8, 1)])
        assert set(cache._nodes) == {(8, 0), (8, 1)}
        cache.read(c, [(9, 0)])
        assert set(cache._nodes) == {(9, 0)}


def test_a_missing_node_is_named(grown):
    with grown.store.read_engine.connect() as c, pytest.raises(KeyError, match=r"\(40, 0\)"):
        NodeCache().read(c, [(0, 0), (40, 0)])


@pytest.mark.parametrize("positional", [True, False])
def test_select_rows_takes_question_marks_on_every_driver(grown, monkeypatch, positional):
    if not positional:  # a driver with named parameters only
        monkeypatch.setattr(storage, "_MARKS", {})
    with grown.store.read_engine.connect() as c:
        rows = select_rows(c, "SELECT idx, kind FROM entries WHERE idx >= ? AND idx < ?", (2, 4))
    assert rows == [(2, "actor"), (3, "key_grant")]
