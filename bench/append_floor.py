"""What appending 1,000 entries costs in SQLite for each way the log could lay out its rows.

    python3 bench/append_floor.py            # 1,000,000 entries in each layout (~6 minutes)
    python3 bench/append_floor.py --quick    # 200,000

bench/proofs.py measures the ledger's append against pymerkle's ``append_entries``
(goal >= 1x) and a "storage floor": the ledger's own rows written with plain
``sqlite3``. This asks the next question: which of those rows cost the time, and what
would a different layout reach? No ledger code runs here, only ``sqlite3``, so each
figure is a floor: the least that layout can cost.

Each layout gets its own file (WAL, ``synchronous=FULL``, as the ledger's), filled
untimed to ``--entries`` rows; then each round times one transaction of 1,000 new
entries (``BEGIN IMMEDIATE`` ... ``COMMIT``) and, right after it, pymerkle's
``SqliteTree.append_entries`` of the same 1,000 entry bytes, so each ratio is taken
within one round. Entries are ~1.1 KB, their VINs ``vin(i % 20,000)`` as in
bench/proofs.py (a batch's VINs land all over any index keyed by VIN, as real ones
would), digests random.

Layouts:

- ``ledger``: the rows the ledger writes now: entries with a unique digest index, a
  unique (vin, vin_seq) index and an actor index; one node row per perfect subtree
  (about two per entry).
- ``tiles``: the same entries; nodes as C2SP tiles, one row per 256 hashes (the
  partial tiles a batch touches rewritten whole).
- ``no-digest-index``: ``tiles`` without the digest index (idempotency found some
  other way).
- ``vin-heads``: ``no-digest-index`` without the (vin, vin_seq) index; one row per VIN
  holding its chain head instead.
- ``bare``: entries with the actor index, and tiles: nothing keyed per VIN or digest.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from common import Row, Stats, table, vin

BATCH = 1000
VINS = 20_000
FILL = 50_000
LAYOUTS = {
    "ledger": {"digest", "vin_index", "actor", "nodes"},
    "tiles": {"digest", "vin_index", "actor", "tiles"},
    "no-digest-index": {"vin_index", "actor", "tiles"},
    "vin-heads": {"actor", "tiles", "heads"},
    "bare": {"actor", "tiles"},
}
_rand = random.Random(9)
_BODY = _rand.randbytes(1100)


def entry(i: int) -> bytes:
    return b"%d:" % i + _BODY


def create(db: sqlite3.Connection, parts: set[str]) -> None:
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    unique = "UNIQUE" if "digest" in parts else ""
    db.execute(
        "CREATE TABLE entries (idx INTEGER PRIMARY KEY, leaf_hash BLOB, data BLOB,"
        f" digest BLOB {unique}, kind TEXT, vin TEXT, vin_seq INTEGER, keyid TEXT,"
        " actor_id TEXT, sequenced_at TEXT)"
    )
    if "vin_index" in parts:
        db.execute("CREATE UNIQUE INDEX uq_vin_chain ON entries (vin, vin_seq)")
    if "actor" in parts:
        db.execute("CREATE INDEX ix_actor ON entries (actor_id)")
    table = "tiles" if "tiles" in parts else "nodes"
    if "nodes" in parts or "tiles" in parts:
        db.execute(
            f"CREATE TABLE {table} (level INTEGER, n INTEGER, hash BLOB,"
            " PRIMARY KEY (level, n)) WITHOUT ROWID"
        )
    if "heads" in parts:
        db.execute(
            "CREATE TABLE heads (vin TEXT PRIMARY KEY, seq INTEGER, idx INTEGER) WITHOUT ROWID"
        )


def write(db: sqlite3.Connection, parts: set[str], start: int, count: int) -> None:
    """Rows for entries ``[start, start + count)`` in one transaction."""
    entries = []
    for i in range(start, start + count):
        data = entry(i)
        entries.append(
            (
                i,
                hashlib.sha256(b"\x00" + data).digest(),
                data,
                _rand.randbytes(32),
                "inspection",
                vin(i % VINS),
                i // VINS,
                "k" * 64,
                "acme",
                "2026-12-01T00:00:00Z",
            )
        )
    db.execute("BEGIN IMMEDIATE")
    db.executemany("INSERT INTO entries VALUES (?,?,?,?,?,?,?,?,?,?)", entries)
    if "nodes" in parts:
        db.executemany("INSERT INTO nodes VALUES (?,?,?)", _nodes(start, count))
    if "tiles" in parts:
        db.executemany("INSERT OR REPLACE INTO tiles VALUES (?,?,?)", _tiles(start, count))
    if "heads" in parts:
        heads = [(e[5], e[6], e[0]) for e in entries]
        db.executemany("INSERT OR REPLACE INTO heads VALUES (?,?,?)", heads)
    db.execute("COMMIT")


def _nodes(start: int, count: int) -> list[tuple[int, int, bytes]]:
    """One row per perfect subtree the entries complete (level 0 included)."""
    out = []
    for i in range(start, start + count):
        level, n = 0, i
        out.append((0, i, _rand.randbytes(32)))
        while n & 1:
            level, n = level + 1, n >> 1
            out.append((level, n, _rand.randbytes(32)))
    return out


def _tiles(start: int, count: int) -> list[tuple[int, int, bytes]]:
    """Every tile of height 8 the entries touch, with as many hashes as it then holds."""
    out, end = [], start + count
    for tile_level in range(3):
        width = 256**tile_level  # leaves under one hash of this tile level
        for n in range(start // width // 256, (end - 1) // width // 256 + 1):
            hashes = min(256, end // width - n * 256)
            if hashes > 0:
                out.append((tile_level, n, _rand.randbytes(32 * hashes)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    total = 200_000 if args.quick else args.entries
    from pymerkle import SqliteTree

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        print(f"filling pymerkle and {len(LAYOUTS)} layouts to {total:,} entries ...", flush=True)
        tree = SqliteTree(str(tmp / "pymerkle.db"))
        for start in range(0, total, FILL):
            tree.append_entries([entry(i) for i in range(start, min(total, start + FILL))])
        dbs = {}
        for name, parts in LAYOUTS.items():
            db = sqlite3.connect(tmp / f"{name}.db", isolation_level=None)
            create(db, parts)
            for start in range(0, total, FILL):
                write(db, parts, start, min(FILL, total - start))
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            dbs[name] = db
        times = {name: [] for name in ["pymerkle", *LAYOUTS]}
        ratios = {name: [] for name in LAYOUTS}
        start = total
        for _ in range(args.rounds):
            for name, parts in LAYOUTS.items():
                t = time.perf_counter()
                write(dbs[name], parts, start, BATCH)
                mine = time.perf_counter() - t
                batch = [entry(i) for i in range(start, start + BATCH)]
                t = time.perf_counter()
                tree.append_entries(batch)
                theirs = time.perf_counter() - t
                times[name].append(mine * 1000)
                times["pymerkle"].append(theirs * 1000)
                ratios[name].append(theirs / mine)
            start += BATCH
        for db in dbs.values():
            db.close()
    print(f"\n{total:,} entries; {args.rounds} rounds of {BATCH:,}; ms per batch")
    rows = [Row("pymerkle append_entries(1,000)", Stats(times["pymerkle"]), "ms", baseline=True)]
    for name in LAYOUTS:
        rows.append(
            Row(f"{name}: 1,000 entries", Stats(times[name]), "ms", Stats(ratios[name]).median, 1)
        )
    print(table(rows))
    print("(ratio: the median over rounds of pymerkle's time / the layout's, both in that round)")


if __name__ == "__main__":
    main()
