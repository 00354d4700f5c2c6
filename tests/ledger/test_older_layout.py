"""A SQLite database created before the leaner table layout keeps working.

Data directories made before entries and checkpoints took the rowid as their key and
nodes became a WITHOUT ROWID table have the older tables (BIGINT keys, each with a
second B-tree). The same code appends to, proves from, bundles and audits them.
"""

from __future__ import annotations

from sqlalchemy import text

from ledger.audit import audit
from ledger.bundle import build_bundle
from ledger.storage import Store
from ledger.verify import verify_bundle
from tests.conftest import VIN, inspection, maintenance, make_ledger, onboard

# The tables as the earlier layout created them (SQLAlchemy's DDL of that time).
OLDER_TABLES = [
    """CREATE TABLE entries (
        idx BIGINT NOT NULL, leaf_hash BLOB NOT NULL, data BLOB NOT NULL,
        digest BLOB NOT NULL, kind VARCHAR(32) NOT NULL, vin VARCHAR(17), vin_seq BIGINT,
        keyid VARCHAR(64) NOT NULL, actor_id VARCHAR(64) NOT NULL,
        sequenced_at DATETIME NOT NULL, PRIMARY KEY (idx),
        CONSTRAINT uq_entries_vin_chain UNIQUE (vin, vin_seq), UNIQUE (digest))""",
    "CREATE INDEX ix_entries_actor_id ON entries (actor_id)",
    """CREATE TABLE nodes (level SMALLINT NOT NULL, n BIGINT NOT NULL, hash BLOB NOT NULL,
        PRIMARY KEY (level, n))""",
    """CREATE TABLE checkpoints (size BIGINT NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL,
        created_at DATETIME NOT NULL, PRIMARY KEY (size))""",
]


def test_an_older_database_appends_proves_bundles_and_audits(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    store = Store(url)
    with store.write_engine.begin() as c:
        for ddl in OLDER_TABLES:
            c.exec_driver_sql(ddl)
    store.dispose()
    ledger = make_ledger(tmp_path / "data", url)  # create_all adds only what is missing
    try:
        with ledger.store.read_engine.connect() as c:
            nodes_sql = c.execute(text("SELECT sql FROM sqlite_master WHERE name = 'nodes'"))
            assert "WITHOUT ROWID" not in nodes_sql.scalar_one()
        inspector = onboard(ledger, "acme", "inspector")
        shop = onboard(ledger, "quicklane", "workshop")
        for day in range(1, 6):
            out = ledger.submit_now(
                [
                    inspector.envelope(inspection(km=10_000 * day, day=day)),
                    shop.envelope(maintenance(km=10_000 * day + 5, day=day)),
                ]
            )
            assert all(o.created for o in out)
        bundle = build_bundle(ledger.store, VIN)
        assert len(bundle.entries) == 10
        assert verify_bundle(bundle, ledger.vkey).ok
        result = audit(ledger.store, ledger.vkey)
        assert result.size == 2 + 4 + 10 and result.signatures == result.size
    finally:
        ledger.close()
