"""A real server (``vinledger serve``) with an installed plugin that hangs.

The plugin is installed as a package is, by an entry point (a ``.dist-info`` on the
server's ``PYTHONPATH``). Its policy ``stuck-terms`` never answers, ``late-terms``
answers after the timeout. While a burst of sales naming the stuck policy waits on it,
the server answers everything else within ~2 seconds; those sales are refused with
503 ``plugin-timeout`` (``Retry-After``), nothing of them or of a late answer is
appended, and SIGTERM stops the server in seconds whatever the plugin's threads do.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from api.service import Ledger
from tests.conftest import VIN, VIN2, inspection, make_ledger, onboard, start_server

PLUGIN = """
import time

from plugins.hookspecs import hookimpl
from plugins.interfaces import Policy, Terms


class Sleeper(Policy):
    version = "1"
    kind = "warranty"
    seconds = 0.0

    def terms(self, params, sale):
        time.sleep(self.seconds)
        day = sale.sold_at.date().isoformat()
        return Terms(policy=self.id, version=self.version, kind=self.kind, starts=day,
                     ends=day, km_limit=None, summary="Covers the day of sale.")

    def decide(self, terms, claim):
        raise NotImplementedError


class Stuck(Sleeper):
    id = "stuck-terms"
    seconds = 600.0


class Late(Sleeper):
    id = "late-terms"
    seconds = 3.0


class StuckPlugin:
    @hookimpl
    def register_policies(self):
        return [Stuck()]


class LatePlugin:
    @hookimpl
    def register_policies(self):
        return [Late()]


stuck = StuckPlugin()
late = LatePlugin()
"""

TIMEOUT = 1.0  # plugin_timeout_seconds
BURST = 10  # sales naming the stuck policy at once
PROMPT = 2.0  # seconds everything else answers within


def install(site: Path) -> None:
    """The plugin as pip would leave it: a module and its distribution's metadata."""
    (site / "hangs_plugin.py").write_text(PLUGIN)
    info = site / "hangs_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hangs-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[vinledger]\nstuck = hangs_plugin:stuck\nlate = hangs_plugin:late\n"
    )


def sale(policy: str, day: int = 1, vin: str = VIN) -> dict:
    return {
        "kind": "sale",
        "vin": vin,
        "occurred_at": f"2026-06-{day:02d}T10:00:00Z",
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "policies": [{"id": policy}],
    }


def size(url: str) -> int:
    return int(httpx.get(url + "/log/checkpoint", timeout=10).text.splitlines()[1])


@pytest.fixture
def served(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install(site)
    data = tmp_path / "data"
    ledger: Ledger = make_ledger(data, f"sqlite:///{tmp_path / 'ledger.db'}")
    dealer = onboard(ledger, "bay-auto", "dealer")
    inspector = onboard(ledger, "acme", "inspector")
    ledger.close()
    config = json.loads((data / "config.json").read_text())
    (data / "config.json").write_text(json.dumps({**config, "plugin_timeout_seconds": TIMEOUT}))
    monkeypatch.setenv("PYTHONPATH", str(site))
    proc, url = start_server(data)
    yield proc, url, dealer, inspector
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def timed(call) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    r = call()
    return time.monotonic() - started, r


@pytest.mark.slow
def test_a_hung_plugin_holds_only_the_sales_that_need_it_and_not_the_shutdown(served):
    proc, url, dealer, inspector = served
    ready = httpx.get(url + "/readyz", timeout=10)
    assert ready.status_code == 200, ready.text
    # A vehicle with a history to read while the plugin hangs.
    first = httpx.post(url + "/records", content=inspector.envelope(inspection(vin=VIN2)))
    assert first.status_code == 201, first.text
    before = size(url)

    # A plugin that answers after the timeout: refused, and its late answer appends nothing.
    late = httpx.post(url + "/records", content=dealer.envelope(sale("late-terms")), timeout=30)
    assert late.status_code == 503, late.text
    assert late.json()["type"].endswith("/plugin-timeout") and late.headers["retry-after"]

    # A burst of sales naming the stuck policy, all in flight at once.
    answers: list[tuple[float, httpx.Response]] = []

    def stuck_sale(n: int) -> None:
        with httpx.Client(timeout=60) as c:
            env = dealer.envelope(sale("stuck-terms", day=1 + n % 3))
            answers.append(timed(lambda: c.post(url + "/records", content=env)))

    burst = [threading.Thread(target=stuck_sale, args=(n,)) for n in range(BURST)]
    for t in burst:
        t.start()
    time.sleep(0.3)  # they wait on the plugin now
    with httpx.Client(timeout=30) as c:
        took = {
            "readyz": timed(lambda: c.get(url + "/readyz")),
            "history": timed(lambda: c.get(f"{url}/vehicles/{VIN2}/history")),
            "page": timed(lambda: c.get(f"{url}/vehicles/{VIN2}")),
            "inspection POST": timed(
                lambda: c.post(
                    url + "/records", content=inspector.envelope(inspection(vin=VIN2, day=5))
                )
            ),
            "built-in sale": timed(
                lambda: c.post(
                    url + "/records", content=dealer.envelope(sale("return-7d", 2, VIN2))
                )
            ),
        }
    for t in burst:
        t.join(60)
    for what, (seconds, r) in took.items():
        assert r.status_code in (200, 201), (what, r.text)
        assert seconds < PROMPT, (what, seconds)
    assert len(answers) == BURST
    for seconds, r in answers:
        assert r.status_code == 503, r.text
        problem = r.json()
        assert problem["type"].endswith("/plugin-timeout") and problem["plugin"] == "stuck"
        assert r.headers["retry-after"] == "30"
        assert seconds < TIMEOUT + 5, seconds
    # Past its abandoned calls, the stuck plugin is refused at once.
    seconds, again = timed(
        lambda: httpx.post(url + "/records", content=dealer.envelope(sale("stuck-terms", 3)))
    )
    assert again.status_code == 503 and seconds < PROMPT, (seconds, again.text)

    time.sleep(3.5)  # the late plugin has answered by now, to no one
    assert size(url) == before + 2  # the inspection and the built-in sale, nothing else

    # SIGTERM with the stuck plugin's threads still running: the server stops.
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)
    stopped = time.monotonic() - started
    assert stopped < 10, stopped
    print(
        f"\nanswers while {BURST} sales hung: "
        + ", ".join(f"{what} {seconds:.2f}s" for what, (seconds, _) in took.items())
        + f"; hung sales answered in {max(s for s, _ in answers):.2f}s at most; "
        f"SIGTERM stopped the server in {stopped:.2f}s"
    )
