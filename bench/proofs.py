"""Appending verified entries and serving inclusion proofs, against pymerkle's SqliteTree.

    python3 bench/proofs.py                # 1,000,000 entries (about 12 minutes here)
    python3 bench/proofs.py --quick        # 100,000 entries (1 to 1.5 minutes)
    python3 bench/proofs.py --entries N

What is timed, exactly:

- vinledger append: ``Sequencer.sequence(subs)`` on an SQLite file, 1,000
  ``Submission``s per call. A ``Submission`` is by definition a record whose envelope
  signature was already verified; ``sequence`` is the lowest-level append the ledger
  has and does no signature check. Per call it runs one ``BEGIN IMMEDIATE``
  transaction: the in-lock checks (key granted, role, VIN chain head, duplicate
  digest), entry encoding, leaf hashes, the new tree nodes, the entry and node
  inserts, one signed checkpoint and the commit (WAL, ``synchronous=FULL``). The
  receipts' inclusion proofs are made after the commit, outside the lock, when first
  used: they are timed separately ("+ every receipt's proof"). Signing and building
  the submissions happen before timing.
- storage floor: the same entry and node rows, read back untimed, inserted with
  plain ``sqlite3`` ``executemany`` into an empty copy of the schema (same indexes,
  WAL, ``synchronous=FULL``) and committed: what the rows alone cost, without any
  of the ledger's work.
- pymerkle append: ``SqliteTree.append_entries(entries)`` with the same 1,000 entry
  bytes (those the sequencer produced), timed right after each vinledger batch so
  both see the same machine weather. The ratio is taken per batch.
- proofs: ``LogReader.inclusion(i, size)`` (what ``GET /log/proof/inclusion``
  serves: a read transaction, the size check, one batch read of the nodes) against
  ``SqliteTree.prove_inclusion(i + 1, size)`` (pymerkle counts from 1), for random
  ``i`` at the full size. pymerkle caches subtree roots of 128 leaves and more, so
  it is measured twice: one object kept across rounds after a warm-up of as many
  proofs as a round (warm: its cache keeps filling, so later rounds are faster),
  and the first 20 proofs of a fresh ``SqliteTree`` object (cold, as after a
  restart: the big subtree roots are computed from the leaves once).

Both trees must have the same root, and a sample of proofs from each side is
verified against it (and the two paths compared), so neither can be fast by doing
the wrong work.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import sqlite3
import tempfile
import time
import warnings
from pathlib import Path

from common import Row, Stats, inspection, table, vin

from core import dsse
from core.keys import key_id, load_private_key, private_key_to_pem
from core.records import parse_record
from ledger import merkle
from ledger.sequencer import Appended, Submission
from ledger.signing import open_checkpoint
from ledger.storage import read_entries

BATCH = 1000
GOAL_APPEND = 1.0
GOAL_PROOFS = 100.0

_key = None


def _init_worker(pem: bytes) -> None:
    global _key
    _key = load_private_key(pem)


def sign_batch(start: int) -> list[tuple[bytes, bytes]]:
    """``BATCH`` distinct inspections from number ``start`` on: (payload, envelope JSON)."""
    out = []
    for i in range(start, start + BATCH):
        payload = inspection(vin(i % 20_000), i)
        out.append((payload, dsse.encode_envelope(dsse.sign_envelope(payload, _key))))
    return out


def submissions(signed: list[tuple[bytes, bytes]], keyid: str) -> list[Submission]:
    out = []
    for payload, raw in signed:
        env = dsse.decode_envelope(raw)
        out.append(Submission(env, parse_record(payload), dsse.envelope_digest(env), keyid))
    return out


def build_ledger(tmp: Path):
    """A fresh SQLite ledger with its genesis entries and one onboarded inspector."""
    from tests.conftest import make_ledger, onboard

    ledger = make_ledger(tmp / "data", f"sqlite:///{tmp / 'ledger.db'}")
    return ledger, onboard(ledger, "bench-inspections", "inspector").key


class Floor:
    """An empty copy of the ledger's schema, written with the driver alone."""

    def __init__(self, ledger, path: Path):
        self.source = sqlite3.connect(ledger.store.url.removeprefix("sqlite:///"))
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        for (sql,) in self.source.execute(
            "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND tbl_name IN "
            "('entries', 'nodes')"
        ):
            self.db.execute(sql)

    def append(self, start: int, stop: int) -> float:
        """Seconds to insert and commit the entries [start, stop) and the nodes they made."""
        entries = self.source.execute(
            "SELECT * FROM entries WHERE idx >= ? AND idx < ?", (start, stop)
        ).fetchall()
        nodes = []
        for level in range(stop.bit_length()):
            nodes += self.source.execute(
                "SELECT * FROM nodes WHERE level = ? AND n >= ? AND n < ?",
                (level, start >> level, stop >> level),
            ).fetchall()
        marks = ", ".join("?" * len(entries[0]))
        t = time.perf_counter()
        self.db.execute("BEGIN IMMEDIATE")
        self.db.executemany(f"INSERT INTO entries VALUES ({marks})", entries)
        self.db.executemany("INSERT INTO nodes VALUES (?, ?, ?)", nodes)
        self.db.execute("COMMIT")
        return time.perf_counter() - t


def append_both(ledger, tree, floor: Floor, batches: list[list[Submission]]):
    """Seconds per batch: vinledger, its receipts' proofs, pymerkle, the storage floor."""
    ours, proofs, theirs, floors = [], [], [], []
    for n, subs in enumerate(batches, 1):
        t = time.perf_counter()
        outcomes = ledger.sequencer.sequence(subs)
        ours.append(time.perf_counter() - t)
        if not all(isinstance(o, Appended) and o.created for o in outcomes):
            raise SystemExit(f"the sequencer refused an entry: {outcomes[0]!r}")
        t = time.perf_counter()
        for o in outcomes:
            o.proof  # noqa: B018 - made on first use
        proofs.append(time.perf_counter() - t)
        entries = [o.entry for o in outcomes]
        t = time.perf_counter()
        tree.append_entries(entries)
        theirs.append(time.perf_counter() - t)
        floors.append(floor.append(outcomes[0].index, outcomes[-1].index + 1))
        if n % 100 == 0:
            print(f"  {n * BATCH:,} appended", flush=True)
    return ours, proofs, theirs, floors


def check_proofs(ledger, tree, cp, picks: list[int]) -> None:
    from pymerkle import verify_inclusion

    with ledger.store.reader() as s:
        for i in picks:
            (entry,) = read_entries(s, i, i + 1)
            leaf = merkle.hash_leaf(entry)
            ours = ledger.reader.inclusion(i, cp.size)
            merkle.verify_inclusion(leaf, i, cp.size, ours, cp.root)
            theirs = tree.prove_inclusion(i + 1, cp.size)
            verify_inclusion(leaf, cp.root, theirs, index=i + 1, size=cp.size)
            if list(theirs.path[1:]) != ours:
                raise SystemExit(f"the two inclusion paths of entry {i} differ")


def proof_rates(ledger, tmp: Path, size: int, rounds: int, per_round: int, first: int):
    """Proofs/s per round: vinledger; pymerkle warm; pymerkle's ``first`` from a fresh object."""
    from pymerkle import SqliteTree

    rnd = random.Random(2026_11_22)
    ours, cold, warm = [], [], []

    def rate(prove, count: int) -> float:
        picks = [rnd.randrange(size) for _ in range(count)]
        start = time.perf_counter()
        for i in picks:
            prove(i)
        return count / (time.perf_counter() - start)

    warm_tree = SqliteTree(str(tmp / "pymerkle.db"))
    print(f"  warming pymerkle's cache with {per_round:,} proofs ...", flush=True)
    rate(lambda i: warm_tree.prove_inclusion(i + 1, size), per_round)
    for r in range(rounds):
        ours.append(rate(lambda i: ledger.reader.inclusion(i, size), per_round))
        warm.append(rate(lambda i: warm_tree.prove_inclusion(i + 1, size), per_round))
        with SqliteTree(str(tmp / "pymerkle.db")) as fresh:
            cold.append(rate(lambda i, t=fresh: t.prove_inclusion(i + 1, size), first))
        print(
            f"  round {r + 1}/{rounds}: vinledger {ours[-1]:,.0f}/s, pymerkle warm "
            f"{warm[-1]:,.0f}/s, first {first} after a restart {cold[-1]:,.1f}/s",
            flush=True,
        )
    warm_tree.close()
    return Stats(ours), Stats(cold), Stats(warm)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100,000 entries")
    ap.add_argument("--entries", type=int, default=1_000_000, help="entries to append")
    ap.add_argument("--rounds", type=int, default=5, help="rounds of proofs")
    args = ap.parse_args()
    total = 100_000 if args.quick else args.entries
    batches_wanted = max(1, total // BATCH)
    from pymerkle import SqliteTree

    warnings.simplefilter("ignore", DeprecationWarning)
    with tempfile.TemporaryDirectory(prefix="vinledger-bench-") as d:
        tmp = Path(d)
        ledger, key = build_ledger(tmp)
        print(
            f"signing {batches_wanted * BATCH:,} envelopes on 2 processes (not timed) ...",
            flush=True,
        )
        t = time.perf_counter()
        pem = private_key_to_pem(key)
        with multiprocessing.get_context("fork").Pool(2, _init_worker, (pem,)) as pool:
            keyid = key_id(key.public_key())
            starts = range(0, batches_wanted * BATCH, BATCH)
            batches = [submissions(b, keyid) for b in pool.imap(sign_batch, starts, chunksize=4)]
        print(f"  {time.perf_counter() - t:.0f} s", flush=True)

        tree = SqliteTree(str(tmp / "pymerkle.db"))
        with ledger.store.reader() as s:  # the genesis and onboarding entries, untimed
            tree.append_entries(read_entries(s, 0, 10**9))
        print(f"appending {batches_wanted:,} batches of {BATCH:,} to both ...", flush=True)
        floor = Floor(ledger, tmp / "floor.db")
        ours, proofs, theirs, floors = append_both(ledger, tree, floor, batches)
        del batches
        cp = open_checkpoint(ledger.reader.checkpoint(), ledger.vkey)
        if tree.get_size() != cp.size or tree.get_root() != cp.root:
            raise SystemExit("the two trees disagree: one of them is wrong")
        tree.close()
        print(f"both roots equal at size {cp.size:,}; checking sampled proofs ...", flush=True)
        rnd = random.Random(7)
        with SqliteTree(str(tmp / "pymerkle.db")) as check_tree:
            check_proofs(ledger, check_tree, cp, [0, cp.size - 1, *rnd.sample(range(cp.size), 48)])

        per_round = 300 if args.quick else 1000
        print(f"inclusion proofs at size {cp.size:,}, {args.rounds} rounds ...", flush=True)
        our_rate, cold, warm = proof_rates(ledger, tmp, cp.size, args.rounds, per_round, 20)
        ledger.close()

    append_ratio = Stats([b / a for a, b in zip(ours, theirs, strict=True)])
    with_proofs = [a + p for a, p in zip(ours, proofs, strict=True)]
    proofs_ratio = Stats([b / a for a, b in zip(with_proofs, theirs, strict=True)])
    floor_ratio = Stats([b / a for a, b in zip(floors, theirs, strict=True)])
    vs_warm = Stats([a / b for a, b in zip(our_rate.values, warm.values, strict=True)])
    vs_cold = Stats([a / b for a, b in zip(our_rate.values, cold.values, strict=True)])
    ms = lambda xs: Stats([x * 1000 for x in xs])  # noqa: E731
    print(f"\n{cp.size:,} entries; {len(ours)} batches of {BATCH:,}; all sampled proofs verify\n")
    print(
        table(
            [
                Row("pymerkle SqliteTree.append_entries(1,000)", ms(theirs), "ms", baseline=True),
                Row("vinledger Sequencer.sequence(1,000)", ms(ours), "ms"),
                Row(
                    "  vinledger speed / pymerkle's, per batch",
                    append_ratio,
                    "x",
                    append_ratio.median,
                    GOAL_APPEND,
                ),
                Row("vinledger sequence + every receipt's proof", ms(with_proofs), "ms"),
                Row("  that speed / pymerkle's, per batch", proofs_ratio, "x", proofs_ratio.median),
                Row("storage floor: the same rows, sqlite3 only", ms(floors), "ms"),
                Row("  floor speed / pymerkle's, per batch", floor_ratio, "x", floor_ratio.median),
                Row("pymerkle prove_inclusion, warm cache", warm, "/s", baseline=True),
                Row("pymerkle prove_inclusion, first 20 after restart", cold, "/s", baseline=True),
                Row("vinledger LogReader.inclusion", our_rate, "/s"),
                Row(
                    "  vinledger / pymerkle warm, per round",
                    vs_warm,
                    "x",
                    vs_warm.median,
                    GOAL_PROOFS,
                ),
                Row(
                    "  vinledger / pymerkle restarted, per round",
                    vs_cold,
                    "x",
                    vs_cold.median,
                    GOAL_PROOFS,
                ),
            ]
        )
    )


if __name__ == "__main__":
    main()
