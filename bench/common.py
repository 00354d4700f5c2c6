"""Shared by the benchmarks: the repo on ``sys.path``, test records, statistics, the table.

Every benchmark prints ratios against a baseline measured in the same run, because on
a small shared machine absolute times say more about the neighbours than about us.
"""

from __future__ import annotations

import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # so `python3 bench/NAME.py` works from the repo root
    sys.path.insert(0, str(ROOT))

from core.vin import check_digit  # noqa: E402

# Characters a VIN may hold (no I, O, Q); position 10 is the model year.
_VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"


@functools.cache
def vin(n: int) -> str:
    """A distinct valid VIN for every ``n`` < 33**6, with the right check digit."""
    serial = ""
    for _ in range(6):
        n, r = divmod(n, len(_VIN_CHARS))
        serial += _VIN_CHARS[r]
    # 'L': a Chinese VIN, whose check digit (position 9) the ledger enforces.
    draft = "LFVZA611" + "0" + "N" + "B" + serial
    return draft[:8] + check_digit(draft) + draft[9:]


_CODES = ["engine", "brakes", "tyres", "lights", "steering", "suspension", "exhaust"]
_CODES += ["battery", "wipers", "mirrors", "horn", "seatbelts", "body", "glass"]


@functools.cache
def _inspection_template(items: int) -> str:
    """The JSON of an inspection with ``{}`` holes for VIN, time, odometer and inspector."""
    record = {
        "kind": "inspection",
        "vin": "@VIN@",
        "occurred_at": "@AT@",
        "odometer_km": -1,
        "provider": "acme-inspections",
        "inspector": "@INS@",
        "grade": "B",
        "items": [
            {"code": c, "result": "ok", "note": "checked to the workshop manual"}
            for c in _CODES[:items]
        ],
        "flags": dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False),
    }
    text = json.dumps(record).replace("{", "{{").replace("}", "}}")
    for hole in ('"@VIN@"', '"@AT@"', "-1", '"@INS@"'):
        text = text.replace(hole, "{}", 1)
    return text


def inspection(vin_text: str, n: int, items: int = 9) -> bytes:
    """An inspection record of about 1 KB; ``n`` makes it distinct (time, odometer)."""
    at = (
        f"20{10 + n // 400_000 % 15}-{1 + n // 28 % 12:02d}-{1 + n % 28:02d}"
        f"T{n // 336 % 24:02d}:{n // 8064 % 60:02d}:{n % 60:02d}Z"
    )
    return (
        _inspection_template(items)
        .format(json.dumps(vin_text), json.dumps(at), 1000 + n, json.dumps(f"INS-{n % 1000:04d}"))
        .encode()
    )


@dataclass(frozen=True)
class Stats:
    values: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def spread(self, fmt: str = ",.0f") -> str:
        v = sorted(self.values)
        if len(v) >= 4:
            q1, _, q3 = statistics.quantiles(v, n=4)
            iqr = f", IQR {q1:{fmt}}-{q3:{fmt}}"
        else:
            iqr = ""
        return f"min {v[0]:{fmt}} max {v[-1]:{fmt}}{iqr} (n={len(v)})"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Row:
    what: str
    stats: Stats
    unit: str
    ratio: float | None = None  # against the baseline; None for the baseline itself
    goal: float | None = None
    baseline: bool = False  # the row the ratios are taken against


def table(rows: list[Row]) -> str:
    """what | median | spread | ratio | goal | PASS/MISS."""
    head = f"{'what':<50} {'median':>14}  {'spread':<48} {'ratio':>8}  {'goal':>8}  verdict"
    lines = [head, "-" * len(head)]
    for r in rows:
        fmt = ",.0f" if r.stats.median >= 100 else ",.2f"
        med = f"{r.stats.median:{fmt}} {r.unit}"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        goal = "-" if r.goal is None else f">={r.goal:g}x"
        if r.goal is None or r.ratio is None:
            verdict = "baseline" if r.baseline else ""
        elif r.ratio >= r.goal:
            verdict = "PASS"
        else:
            verdict = f"MISS (needs {r.goal / r.ratio:.2f}x more)"
        lines.append(
            f"{r.what:<50} {med:>14}  {r.stats.spread(fmt):<48} {ratio:>8}  {goal:>8}  {verdict}"
        )
    return "\n".join(lines)


# ---- a thin HTTP/1.1 client -------------------------------------------------------


async def post_all(
    url: str,
    path: str,
    bodies: list[bytes],
    concurrency: int,
    check: Callable[[int, bytes], str | None],
) -> float:
    """Seconds to POST every body to ``path`` over ``concurrency`` keep-alive connections.

    Plain asyncio streams with requests built in advance: the client shares the two
    cores with the server, and httpx spends more CPU per request than the server does
    on a hello-world route, so a heavier client would measure itself. ``check(status,
    body)`` answers an error text for a wrong answer, which ends the run.
    """
    import asyncio
    from urllib.parse import urlsplit

    where = urlsplit(url)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {where.netloc}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    requests = [head + b"%d\r\n\r\n" % len(b) + b for b in bodies]
    todo = iter(requests)

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(where.hostname, where.port)
        try:
            for request in todo:
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                    elif name.lower() == b"transfer-encoding":
                        raise SystemExit("the server answered chunked; this client reads lengths")
                body = await reader.readexactly(length)
                if (problem := check(status, body)) is not None:
                    raise SystemExit(f"POST {path} answered {status}: {problem}")
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return time.perf_counter() - start
