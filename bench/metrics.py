"""What GET /metrics costs every other request: the same ledger served twice, with the
Prometheus middleware and without it, in alternating rounds.

Both servers are the app `vinledger serve` runs (``api.app.app_from_environment``) on one
demo data directory; the second has the HTTP middleware replaced by a pass-through (the
submission and batch counters stay: they are a few increments per batch). A sequential
client asks each for a vehicle's bundle and its page, round after round, alternating, so
that the neighbours' noise falls on both. The ratio is with / without; no goal is set
(the bundle's goal, against a hello-world route, is bench/bundle.py's), but the cost is
measured, not assumed. Also: a scrape's time against /healthz's.

    python3 bench/metrics.py [--rounds 7] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import httpx
from common import ROOT, Row, Stats, table

FACTORY = textwrap.dedent(
    """
    import os

    import api.metrics

    if os.environ.get("BENCH_METRICS") == "off":

        class _PassThrough:
            middleware = staticmethod(lambda app: app)  # a middleware factory: app -> app

        api.metrics.HTTP = _PassThrough()

    from api.app import app_from_environment
    """
)


def serve(data: Path, port: int, tmp: Path, metrics: str) -> subprocess.Popen:
    env = {**os.environ, "VINLEDGER_DATA": str(data), "BENCH_METRICS": metrics}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), str(ROOT)])
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench_factory:app_from_environment", "--factory",
         "--port", str(port), "--log-level", "warning"],
        cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"server on port {port} did not start")


def rate(client: httpx.Client, url: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        assert client.get(url).status_code == 200
    return n / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    from tests.conftest import free_port

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        data = tmp / "data"
        made = subprocess.run(
            [sys.executable, "-m", "api.cli", "demo", "--data", str(data), "--no-serve"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        vin = made.stdout.split("/vehicles/")[1].split()[0].strip("'\"")
        (tmp / "bench_factory.py").write_text(FACTORY)
        ports = {"on": free_port(), "off": free_port()}
        procs = [serve(data, port, tmp, which) for which, port in ports.items()]
        rates: dict[tuple[str, str], list[float]] = {}
        try:
            with httpx.Client() as c:
                on = f"http://127.0.0.1:{ports['on']}"
                assert "vinledger_requests_total" in c.get(on + "/metrics").text
                off_scrape = c.get(f"http://127.0.0.1:{ports['off']}/metrics").text
                assert "vinledger_requests_total" not in off_scrape
                for _ in range(args.rounds):
                    for path in (f"/vehicles/{vin}/bundle", f"/vehicles/{vin}", "/healthz"):
                        for which, port in ports.items():
                            url = f"http://127.0.0.1:{port}{path}"
                            rates.setdefault((path, which), []).append(rate(c, url, args.requests))
                    rates.setdefault(("/metrics", "on"), []).append(
                        rate(c, on + "/metrics", max(args.requests // 10, 10))
                    )
        finally:
            for p in procs:
                p.terminate()
                p.wait(10)
    rows = []
    for path in (f"/vehicles/{vin}/bundle", f"/vehicles/{vin}", "/healthz"):
        off, on = Stats(rates[(path, "off")]), Stats(rates[(path, "on")])
        paired = zip(rates[(path, "on")], rates[(path, "off")], strict=True)
        ratios = Stats([a / b for a, b in paired])
        what = f"GET {path.replace(vin, '<VIN>')}"
        rows.append(Row(f"{what} without", off, "req/s", baseline=True))
        rows.append(Row(f"{what} with metrics", on, "req/s", ratios.median))
    health = Stats(rates[("/healthz", "on")])
    scrape = Stats(rates[("/metrics", "on")])
    rows.append(Row("GET /metrics (a scrape)", scrape, "req/s", scrape.median / health.median))
    print(f"\ndemo ledger; sequential client; {args.rounds} alternating rounds of {args.requests}")
    print("ratio: with metrics / without, the median of the rounds' ratios (/metrics: / healthz)")
    print(table(rows))


if __name__ == "__main__":
    main()
