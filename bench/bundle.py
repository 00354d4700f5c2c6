"""``GET /vehicles/<VIN>/bundle`` against a Litestar hello-world route, same server stack.

    python3 bench/bundle.py            # 1,000,000 entries in the log (long: filling it)
    python3 bench/bundle.py --quick    # 50,000 entries
    python3 bench/bundle.py --keep DIR # fill the log in DIR once, reuse it on later runs

A log of N entries is filled through the sequencer (1,000 already-verified
submissions per batch); one VIN gets 10 entries. Then two servers run side by side
under the same uvicorn settings: ``vinledger serve`` on that data directory, and a
Litestar app with one route answering a small JSON object. One client requests each
in turn, sequentially, so the ratio compares the per-request cost of the two routes.
Goal: the bundle at least 0.3 x the hello-world rate.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from common import ROOT, Row, Stats, inspection, table, vin

from core import dsse
from core.keys import key_id
from core.records import parse_record
from ledger.sequencer import Submission
from ledger.verify import verify_bundle_bytes

HELLO = textwrap.dedent(
    """
    from litestar import Litestar, get

    @get("/hello", sync_to_thread=False)
    def hello() -> dict:
        return {"hello": "world"}

    app = Litestar([hello])
    """
)


def fill(ledger, key, total: int, featured: str) -> None:
    keyid = key_id(key.public_key())
    for start in range(0, total, 1000):
        subs = []
        for n in range(start, min(total, start + 1000)):
            v = featured if n % (total // 10) == 0 else vin(n % 100_000 + 7)
            payload = inspection(v, n)
            env = dsse.sign_envelope(payload, key)
            subs.append(Submission(env, parse_record(payload), dsse.envelope_digest(env), keyid))
        ledger.sequencer.sequence(subs)


def prepare(data: Path, total: int, featured: str) -> str:
    """A log of ``total`` entries in ``data``, filled now or by an earlier ``--keep`` run;
    answers its verifier key."""
    from tests.conftest import make_ledger, onboard

    filled = data / "bench-filled.txt"  # written last: a half-filled log is never reused
    if filled.is_file():
        size, vkey = filled.read_text().split()
        if int(size) == total:
            print(f"reusing {data} ({total:,} entries, kept by an earlier --keep run)")
            return vkey
    if data.exists():
        raise SystemExit(f"{data} holds no log of {total:,} entries; remove it or pick another")
    ledger = make_ledger(data, f"sqlite:///{data / 'ledger.db'}")
    key = onboard(ledger, "acme", "inspector").key
    print(f"filling {total:,} entries ...", flush=True)
    fill(ledger, key, total, featured)
    vkey = ledger.vkey
    ledger.close()
    filled.write_text(f"{total}\n{vkey}\n")
    return vkey


def serve(args: list[str], port: int, cwd: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, *args, "--port", str(port)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server on port {port} did not start")


def rate(url: str, n: int) -> float:
    with httpx.Client() as c:
        start = time.perf_counter()
        for _ in range(n):
            assert c.get(url).status_code == 200
        return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--keep", type=Path, metavar="DIR", help="keep the filled log in DIR, reuse it")
    args = ap.parse_args()
    total = 50_000 if args.quick else args.entries
    from tests.conftest import free_port

    featured = vin(3)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = args.keep or tmp / "data"
        vkey = prepare(data, total, featured)
        (tmp / "hello.py").write_text(HELLO)
        p1, p2 = free_port(), free_port()
        ours = serve(["-m", "api.cli", "serve", "--data", str(data)], p1, ROOT)
        hello = serve(["-m", "uvicorn", "hello:app", "--log-level", "warning"], p2, tmp)
        try:
            url = f"http://127.0.0.1:{p1}/vehicles/{featured}/bundle"
            report = verify_bundle_bytes(httpx.get(url).content, vkey)
            assert report.ok and len(report.entries) == 10, report.failures
            base, bundle = [], []
            for _ in range(args.rounds):
                base.append(rate(f"http://127.0.0.1:{p2}/hello", args.requests))
                bundle.append(rate(url, args.requests))
        finally:
            for p in (ours, hello):
                p.terminate()
                p.wait(10)
    b = Stats(base).median
    print(f"\n{total + 4:,} entries in the log; bundle of 10 entries, verified; sequential client")
    print(
        table(
            [
                Row("Litestar hello-world route (uvicorn)", Stats(base), "req/s", baseline=True),
                Row(
                    "GET /vehicles/<VIN>/bundle",
                    Stats(bundle),
                    "req/s",
                    Stats(bundle).median / b,
                    0.3,
                ),
            ]
        )
    )


if __name__ == "__main__":
    main()
