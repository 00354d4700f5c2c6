"""What an independent monitor's tester found in the ledger's own check before it
serves (ledger/continuity.py): a latest checkpoint changed after it was signed was
said to be another log's, signed by "another" key that was the same key."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.errors import ForkRisk
from ledger.continuity import check_continuity, mark_path
from ledger.schema import CheckpointRow
from tests.conftest import onboard


def test_a_latest_checkpoint_changed_after_signing_is_said_to_be_so(sqlite_ledger):
    lg = sqlite_ledger
    onboard(lg, "acme", "inspector")
    with lg.store.writer.begin() as s:
        row = s.execute(
            select(CheckpointRow).order_by(CheckpointRow.size.desc()).limit(1)
        ).scalar_one()
        lines = row.note.split("\n")
        root = lines[2]
        lines[2] = ("B" if root[0] != "B" else "C") + root[1:]  # one byte of the root
        s.execute(
            update(CheckpointRow)
            .where(CheckpointRow.size == row.size)
            .values(note="\n".join(lines))
        )
    with pytest.raises(ForkRisk) as err:
        check_continuity(lg.store, lg.vkey, mark_path(lg.settings.data_dir))
    said = str(err.value)
    assert "changed after it was signed" in said and "another log" not in said, said
