"""``vinledger audit`` against raw hashlib SHA-256 of the same leaves and nodes.

    python3 bench/audit.py            # 200,000 entries
    python3 bench/audit.py --quick    # 20,000 entries

The baseline does only the hashing an audit cannot avoid: SHA-256 of every entry
with its 0x00 prefix and of every tree node with 0x01, in one tight loop over bytes
already in memory. The audit reads everything from storage, decodes every entry,
checks leaf hashes, VIN chain links, every stored node, every checkpoint's signature
and root, and the trust tables (``--signatures`` adds every DSSE signature and role).
Each is run in one process (``jobs=1``) and with ``--jobs`` worker processes (default:
the CPU count, as ``vinledger audit`` does); a parallel round includes starting its
workers (the fork server starts once per process, in the first round).
Goal: audit at least 0.25 x the baseline's speed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

from common import Row, Stats, inspection, table, vin

from core import dsse
from core.keys import key_id
from core.records import parse_record
from ledger.audit import audit
from ledger.schema import NodeRow
from ledger.sequencer import Submission
from ledger.storage import read_entries


def fill(ledger, key, total: int) -> None:
    keyid = key_id(key.public_key())
    for start in range(0, total, 1000):
        subs = []
        for n in range(start, min(total, start + 1000)):
            payload = inspection(vin(n % 5000), n)
            env = dsse.sign_envelope(payload, key)
            subs.append(Submission(env, parse_record(payload), dsse.envelope_digest(env), keyid))
        ledger.sequencer.sequence(subs)


def raw_hashing(entries: list[bytes], nodes: list[tuple[bytes, bytes]]) -> float:
    start = time.perf_counter()
    sha = hashlib.sha256
    for e in entries:
        sha(b"\x00" + e).digest()
    for left, right in nodes:
        sha(b"\x01" + left + right).digest()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=min(os.cpu_count() or 1, 8))
    args = ap.parse_args()
    total = 20_000 if args.quick else args.entries
    from tests.conftest import make_ledger, onboard

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        ledger = make_ledger(tmp / "data", f"sqlite:///{tmp / 'ledger.db'}")
        key = onboard(ledger, "acme", "inspector").key
        print(f"filling {total:,} entries ...", flush=True)
        fill(ledger, key, total)
        with ledger.store.reader() as s:
            entries = read_entries(s, 0, 10**12)
            count = s.query(NodeRow).filter(NodeRow.level > 0).count()
        # Every internal node hashes two 32-byte children; their values do not matter.
        nodes = [(bytes(32), bytes(32))] * count
        hashes = len(entries) + count

        def rate(**kw) -> float:
            t = time.perf_counter()
            audit(ledger.store, ledger.vkey, **kw)
            return hashes / (time.perf_counter() - t)

        runs = {name: [] for name in ("base", "one", "jobs", "sig-one", "sig-jobs")}
        for _ in range(args.rounds):
            runs["base"].append(hashes / raw_hashing(entries, nodes))
            runs["one"].append(rate(signatures=False, jobs=1))
            runs["jobs"].append(rate(signatures=False, jobs=args.jobs))
        for _ in range(max(1, args.rounds // 3)):
            runs["sig-one"].append(rate(signatures=True, jobs=1))
            runs["sig-jobs"].append(rate(signatures=True, jobs=args.jobs))
        ledger.close()
    b = Stats(runs["base"]).median
    print(f"\n{len(entries):,} entries and {count:,} internal nodes; rates in hashes/s")

    def row(name: str, key: str, goal: float | None) -> Row:
        return Row(name, Stats(runs[key]), "/s", Stats(runs[key]).median / b, goal)

    jobs = f"--jobs {args.jobs}"
    print(
        table(
            [
                Row(
                    "raw hashlib SHA-256 of leaves and nodes",
                    Stats(runs["base"]),
                    "/s",
                    baseline=True,
                ),
                row("vinledger audit --no-signatures --jobs 1", "one", 0.25),
                row(f"vinledger audit --no-signatures {jobs}", "jobs", 0.25),
                row("vinledger audit (signatures, roles) --jobs 1", "sig-one", None),
                row(f"vinledger audit (signatures, roles) {jobs}", "sig-jobs", None),
            ]
        )
    )


if __name__ == "__main__":
    main()
