"""`vinledger verify` checks the bundle is the car's own: a valid bundle of another
vehicle, served for this one's URL or saved as this one's file, fails naming both VINs."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.api.test_browser import demo  # noqa: F401 (the demo ledger, served)
from tests.conftest import vinledger


def _other_vin(url: str, vin: str) -> str:
    """Another demo vehicle the ledger holds."""
    from api.demo import demo_stories

    return next(
        v
        for v, _ in demo_stories()
        if v != vin and httpx.get(f"{url}/vehicles/{v}/bundle").status_code == 200
    )


@pytest.fixture(scope="module")
def swapping_proxy(demo):  # noqa: F811
    """A server that answers vehicle A's bundle and history with vehicle B's, both
    genuine: (proxy url, A, B)."""
    url, vin, _ = demo
    other = _other_vin(url, vin)
    swapped = {
        f"/vehicles/{vin}/{what}": httpx.get(f"{url}/vehicles/{other}/{what}").content
        for what in ("bundle", "history")
    }

    class Swap(BaseHTTPRequestHandler):
        def do_GET(self):
            body = swapped.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body or b'{"detail": "not here"}')

        def log_message(self, *args):
            pass

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Swap)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{proxy.server_port}", vin, other
    proxy.shutdown()
    proxy.server_close()


def _names_both(r, asked: str, served: str) -> None:
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"the bundle is for VIN {served}, not {asked}" in r.stdout, r.stdout
    assert "NOT VERIFIED" in r.stdout and "\nVERIFIED:" not in r.stdout


@pytest.mark.parametrize("what", ["", "/bundle", "/history"])
def test_a_url_served_another_vehicles_bundle_fails_naming_both(demo, swapping_proxy, what):  # noqa: F811
    _, _, vkey = demo
    proxy, vin, other = swapping_proxy
    r = vinledger("verify", f"{proxy}/vehicles/{vin}{what}", "--vkey", vkey, check=False)
    _names_both(r, vin, other)


def test_a_file_of_another_vehicle_fails_against_the_vin_asked_for(demo, tmp_path):  # noqa: F811
    url, vin, vkey = demo
    other = _other_vin(url, vin)
    saved = tmp_path / "bundle.json"
    saved.write_bytes(httpx.get(f"{url}/vehicles/{other}/bundle").content)
    # The bundle itself is genuine: it verifies as the other car's, typed as people type it.
    typed = other[:5].lower() + " " + other[5:]
    checked = vinledger("verify", str(saved), "--vkey", vkey, "--vin", typed)
    assert checked.returncode == 0 and "Note:" not in checked.stdout
    # Without --vin a saved file names no car: it verifies, and says what to compare.
    unchecked = vinledger("verify", str(saved), "--vkey", vkey)
    assert unchecked.returncode == 0
    assert f"Note: this is the history of VIN {other}; compare it" in unchecked.stdout
    r = vinledger("verify", str(saved), "--vkey", vkey, "--vin", vin, check=False)
    _names_both(r, vin, other)


def test_a_url_and_a_vin_that_disagree_are_refused(demo):  # noqa: F811
    url, vin, vkey = demo
    other = _other_vin(url, vin)
    r = vinledger("verify", f"{url}/vehicles/{vin}", "--vkey", vkey, "--vin", other, check=False)
    assert r.returncode != 0 and vin in r.stderr and other in r.stderr


def test_the_vin_of_a_vehicle_url():
    from api.cli_read import _vehicle_url

    assert _vehicle_url("http://h/vehicles/lfvza%206117l3572578/history?lang=zh") == (
        "http://h/vehicles/LFVZA6117L3572578",
        "LFVZA6117L3572578",
    )
    assert _vehicle_url("http://h/mirror/bundle") == ("http://h/mirror", None)
