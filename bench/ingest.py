"""Ingest throughput of a real server, against Ed25519 verifications per second.

    python3 bench/ingest.py              # about 5 minutes
    python3 bench/ingest.py --quick      # about a minute
    python3 bench/ingest.py --workers 2  # vinledger serve --workers 2
    BENCH_PORTS=18600-18699 python3 bench/ingest.py  # servers on ports of that range

Baseline: Ed25519 verifications over the PAE of a ~1 KB inspection envelope, one
core, in this process, in the same run, by the faster of the two libraries at hand:
OpenSSL (``Ed25519PublicKey.verify``) and libsodium (PyNaCl, which the ledger
verifies with first); both are printed. Every accepted submission costs the server at
least one such verification, so "records/s ÷ verifications/s" says how much of the
server's time goes to everything else (HTTP, JSON, schema, storage, proofs).

The server is the real thing: ``vinledger init`` on a fresh SQLite data directory,
an inspector onboarded with ``vinledger actors add``, ``vinledger serve`` in a child
process. Envelopes are signed before any timing and are all distinct (VIN, time and
odometer differ), so nothing is deduplicated; every answer is checked (201 and
"created") so a fast error cannot pass for a fast append.

(a) ``POST /records``: one envelope per request, ``--concurrency`` requests in
    flight over keep-alive connections, so the server's group commit can batch.
(b) ``POST /records/batch``: ``--batch`` envelopes per request, two in flight
    (``--batch-concurrency``).
(c) The ceiling of (a): a Litestar route that reads the same bodies and answers 201,
    under the same uvicorn settings and workers, driven by the same client.

The client (``common.post_all``: asyncio streams, requests built in advance) runs on
the same two cores as the server, so it is part of the cost; the server's own CPU
time per record is printed as well, and "capacity" turns it into records per second
of one fully used core.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Row, Stats, inspection, post_all, table, vin

from core import dsse
from core.keys import generate_private_key, private_key_to_pem, public_key_pem, public_key_raw

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


_GIVEN: set[int] = set()


def free_port() -> int:
    """A free port: the first of ``BENCH_PORTS`` (e.g. ``18600-18699``) if set, so that
    runs on a shared machine keep to their own range; else any. Never the same twice:
    a server handed a port may not have bound it yet."""
    first, _, last = os.environ.get("BENCH_PORTS", "0-0").partition("-")
    for port in range(int(first), int(last or first) + 1):
        if port and port in _GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _GIVEN.add(s.getsockname()[1])
            return s.getsockname()[1]
    raise SystemExit(f"no free port in BENCH_PORTS={os.environ['BENCH_PORTS']}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- baseline ---------------------------------------------------------------------


def verify_rate(key, envelopes: list[dsse.Envelope], seconds: float, sodium=False) -> float:
    """Verifications per second of the envelopes' signatures over their PAE, by OpenSSL
    or (``sodium``) by libsodium."""
    check = key.public_key().verify
    if sodium:
        import nacl.bindings

        raw = public_key_raw(key.public_key())

        def check(sig, msg):
            nacl.bindings.crypto_sign_open(sig + msg, raw)

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
            check(sig, msg)
        count += len(pairs)
    return count / (time.perf_counter() - start)


# ---- the servers ------------------------------------------------------------------

HELLO_APP = """
from litestar import Litestar, Request, post


@post("/records", status_code=201)
async def records(request: Request) -> dict:
    body = await request.body()
    return {"index": len(body), "created": True}


app = Litestar([records])
"""


def process_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children still running (uvicorn's workers)."""
    total = cpu_seconds(pid)
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        total += process_cpu_seconds(int(child))
    return total


class Server:
    """``vinledger serve`` (or the hello-world app) in a child process."""

    def __init__(self, tmp: Path, argv: list[str], workers: int, env: dict | None = None):
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(tmp / f"server-{port}.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*argv, "--port", str(port), "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @classmethod
    def vinledger(cls, tmp: Path, key, workers: int) -> Server:
        data = tmp / "data"
        cli("init", data=data)
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
            data=data,
        )
        argv = [sys.executable, "-m", "api.cli", "serve", "--data", str(data)]
        return cls(tmp, argv, workers)

    @classmethod
    def hello(cls, tmp: Path, workers: int) -> Server:
        (tmp / "hello_app.py").write_text(HELLO_APP)
        argv = [sys.executable, "-m", "uvicorn", "hello_app:app", "--log-level", "warning"]
        return cls(tmp, argv, workers, env={"PYTHONPATH": str(tmp)})

    def wait_ready(self, path: str = "/healthz") -> None:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(self.url + path).status_code in (200, 405):
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("the server did not start; see its log")

    def cpu(self) -> float:
        return process_cpu_seconds(self.proc.pid)

    def worker_cpu(self) -> list[float]:
        """CPU seconds of each uvicorn worker (the server itself with one worker)."""
        kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return [process_cpu_seconds(int(k)) for k in kids] or [self.cpu()]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(15)
        self.log.close()


# ---- what an answer must be -------------------------------------------------------


def created(status: int, body: bytes) -> str | None:
    if status == 201 and b'"created":true' in body:
        return None
    return body[:300].decode(errors="replace")


def all_created(status: int, body: bytes) -> str | None:
    results = json.loads(body)["results"] if status == 200 else None
    if results is not None and all(r.get("status") == 201 for r in results):
        return None
    return body[:300].decode(errors="replace")


def batch_body(envelopes: list[bytes]) -> bytes:
    return b'{"envelopes":[' + b",".join(envelopes) + b"]}"


def measure(
    server: Server, path: str, bodies: list[bytes], per_body: int, concurrency: int, check
) -> tuple[float, float]:
    """(records/s, server CPU µs per record) of POSTing ``bodies``."""
    cpu = server.cpu()
    secs = asyncio.run(post_all(server.url, path, bodies, concurrency, check))
    n = len(bodies) * per_body
    return n / secs, (server.cpu() - cpu) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer, shorter rounds (~1 minute)")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=32, help="requests in flight for (a)")
    ap.add_argument("--batch", type=int, default=200, help="envelopes per request for (b)")
    ap.add_argument("--batch-concurrency", type=int, default=2, help="batches in flight (b)")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    args = ap.parse_args()
    rounds = args.rounds or (5 if args.quick else 7)
    singles_per_round = 600 if args.quick else 2000
    batches_per_round = 5 if args.quick else 20
    verify_seconds = 0.5 if args.quick else 2.0

    key = generate_private_key()
    needed = (rounds + 1) * (singles_per_round + batches_per_round * args.batch) + args.batch
    print(f"signing {needed:,} distinct envelopes (not timed) ...", flush=True)
    envelopes = [dsse.sign_envelope(inspection(vin(i % 20_000), i), key) for i in range(needed)]
    bodies = [dsse.encode_envelope(e) for e in envelopes]
    avg = sum(len(dsse.pae(e.payload_type, dsse.payload_bytes(e))) for e in envelopes[:100]) / 100
    print(f"  PAE message ~{avg:,.0f} bytes, envelope ~{len(bodies[0]):,} bytes")

    openssl, sodium = [], []
    for _ in range(rounds):
        openssl.append(verify_rate(key, envelopes[:2000], verify_seconds / 2))
        sodium.append(verify_rate(key, envelopes[:2000], verify_seconds / 2, sodium=True))
    openssl, sodium = Stats(openssl), Stats(sodium)
    verify = max(openssl, sodium, key=lambda s: s.median)
    single, batch, hello = [], [], []
    cpu_single, cpu_batch, cpu_hello = [], [], []
    busiest = []  # (b): the share of the server's CPU its busiest worker spent
    import httpx

    with tempfile.TemporaryDirectory(prefix="vinledger-bench-") as d:
        server = Server.vinledger(Path(d), key, args.workers)
        helloserver = Server.hello(Path(d), args.workers)
        try:
            server.wait_ready()
            helloserver.wait_ready("/records")
            at = 0

            def take(n: int) -> list[bytes]:
                nonlocal at
                at += n
                return bodies[at - n : at]

            # One untimed round of each warms the servers (imports, caches, SQLite pages).
            measure(server, "/records", take(singles_per_round // 3), 1, args.concurrency, created)
            measure(
                server, "/records/batch", [batch_body(take(args.batch))], args.batch, 1, all_created
            )
            measure(helloserver, "/records", bodies[:500], 1, args.concurrency, created)
            for r in range(rounds):
                rate, cpu = measure(
                    server, "/records", take(singles_per_round), 1, args.concurrency, created
                )
                single.append(rate)
                cpu_single.append(cpu)
                batches = [batch_body(take(args.batch)) for _ in range(batches_per_round)]
                workers_before = server.worker_cpu()
                rate, cpu = measure(
                    server,
                    "/records/batch",
                    batches,
                    args.batch,
                    args.batch_concurrency,
                    all_created,
                )
                batch.append(rate)
                cpu_batch.append(cpu)
                spent = [a - b for a, b in zip(server.worker_cpu(), workers_before, strict=False)]
                busiest.append(max(spent) / (sum(spent) or 1))
                rate, cpu = measure(
                    helloserver,
                    "/records",
                    bodies[:singles_per_round],
                    1,
                    args.concurrency,
                    created,
                )
                hello.append(rate)
                cpu_hello.append(cpu)
                print(
                    f"  round {r + 1}/{rounds}: single {single[-1]:,.0f}/s, "
                    f"batch {batch[-1]:,.0f}/s (busiest worker {busiest[-1]:.0%} of its CPU), "
                    f"hello-world {hello[-1]:,.0f}/s",
                    flush=True,
                )
            size = int(httpx.get(server.url + "/log/checkpoint").text.split("\n")[1])
        finally:
            server.stop()
            helloserver.stop()

    base = verify.median
    single_s, batch_s, hello_s = Stats(single), Stats(batch), Stats(hello)
    # What one fully used core would sustain, from the server's CPU time per record.
    cap_single = Stats([1e6 / c for c in cpu_single])
    cap_batch = Stats([1e6 / c for c in cpu_batch])
    cap_hello = Stats([1e6 / c for c in cpu_hello])
    print(
        f"\nlog size at the end: {size:,} entries; {args.workers} uvicorn worker(s); "
        f"{args.concurrency} in flight for (a) and (c), {args.batch} envelopes per batch "
        "for (b)\n"
    )
    print(
        table(
            [
                *(
                    Row(
                        f"Ed25519 verify, 1 core, {name}" + " (baseline)" * (lib is verify),
                        lib,
                        "/s",
                        None if lib is verify else lib.median / verify.median,
                        baseline=lib is verify,
                    )
                    for name, lib in (("OpenSSL", openssl), ("libsodium", sodium))
                ),
                Row(
                    "(a) POST /records, 1 envelope per request",
                    single_s,
                    "rec/s",
                    single_s.median / base,
                    GOAL_SINGLE,
                ),
                Row(
                    f"(b) POST /records/batch, {args.batch} per request",
                    batch_s,
                    "rec/s",
                    batch_s.median / base,
                    GOAL_BATCH,
                ),
                Row(
                    "(c) hello-world POST, same stack and client",
                    hello_s,
                    "req/s",
                    hello_s.median / base,
                ),
                Row(
                    "(a) capacity of one core (1 / server CPU)",
                    cap_single,
                    "rec/s",
                    cap_single.median / base,
                    GOAL_SINGLE,
                ),
                Row(
                    "(b) capacity of one core (1 / server CPU)",
                    cap_batch,
                    "rec/s",
                    cap_batch.median / base,
                    GOAL_BATCH,
                ),
                Row(
                    "(c) capacity of one core (1 / server CPU)",
                    cap_hello,
                    "req/s",
                    cap_hello.median / base,
                ),
            ]
        )
    )
    print(
        f"\nserver CPU per record: (a) {Stats(cpu_single).median:,.0f} µs, "
        f"(b) {Stats(cpu_batch).median:,.0f} µs, (c) {Stats(cpu_hello).median:,.0f} µs per "
        f"request; one verification: {1e6 / base:,.0f} µs. (a) reaches "
        f"{single_s.median / hello_s.median:.2f}x the hello-world rate."
    )
    if args.workers > 1:
        # uvicorn's workers share one listening socket: the one that wakes first often
        # accepts every connection the client opens at once, and one worker's GIL then
        # checks all the batches (a worker checks on one core at a time).
        print(
            f"(b) the busiest of {args.workers} workers spent a median "
            f"{Stats(busiest).median:.0%} of the server's CPU (rounds: "
            f"{', '.join(f'{b:.0%}' for b in busiest)})."
        )


if __name__ == "__main__":
    main()
