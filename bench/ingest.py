"""Ingest throughput of a real server, against Ed25519 verifications per second.

    python3 bench/ingest.py            # about 4 minutes
    python3 bench/ingest.py --quick    # under a minute

Baseline: ``Ed25519PublicKey.verify`` over the PAE of a ~1 KB inspection envelope,
one core, in this process, in the same run. Every accepted submission costs the
server one such verification, so "records/s ÷ verifications/s" says how much of
the server's time goes to everything else (HTTP, JSON, schema, storage, proofs).

The server is the real thing: ``vinledger init`` on a fresh SQLite data directory,
an inspector onboarded with ``vinledger actors add``, ``vinledger serve`` in a child
process (one uvicorn worker). Envelopes are signed before any timing and are all
distinct (VIN, time and odometer differ), so nothing is deduplicated; every answer
is checked (201 / created) so a fast error cannot pass for a fast append.

(a) ``POST /records``: one envelope per request, ``--concurrency`` requests in
    flight from one asyncio httpx client, so the server's group commit can batch.
(b) ``POST /records/batch``: ``--batch`` envelopes per request, two in flight.

The client runs on the same two cores as the server, so it is part of the cost;
the server's own CPU time per record is printed as well.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Row, Stats, inspection, table, vin

from core import dsse
from core.keys import generate_private_key, private_key_to_pem, public_key_pem

GOAL_SINGLE = 0.5
GOAL_BATCH = 0.8


def cli(*args: str, data: Path) -> str:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *args, "--data", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- baseline ---------------------------------------------------------------------


def verify_rate(key, envelopes: list[dsse.Envelope], seconds: float) -> float:
    """Verifications per second of the envelopes' signatures over their PAE."""
    public = key.public_key()
    pairs = [
        (
            dsse._b64decode(e.signatures[0].sig, "sig"),
            dsse.pae(e.payload_type, dsse.payload_bytes(e)),
        )
        for e in envelopes
    ]
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for sig, msg in pairs:
            public.verify(sig, msg)
        count += len(pairs)
    return count / (time.perf_counter() - start)


# ---- the server -------------------------------------------------------------------


class Server:
    def __init__(self, tmp: Path, key):
        self.data = tmp / "data"
        cli("init", data=self.data)
        pub = tmp / "inspector.pub"
        pub.write_bytes(public_key_pem(key.public_key()))
        (tmp / "inspector.pem").write_bytes(private_key_to_pem(key))
        cli(
            "actors",
            "add",
            "Bench Inspections",
            "--role",
            "inspector",
            "--public-key",
            str(pub),
            data=self.data,
        )
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "api.cli",
                "serve",
                "--data",
                str(self.data),
                "--port",
                str(port),
            ],
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        import httpx

        for _ in range(200):
            try:
                if httpx.get(self.url + "/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not start; see its log")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


# ---- clients ----------------------------------------------------------------------


async def post_singles(url: str, bodies: list[bytes], concurrency: int) -> float:
    """Seconds to POST every body to /records with ``concurrency`` requests in flight."""
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        todo = iter(bodies)

        async def worker() -> None:
            for body in todo:
                r = await client.post("/records", content=body, headers=headers)
                if r.status_code != 201:
                    raise SystemExit(f"POST /records answered {r.status_code}: {r.text[:300]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


async def post_batches(url: str, batches: list[bytes], concurrency: int) -> float:
    import httpx

    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        todo = iter(batches)

        async def worker() -> None:
            for body in todo:
                r = await client.post("/records/batch", content=body, headers=headers)
                results = r.json()["results"] if r.status_code == 200 else None
                if results is None or any(x.get("status") != 201 for x in results):
                    raise SystemExit(
                        f"POST /records/batch answered {r.status_code}: {r.text[:300]}"
                    )

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - start


def batch_body(envelopes: list[bytes]) -> bytes:
    return b'{"envelopes":[' + b",".join(envelopes) + b"]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds (< 1 minute)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight for (a)")
    ap.add_argument("--batch", type=int, default=200, help="envelopes per request for (b)")
    args = ap.parse_args()
    rounds = args.rounds or (5 if args.quick else 7)
    singles_per_round = 300 if args.quick else 1000
    batches_per_round = 5 if args.quick else 20
    verify_seconds = 0.5 if args.quick else 2.0

    key = generate_private_key()
    needed = (rounds + 1) * (singles_per_round + batches_per_round * args.batch) + args.batch
    print(f"signing {needed:,} distinct envelopes (not timed) ...", flush=True)
    envelopes = [dsse.sign_envelope(inspection(vin(i % 20_000), i), key) for i in range(needed)]
    bodies = [dsse.encode_envelope(e) for e in envelopes]
    avg = sum(len(dsse.pae(e.payload_type, dsse.payload_bytes(e))) for e in envelopes[:100]) / 100
    print(f"  PAE message ~{avg:,.0f} bytes, envelope ~{len(bodies[0]):,} bytes")

    verify = Stats([verify_rate(key, envelopes[:2000], verify_seconds) for _ in range(rounds)])

    singles: list[float] = []
    batch_rates: list[float] = []
    cpu_single: list[float] = []
    cpu_batch: list[float] = []
    import httpx

    with tempfile.TemporaryDirectory(prefix="vinledger-bench-") as d:
        server = Server(Path(d), key)
        try:
            server.wait_ready()
            pid = server.proc.pid
            at = 0

            def take(n: int) -> list[bytes]:
                nonlocal at
                at += n
                return bodies[at - n : at]

            # One untimed round of each warms the server (imports, caches, SQLite pages).
            asyncio.run(post_singles(server.url, take(singles_per_round // 3), args.concurrency))
            asyncio.run(post_batches(server.url, [batch_body(take(args.batch))], 1))
            for r in range(rounds):
                chunk = take(singles_per_round)
                cpu = cpu_seconds(pid)
                secs = asyncio.run(post_singles(server.url, chunk, args.concurrency))
                singles.append(len(chunk) / secs)
                cpu_single.append((cpu_seconds(pid) - cpu) / len(chunk) * 1e6)
                batches = [batch_body(take(args.batch)) for _ in range(batches_per_round)]
                cpu = cpu_seconds(pid)
                secs = asyncio.run(post_batches(server.url, batches, 2))
                n = batches_per_round * args.batch
                batch_rates.append(n / secs)
                cpu_batch.append((cpu_seconds(pid) - cpu) / n * 1e6)
                print(
                    f"  round {r + 1}/{rounds}: single {singles[-1]:,.0f}/s, "
                    f"batch {batch_rates[-1]:,.0f}/s",
                    flush=True,
                )
            size = int(httpx.get(server.url + "/log/checkpoint").text.split("\n")[1])
        finally:
            server.stop()

    single, batch = Stats(singles), Stats(batch_rates)
    base = verify.median
    print(
        f"\nlog size at the end: {size:,} entries; client: {args.concurrency} in flight for (a), "
        f"{args.batch} envelopes per batch for (b)\n"
    )
    print(
        table(
            [
                Row("Ed25519 verify, 1 core", verify, "/s", baseline=True),
                Row(
                    "(a) POST /records, 1 envelope per request",
                    single,
                    "rec/s",
                    single.median / base,
                    GOAL_SINGLE,
                ),
                Row(
                    f"(b) POST /records/batch, {args.batch} per request",
                    batch,
                    "rec/s",
                    batch.median / base,
                    GOAL_BATCH,
                ),
            ]
        )
    )
    print(
        f"\nserver CPU per record: (a) {Stats(cpu_single).median:,.0f} µs, "
        f"(b) {Stats(cpu_batch).median:,.0f} µs; one verification: {1e6 / base:,.0f} µs"
    )


if __name__ == "__main__":
    main()
