"""The read API's proofs refuse every tree the log has not reached."""

from __future__ import annotations

import pytest

from core.errors import InvalidInput
from ledger.reader import LogReader
from ledger.storage import Store, log_size


def test_no_proof_from_an_empty_log(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_schema()
    try:
        for size in (1, 2, 2**63, 2**64):
            with pytest.raises(InvalidInput, match="larger than the log"):
                LogReader(store).inclusion(size - 1, size)
    finally:
        store.dispose()


def test_no_proof_for_a_tree_one_larger_than_the_log(ledger):
    """A proof of the last leaf of such a tree needs only nodes the log has; the
    reader must still refuse it."""
    with ledger.store.reader() as s:
        size = log_size(s)
    reader = LogReader(ledger.store)
    assert len(reader.inclusion(size - 1, size)) > 0
    for index in (0, size - 1, size):
        with pytest.raises(InvalidInput, match="larger than the log"):
            reader.inclusion(index, size + 1)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [
        (0, 999_999_999_999_999_999_999, 256),
        (None, 999_999_999_999_999_999, 256),
        (3, 2**63 // 256, 256),  # the first tile whose positions pass 2**63 - 1
        (None, 2**63 // 256, 9),
    ],
)
def test_a_tile_past_any_log_is_not_found(ledger, level, index, width):
    """Not a database error (SQLite and PostgreSQL integers end at 2**63 - 1)."""
    from core.errors import NotFound
    from ledger.tiles import format_tile_path, parse_tile_path

    path = parse_tile_path(format_tile_path(level, index, width))
    with pytest.raises(NotFound, match="beyond any log"):
        LogReader(ledger.store).tile(path)
