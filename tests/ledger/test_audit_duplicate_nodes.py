"""A node table whose primary key was dropped (anyone who can write to the database
can): a row stored twice must not stand in for a wrong or missing one. The audit
compares a run of nodes in the database by count; it must count the rows too."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from core.errors import AuditError
from ledger.audit import audit
from tests.conftest import seed_two_vehicles


def drop_primary_key(store) -> None:
    with store.writer.begin() as s:
        if not store.is_sqlite:
            s.execute(text("ALTER TABLE nodes DROP CONSTRAINT nodes_pkey"))
            return
        s.execute(text("CREATE TABLE nodes2 (level SMALLINT, n BIGINT, hash BLOB)"))
        s.execute(text("INSERT INTO nodes2 SELECT level, n, hash FROM nodes"))
        s.execute(text("DROP TABLE nodes"))
        s.execute(text("ALTER TABLE nodes2 RENAME TO nodes"))
        s.execute(text("CREATE INDEX nodes_i ON nodes(level, n)"))


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("a-wrong-node-and-a-good-copy", "tree node level 0 index 1 is stored twice"),
        ("a-missing-node-and-its-neighbour-twice", "tree node (0, 1) is missing from storage"),
    ],
)
def test_a_node_stored_twice_does_not_hide_a_wrong_or_missing_one(ledger, case, says):
    seed_two_vehicles(ledger, days=6)
    store = ledger.store
    audit(store, ledger.vkey, chunk=4, signatures=False)
    drop_primary_key(store)
    with store.writer.begin() as s:
        good = s.execute(text("SELECT hash FROM nodes WHERE level=0 AND n=1")).scalar_one()
        if case == "a-wrong-node-and-a-good-copy":
            s.execute(text("UPDATE nodes SET hash=:h WHERE level=0 AND n=1"), {"h": bytes(32)})
            s.execute(text("INSERT INTO nodes VALUES (0, 1, :h)"), {"h": bytes(good)})
        else:
            two = s.execute(text("SELECT hash FROM nodes WHERE level=0 AND n=2")).scalar_one()
            s.execute(text("DELETE FROM nodes WHERE level=0 AND n=1"))
            s.execute(text("INSERT INTO nodes VALUES (0, 2, :h)"), {"h": bytes(two)})
    for signatures in (False, True):
        for jobs in (1, 2):
            with pytest.raises(AuditError, match=says.replace("(", r"\(").replace(")", r"\)")):
                audit(store, ledger.vkey, chunk=4, signatures=signatures, jobs=jobs)
