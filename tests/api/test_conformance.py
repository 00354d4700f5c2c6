"""A real server, real signed records, audited by Go's reference tlog and note code."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from api.client import VinledgerClient
from core.keys import generate_private_key, public_key_pem
from tests.conftest import SHARED, VIN, VIN2, Partner, inspection, maintenance, vinledger

TLOGCHECK = SHARED / "conformance" / "tlogcheck.sh"


def tlogcheck(url: str, vkey: str, *args: str) -> str:
    r = subprocess.run(
        ["bash", str(TLOGCHECK), url + "/log", vkey, *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "tlogcheck: OK" in r.stdout
    return r.stdout


@pytest.mark.slow
def test_go_reference_code_accepts_the_log_and_its_growth(server, tmp_path):
    if shutil.which("go") is None or not Path("/usr/share/gocode/src/golang.org/x/mod").exists():
        from tests.conftest import need

        need("Go and golang-golang-x-mod-dev are needed for tlogcheck")
    url, vkey, data = server
    keys = {}
    for actor, role in (("acme", "inspector"), ("quicklane", "workshop")):
        key = generate_private_key()
        keys[actor] = Partner(actor, role, key)
        pem = tmp_path / f"{actor}.pub"
        pem.write_bytes(public_key_pem(key.public_key()))
        vinledger("actors", "add", actor, "--role", role, "--public-key", str(pem), data=data)
    with VinledgerClient(url) as client:
        for d in range(1, 21):
            client.submit_envelope(keys["acme"].envelope(inspection(day=1 + d % 28, km=d * 100)))
        saved = tmp_path / "checkpoint"
        tlogcheck(url, vkey, "-save", str(saved))
        # Grow past a full tile (256) so level-1 tiles and full bundles are exercised.
        for start in range(0, 300, 100):
            client.submit_batch(
                [
                    keys["quicklane"].envelope(maintenance(vin=VIN2, km=1000 + i, day=1 + i % 28))
                    for i in range(start, start + 100)
                ]
            )
        out = tlogcheck(url, vkey, "-old", str(saved), "-samples", "40")
    assert "size=" in out
    assert VIN  # the first batch was about VIN
