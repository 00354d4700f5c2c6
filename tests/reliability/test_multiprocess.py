"""Several server processes on one database, many concurrent submitters: one log."""

from __future__ import annotations

import base64
import threading

import httpx
import pytest

from core.keys import generate_private_key, public_key_pem
from ledger import merkle
from ledger.signing import open_checkpoint
from tests.conftest import Partner, free_port, inspection, start_server, vinledger
from tests.reliability.conftest import vins

SERVERS = 3
SUBMITTERS = 6


@pytest.mark.slow
def test_three_servers_one_database_one_log(data_dir, tmp_path):
    data, vkey = data_dir
    key = generate_private_key()
    (tmp_path / "k.pub").write_bytes(public_key_pem(key.public_key()))
    vinledger(
        "actors",
        "add",
        "Acme",
        "--role",
        "inspector",
        "--public-key",
        str(tmp_path / "k.pub"),
        "--id",
        "acme",
        data=data,
    )
    inspector = Partner("acme", "inspector", key)
    envelopes = [
        inspector.envelope(inspection(vin=vin, km=1_000 * (day + 1), day=1 + day))
        for day in range(6)
        for vin in vins(30)
    ]
    ports = [free_port() for _ in range(SERVERS)]
    procs = [start_server(data, port)[0] for port in ports]
    receipts: list[dict] = []
    errors: list[str] = []
    lock = threading.Lock()

    def submit(n: int) -> None:
        with httpx.Client(timeout=60) as client:
            for i in range(n, len(envelopes), SUBMITTERS):
                # Every envelope goes to two servers at once: the same record, raced.
                for port in (ports[i % SERVERS], ports[(i + 1) % SERVERS]):
                    r = client.post(f"http://127.0.0.1:{port}/records", content=envelopes[i])
                    with lock:
                        if r.status_code in (200, 201):
                            receipts.append({**r.json(), "envelope": i})
                        else:
                            errors.append(r.text)

    try:
        threads = [threading.Thread(target=submit, args=(n,)) for n in range(SUBMITTERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        final = open_checkpoint(httpx.get(f"http://127.0.0.1:{ports[0]}/log/checkpoint").text, vkey)
        for port in ports[1:]:  # every server sees the same log
            other = httpx.get(f"http://127.0.0.1:{port}/log/checkpoint").text
            assert open_checkpoint(other, vkey).root == final.root
        by_envelope: dict[int, set[int]] = {}
        for r in receipts:
            by_envelope.setdefault(r["envelope"], set()).add(r["index"])
            then = open_checkpoint(r["checkpoint"], vkey)
            proof = httpx.get(
                f"http://127.0.0.1:{ports[0]}/log/proof/consistency",
                params={"first": then.size, "second": final.size},
            ).json()
            if then.size < final.size:
                merkle.verify_consistency(
                    then.size,
                    final.size,
                    [base64.b64decode(h) for h in proof["hashes"]],
                    then.root,
                    final.root,
                )
            else:
                assert then.root == final.root
        # Each envelope has exactly one index, and every index is a different entry.
        assert all(len(ix) == 1 for ix in by_envelope.values())
        assert len(by_envelope) == len(envelopes)
        indexes = [next(iter(ix)) for ix in by_envelope.values()]
        assert len(set(indexes)) == len(envelopes)
        assert final.size == 4 + len(envelopes)  # genesis, actor and grant, then these
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(10)
    # audit checks every VIN chain, every hash and every checkpoint of every process
    out = vinledger("audit", data=data)
    assert out.stdout.startswith("audit OK:"), out.stdout + out.stderr
