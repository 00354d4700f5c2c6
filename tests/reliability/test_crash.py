"""Kill the server with SIGKILL while records are being submitted; lose nothing.

Every submission answered 2xx must be in the log at the index and leaf hash it was
given, its inclusion proof must verify against the checkpoint it came with, every
checkpoint ever handed out must be consistent with the final one, and the whole log
must pass ``vinledger audit`` — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import queue
import random
import signal
import threading
import time

import httpx
import pytest

from core.keys import generate_private_key, private_key_to_pem, public_key_pem
from ledger import merkle
from ledger.signing import open_checkpoint
from tests.conftest import Partner, free_port, inspection, start_server, vinledger
from tests.reliability.conftest import vins

ROUNDS = 4
LOADERS = 3


@pytest.mark.slow
def test_sigkill_never_loses_an_acknowledged_record(data_dir, tmp_path):
    data, vkey = data_dir
    key = generate_private_key()
    (tmp_path / "k.pem").write_bytes(private_key_to_pem(key))
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
        inspector.envelope(inspection(vin=vin, km=1_000 * (day + 1), day=1 + day % 28))
        for day in range(10)
        for vin in vins(40)
    ]
    todo: queue.Queue[bytes] = queue.Queue()
    for env in envelopes:
        todo.put(env)
    acked: list[tuple[bytes, dict]] = []
    lock = threading.Lock()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rnd = random.Random(20261122)

    def load(stop: threading.Event) -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    env = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    r = client.post(url + "/records", content=env)
                except httpx.HTTPError:
                    todo.put(env)  # no answer: it may or may not be in; try again later
                    continue
                if r.status_code in (200, 201):
                    with lock:
                        acked.append((env, r.json()))
                else:
                    todo.put(env)
                    assert r.status_code >= 500, r.text  # never a 4xx for a valid record

    for _ in range(ROUNDS):
        proc, _ = start_server(data, port)
        stop = threading.Event()
        threads = [threading.Thread(target=load, args=(stop,)) for _ in range(LOADERS)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.3, 1.2))
        proc.send_signal(signal.SIGKILL)  # no shutdown, no flush: a power cut
        proc.wait()
        stop.set()
        for t in threads:
            t.join()
    assert acked, "nothing was acknowledged before the kills; the test proved nothing"

    proc, _ = start_server(data, port)
    try:
        with httpx.Client(timeout=30) as client:
            final = open_checkpoint(client.get(url + "/log/checkpoint").text, vkey)
            for env, receipt in acked:
                tile = client.get(
                    f"{url}/log/proof/inclusion",
                    params={"index": receipt["index"], "size": final.size},
                ).json()
                leaf = base64.b64decode(receipt["leaf_hash"])
                merkle.verify_inclusion(
                    leaf,
                    receipt["index"],
                    final.size,
                    [base64.b64decode(h) for h in tile["hashes"]],
                    final.root,
                )
                # The proof handed out then still holds against the checkpoint given then.
                then = open_checkpoint(receipt["checkpoint"], vkey)
                merkle.verify_inclusion(
                    leaf,
                    receipt["index"],
                    then.size,
                    [base64.b64decode(h) for h in receipt["inclusion_proof"]],
                    then.root,
                )
                if then.size < final.size:
                    c = client.get(
                        url + "/log/proof/consistency",
                        params={"first": then.size, "second": final.size},
                    ).json()
                    merkle.verify_consistency(
                        then.size,
                        final.size,
                        [base64.b64decode(h) for h in c["hashes"]],
                        then.root,
                        final.root,
                    )
                # Resubmitting after the crash finds the same entry, never a duplicate.
                again = client.post(url + "/records", content=env)
                assert again.status_code == 200 and again.json()["index"] == receipt["index"]
    finally:
        proc.terminate()
        proc.wait(10)
    indexes = [r["index"] for _, r in acked]
    assert len(set(indexes)) == len({e for e, _ in acked})  # one entry per envelope
    out = vinledger("audit", data=data)
    assert out.stdout.startswith("audit OK:"), out.stdout + out.stderr
