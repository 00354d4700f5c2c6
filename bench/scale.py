"""A 10M-entry log: server memory and inclusion-proof latency, against a 10k-entry log.

    python3 bench/scale.py                 # 10,000,000 entries (fill: several minutes)
    python3 bench/scale.py --quick         # 1,000,000 entries
    python3 bench/scale.py --entries N [--keep] [--rounds R] [--proofs P] [--profile]

The last row of the performance goals: with a 10M-entry log the server's RSS stays
at most 150 MB, and an inclusion proof at 10M costs at most 1.5 x what it costs at
10k (the baseline, measured in the same run).

Two data directories under /tmp/vinledger-scale, of 10,000 and of N entries, built
the same way: ``vinledger init`` (keys, schema, genesis entries 0-1), ``vinledger
actors add`` of one inspector (entries 2-3), both through the real sequencer; then
every other entry is bulk-inserted with sqlite3 ``executemany`` in big transactions
(``synchronous=OFF``, ``journal_mode=OFF`` during the fill, WAL again afterwards),
because appending 10M entries through the sequencer would take hours.

The bulk entries are synthetic odometer readings of 100,000 VINs, encoded exactly as
``encode_entry`` would (a template, checked byte for byte against ``encode_entry``
on a sample): real VIN chains (``vin_seq``, ``prev`` = the previous entry's leaf
hash), real envelope digests (the ``envelope_digest`` formula), leaf hashes
``SHA-256(0x00 || entry)``. Only the DSSE signatures are placeholders (64 bytes of
SHA-512, not Ed25519: signing 10M envelopes would cost more than the rest of the
fill), so ``vinledger audit --signatures`` would flag them; nothing here reads them.
The rows are those ``Sequencer.sequence`` writes (``entries``, ``nodes``, and at the
end one ``checkpoints`` row signed with the log key and ``log_state.size``). Tree
nodes are computed bottom-up in chunks of 65,536 leaves aligned to powers of two,
with the right edge (a compact range) carried between chunks, so memory stays flat.

Before timing, for each size: ``GET /log/checkpoint`` must verify with the log's
verifier key and carry the root computed during the fill (which must also equal
``merkle.tree_hash`` over the stored nodes), and inclusion proofs of the first, the
last and some random entries, fetched over HTTP, must verify against it for the
leaf hashes of the entry bundles served by ``/log/tile/entries/...``.

Timing: rounds alternate between the two sizes, so that each pair of rounds sees the
same machine weather (measured one size after the other, a 10M run once read 1.7x
while neighbours loaded the cores, and 1.1x a minute later). Each round starts
``python3 -m api.cli serve`` in a child process (one server at a time; sanity checks
the first time), warms it up with half a round of proofs and some read traffic, then
times ``GET /log/proof/inclusion?index=I&size=N`` for random I at the full size from
one sequential httpx client, then reads the checkpoint, a few hash tiles and entry
bundles (normal read traffic), and reads VmRSS and VmHWM from /proc/PID/status
before stopping the server. The latency ratio is taken per pair of rounds.
``LogReader.inclusion`` is also timed in-process (no HTTP) at both sizes, to tell
the storage's share from the web stack's. ``--profile`` (automatic when the latency
goal is missed) prints a cProfile of ``LogReader.inclusion`` at both sizes.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import hashlib
import io
import pstats
import random
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from common import ROOT, Stats, vin

from api.config import load_settings
from core import dsse
from core.keys import generate_private_key, key_id, private_key_to_pem
from core.records import parse_record
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.entry import FORMAT_VERSION, Entry, Signer, decode_entry, encode_entry
from ledger.reader import LogReader
from ledger.sequencer import format_time
from ledger.signing import LogSigner, open_checkpoint
from ledger.storage import Store
from ledger.tiles import TILE_WIDTH, decode_entry_bundle, format_tile_path

BASE_DIR = Path("/tmp/vinledger-scale")
SMALL = 10_000
CHUNK = 1 << 16  # leaves per fill transaction; a power of two, so chunks are aligned
VINS = 100_000  # distinct VINs of the synthetic entries (each one a chain)
ACTOR = "bench-inspections"
GOAL_LATENCY = 1.5  # proof latency at N / at 10k, at most
GOAL_RSS_MB = 150.0  # server RSS with the big log, at most
BYTES_PER_ENTRY = 1300  # disk per entry, measured (entry ~730 B, indexes, ~2 nodes)


# ---- building a log directly in storage --------------------------------------------


def _templates(kid: str, sequenced_at: str) -> bytes:
    """``encode_entry``'s output with %-holes: index, VIN, vin_seq, prev, payload, sig."""
    marker = Entry(
        v=FORMAT_VERSION,
        index=111_111_111,
        kind="odometer",
        vin="@VIN@",
        vin_seq=222_222_222,
        prev="@PREV@",
        sequenced_at=sequenced_at,
        signer=Signer(keyid=kid, actor_id=ACTOR),
        envelope=dsse.Envelope(
            payload="@PAYLOAD@",
            payload_type=dsse.PAYLOAD_TYPE,
            signatures=[dsse.Signature(keyid=kid, sig="@SIG@")],
        ),
    )
    text = encode_entry(marker).replace(b"%", b"%%")
    for hole, fmt in (
        (b"111111111", b"%d"),
        (b'"@VIN@"', b'"%s"'),
        (b"222222222", b"%d"),
        (b'"@PREV@"', b"%s"),  # null or a quoted base64 leaf hash
        (b'"@PAYLOAD@"', b'"%s"'),
        (b'"@SIG@"', b'"%s"'),
    ):
        assert text.count(hole) == 1, hole
        text = text.replace(hole, fmt)
    return text


_PAYLOAD = (
    b'{"kind":"odometer","vin":"%s","occurred_at":"%s","odometer_km":%d,"source":"inspection"}'
)
_PT = dsse.PAYLOAD_TYPE.encode()
_EPOCH = 1_700_000_000  # 2023-11-14; one reading every 3 s from there


@dataclass
class Built:
    size: int
    root: bytes
    fill_seconds: float
    db_bytes: int


class Filler:
    """Synthetic entries ``first .. total-1`` and every tree node of ``0 .. total-1``."""

    def __init__(self, db: sqlite3.Connection, first: int, kid: str):
        self.db = db
        self.first = first
        self.kid = kid
        self.kid_bytes = kid.encode()
        now = datetime.now(UTC)
        self.entry_time = format_time(now)  # as the sequencer writes it into the entry
        self.row_time = now.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores it
        self.template = _templates(kid, self.entry_time)
        self.vins = [vin(n).encode() for n in range(VINS)]
        self.heads: list[bytes] = [b"null"] * VINS  # JSON of each VIN chain's last leaf
        self.edge: list[tuple[int, int, bytes]] = []  # the compact range so far
        self.nodes = 0

    def entries(self, lo: int, hi: int) -> list[tuple]:
        rows = []
        sha256, sha512, b64 = hashlib.sha256, hashlib.sha512, base64.b64encode
        for i in range(lo, hi):
            s = i - self.first
            slot = s % VINS
            v, seq = self.vins[slot], s // VINS
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(_EPOCH + 3 * s)).encode()
            payload = _PAYLOAD % (v, at, 1_000 + 25 * seq + slot % 97)
            pae = b"DSSEv1 %d %b %d %b" % (len(_PT), _PT, len(payload), payload)
            sig = sha512(b"vinledger bench placeholder, not a signature" + pae).digest()
            digest = sha256(pae)
            digest.update(self.kid_bytes + b"\x00" + sig)
            data = self.template % (i, v, seq, self.heads[slot], b64(payload), b64(sig))
            leaf = sha256(b"\x00" + data).digest()
            self.heads[slot] = b'"' + b64(leaf) + b'"'
            rows.append(
                (
                    i,
                    leaf,
                    data,
                    digest.digest(),
                    "odometer",
                    v.decode(),
                    seq,
                    self.kid,
                    ACTOR,
                    self.row_time,
                )
            )
        return rows

    def _push(self, level: int, n: int, h: bytes, out: list[tuple]) -> None:
        """A finished perfect subtree on the right edge; merge it with its left siblings."""
        self.edge.append((level, n, h))
        while len(self.edge) > 1 and self.edge[-1][0] == self.edge[-2][0]:
            lv, _, right = self.edge.pop()
            _, ln, left = self.edge.pop()
            parent = (lv + 1, ln >> 1, merkle.hash_children(left, right))
            out.append(parent)
            self.edge.append(parent)

    def tree(self, lo: int, leaves: list[bytes]) -> list[tuple]:
        """The node rows completed by leaves ``lo ..``: per aligned block, level by level."""
        out: list[tuple] = []
        at = 0
        hc = merkle.hash_children
        for level, n in merkle.subtree_coords(lo, lo + len(leaves)):
            layer = leaves[at : at + (1 << level)]
            start = lo + at
            out.extend((0, start + k, h) for k, h in enumerate(layer))
            for lv in range(1, level + 1):
                layer = [hc(layer[k], layer[k + 1]) for k in range(0, len(layer), 2)]
                base = start >> lv
                out.extend((lv, base + k, h) for k, h in enumerate(layer))
            (top,) = layer
            self._push(level, n, top, out)
            at += 1 << level
        return out

    def run(self, total: int, progress: bool) -> bytes:
        db = self.db
        given = [bytes(r[0]) for r in db.execute("SELECT data FROM entries ORDER BY idx")]
        stored = [bytes(r[0]) for r in db.execute("SELECT leaf_hash FROM entries ORDER BY idx")]
        if len(given) != self.first or [merkle.hash_leaf(d) for d in given] != stored:
            raise SystemExit("the entries written by init/actors add are not what we expected")
        db.execute("DELETE FROM nodes")  # all nodes are written again below, from leaf 0
        start, last_report = time.perf_counter(), 0
        for lo in range(0, total, CHUNK):
            hi = min(total, lo + CHUNK)
            db.execute("BEGIN")
            rows = self.entries(max(lo, self.first), hi)
            db.executemany(
                "INSERT INTO entries (idx, leaf_hash, data, digest, kind, vin, vin_seq, "
                "keyid, actor_id, sequenced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            leaves = stored[lo:] if lo < self.first else []
            leaves += [r[1] for r in rows]
            nodes = self.tree(lo, leaves)
            db.executemany("INSERT INTO nodes (level, n, hash) VALUES (?, ?, ?)", nodes)
            db.execute("COMMIT")
            self.nodes += len(nodes)
            if lo == 0:
                check_template(rows[:50], self.kid, self.entry_time)
            if progress and (hi - last_report >= 1_000_000 or hi == total):
                last_report = hi
                t = time.perf_counter() - start
                print(f"    {hi:>12,} entries  {t:7.0f} s  {hi / t:9,.0f} /s", flush=True)
        return merkle._fold([h for _, _, h in self.edge])


def check_template(rows: list[tuple], kid: str, entry_time: str) -> None:
    """The template's bytes are ``encode_entry``'s, digests ``envelope_digest``'s."""
    for idx, leaf, data, digest, kind, v, seq, *_ in rows:
        entry = decode_entry(data)
        again = Entry(
            v=FORMAT_VERSION,
            index=idx,
            kind=kind,
            vin=v,
            vin_seq=seq,
            prev=entry.prev,
            sequenced_at=entry_time,
            signer=Signer(keyid=kid, actor_id=ACTOR),
            envelope=entry.envelope,
        )
        if encode_entry(again) != data or merkle.hash_leaf(data) != leaf:
            raise SystemExit(f"synthetic entry {idx} is not what encode_entry writes")
        if dsse.envelope_digest(entry.envelope) != digest:
            raise SystemExit(f"synthetic entry {idx}: digest is not envelope_digest")
        parse_record(dsse.payload_bytes(entry.envelope))  # a valid odometer record


def cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "api.cli", *args], cwd=ROOT, check=True, capture_output=True
    )


def build(data: Path, total: int, progress: bool) -> Built:
    """A data directory holding a genuine RFC 9162 tree of ``total`` entries."""
    if data.exists():
        shutil.rmtree(data)
    start = time.perf_counter()
    cli("init", "--data", str(data))
    key = generate_private_key()
    (data / "bench-inspector.key").write_bytes(private_key_to_pem(key))
    cli(
        "actors", "add", "--data", str(data), "Bench Inspections", "--id", ACTOR,
        "--role", "inspector", "--public-key", str(data / "bench-inspector.key"),
    )  # fmt: skip
    settings = load_settings(data)
    path = data / "ledger.db"
    db = sqlite3.connect(path, isolation_level=None)
    try:
        (first,) = db.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
        if total < first:
            raise SystemExit(f"need at least {first} entries")
        db.execute("PRAGMA journal_mode=OFF")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-2000000")  # 2 GB: the unique indexes stay in memory
        filler = Filler(db, first, key_id(key.public_key()))
        root = filler.run(total, progress)
    finally:
        db.close()

    # The final checkpoint and size, as the sequencer writes them (plain SQL, so this
    # does not depend on the Store's helpers, which change more often than the schema).
    signer = LogSigner(settings.origin, settings.log_key())
    note = signer.sign(Checkpoint(settings.origin, total, root))
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("BEGIN IMMEDIATE")

        def read(coords):
            query = "SELECT hash FROM nodes WHERE level = ? AND n = ?"
            return [db.execute(query, c).fetchone()[0] for c in coords]

        if merkle.tree_hash(total, read) != root:
            raise SystemExit("the stored nodes do not give the root computed while filling")
        db.execute(
            "INSERT INTO checkpoints (size, root, note, created_at) VALUES (?, ?, ?, ?)",
            (total, root, note, datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")),
        )
        moved = db.execute(
            "UPDATE log_state SET size = ? WHERE id = 1 AND size = ?", (total, first)
        )
        if moved.rowcount != 1:
            raise SystemExit("log_state.size moved during the fill")
        db.execute("COMMIT")
    finally:
        db.close()
    (data / "bench-root.hex").write_text(root.hex() + "\n")
    seconds = time.perf_counter() - start
    size = sum(f.stat().st_size for f in data.glob("ledger.db*"))
    print(
        f"  {total:,} entries, {filler.nodes:,} nodes, {size / 1e9:.2f} GB, {seconds:.0f} s",
        flush=True,
    )
    return Built(total, root, seconds, size)


def reuse(data: Path, total: int) -> Built | None:
    """A complete directory from an earlier ``--keep`` run, if there is one."""
    try:
        root = bytes.fromhex((data / "bench-root.hex").read_text().strip())
        with sqlite3.connect(f"file:{data / 'ledger.db'}?mode=ro", uri=True) as db:
            (size,) = db.execute("SELECT size FROM log_state WHERE id = 1").fetchone()
    except (OSError, ValueError, sqlite3.Error):
        return None
    if size != total:
        return None
    print(f"  reusing {data} ({total:,} entries, kept by an earlier --keep run)", flush=True)
    return Built(total, root, float("nan"), sum(f.stat().st_size for f in data.glob("ledger.db*")))


# ---- the server -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(data: Path, port: int) -> subprocess.Popen:
    log = (data / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--data", str(data), "--port", str(port)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the server exited ({proc.returncode}); see {data / 'serve.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the server on port {port} did not start")


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (10**6 bytes)."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024 / 1e6
    return out


def children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def sanity(c: httpx.Client, built: Built, vkey: str, rnd: random.Random) -> None:
    """The served checkpoint is signed and has our root; sampled proofs verify."""
    cp = open_checkpoint(c.get("/log/checkpoint").raise_for_status().text, vkey)
    if cp.size != built.size or cp.root != built.root:
        raise SystemExit(f"served checkpoint {cp.size} {cp.root.hex()} is not the one we built")
    n = built.size
    for i in [0, 1, 4, n - 1, *rnd.sample(range(n), 12)]:
        tile, width = i // TILE_WIDTH, TILE_WIDTH
        if (tile + 1) * TILE_WIDTH > n:
            width = n - tile * TILE_WIDTH
        bundle = c.get(f"/log/tile/{format_tile_path(None, tile, width)}").raise_for_status()
        entry = decode_entry_bundle(bundle.content)[i % TILE_WIDTH]
        if decode_entry(entry).index != i:
            raise SystemExit(f"entry bundle {tile} does not hold entry {i} where expected")
        got = c.get("/log/proof/inclusion", params={"index": i, "size": n}).raise_for_status()
        proof = [base64.b64decode(h) for h in got.json()["hashes"]]
        merkle.verify_inclusion(merkle.hash_leaf(entry), i, n, proof, cp.root)


def read_traffic(c: httpx.Client, n: int, rnd: random.Random) -> None:
    """What a monitor or a witness reads besides proofs: checkpoint, hash tiles, bundles."""
    c.get("/log/checkpoint").raise_for_status()
    full = n // TILE_WIDTH  # full tiles at level 0
    for level in (0, 1, 2):
        tiles = full // TILE_WIDTH**level
        if tiles:
            path = format_tile_path(level, rnd.randrange(tiles))
            assert len(c.get(f"/log/tile/{path}").raise_for_status().content) == 32 * TILE_WIDTH
    for _ in range(2):
        if full:
            c.get(f"/log/tile/{format_tile_path(None, rnd.randrange(full))}").raise_for_status()


@dataclass
class Measured:
    latencies: list[list[float]]  # seconds, per round
    rss: list[float]  # MB after each round
    hwm: list[float]  # MB, peak of each server process
    threads: int


def one_round(built: Built, data: Path, per_round: int, rnd: random.Random, m: Measured) -> None:
    """Start the server, (first time: sanity checks), warm up, time a round, stop it."""
    n = built.size
    proc = serve(data, port := free_port())
    try:
        if children(proc.pid):
            raise SystemExit("the server forked workers: its RSS alone would not be all of it")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as c:
            if not m.latencies:
                settings = load_settings(data)
                sanity(c, built, LogSigner(settings.origin, settings.log_key()).vkey, rnd)
            for _ in range(per_round // 2):  # warm-up
                c.get("/log/proof/inclusion", params={"index": rnd.randrange(n), "size": n})
            read_traffic(c, n, rnd)
            lat = []
            for i in [rnd.randrange(n) for _ in range(per_round)]:
                t = time.perf_counter()
                r = c.get("/log/proof/inclusion", params={"index": i, "size": n})
                lat.append(time.perf_counter() - t)
                if r.status_code != 200 or r.json()["index"] != i:
                    raise SystemExit(f"proof of {i}: {r.status_code} {r.text[:200]}")
            read_traffic(c, n, rnd)
        mem = memory_mb(proc.pid)
        m.threads = len(list(Path(f"/proc/{proc.pid}/task").iterdir()))
    finally:
        proc.terminate()
        proc.wait(30)
    m.latencies.append(lat)
    m.rss.append(mem["VmRSS"])
    m.hwm.append(mem["VmHWM"])
    print(
        f"    {n:>12,} entries, round {len(m.latencies)}: median "
        f"{statistics.median(lat) * 1000:.2f} ms, VmRSS {mem['VmRSS']:.1f} MB",
        flush=True,
    )


# ---- in process ------------------------------------------------------------------------


def in_process(dirs: dict[int, Path], count: int, rounds: int) -> dict[int, list[float]]:
    """Median µs of ``LogReader.inclusion`` per round and size, no HTTP; sizes alternate."""
    readers = {n: LogReader(Store(load_settings(d).database_url)) for n, d in dirs.items()}
    rnd = random.Random(5)
    out: dict[int, list[float]] = {n: [] for n in dirs}
    try:
        for r in range(rounds + 1):  # round 0 warms up
            for n, reader in readers.items():
                lat = []
                for i in [rnd.randrange(n) for _ in range(count)]:
                    t = time.perf_counter()
                    reader.inclusion(i, n)
                    lat.append(time.perf_counter() - t)
                if r:
                    out[n].append(statistics.median(lat) * 1e6)
    finally:
        for reader in readers.values():
            reader.store.dispose()
    return out


def profile(data: Path, n: int, count: int) -> str:
    store = Store(load_settings(data).database_url)
    reader = LogReader(store)
    rnd = random.Random(3)
    picks = [rnd.randrange(n) for _ in range(count)]
    for i in picks[: count // 4]:
        reader.inclusion(i, n)
    prof = cProfile.Profile()
    prof.enable()
    for i in picks:
        reader.inclusion(i, n)
    prof.disable()
    store.dispose()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(14)
    return out.getvalue()


def sqlite_shape(data: Path) -> str:
    """Pages and B-tree depth of the nodes table and its primary-key index."""
    with sqlite3.connect(f"file:{data / 'ledger.db'}?mode=ro", uri=True) as db:
        (pages,) = db.execute("PRAGMA page_count").fetchone()
        (page,) = db.execute("PRAGMA page_size").fetchone()
        try:
            rows = db.execute(
                "SELECT name, count(*), max(length(path) - length(replace(path, '/', ''))) "
                "FROM dbstat WHERE name IN ('nodes', 'sqlite_autoindex_nodes_1') GROUP BY name"
            ).fetchall()
            depth = ", ".join(f"{name}: {cnt:,} pages, depth {d}" for name, cnt, d in rows)
        except sqlite3.Error:
            depth = "(no dbstat)"
    return f"{pages * page / 1e9:.2f} GB in {pages:,} pages of {page} B; {depth}"


# ---- the table: goals here are upper bounds ---------------------------------------------


@dataclass(frozen=True)
class Line:
    what: str
    stats: Stats
    unit: str
    ratio: float | None = None
    limit: float | None = None  # at most this (ratio if ratio is set, else the median)
    note: str = ""


def table(lines: list[Line]) -> str:
    head = f"{'what':<52} {'median':>11}  {'spread':<52} {'ratio':>7}  {'goal':>10}  verdict"
    out = [head, "-" * len(head)]
    for r in lines:
        fmt = ",.0f" if r.stats.median >= 100 else ",.2f"
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        goal, verdict = "-", r.note
        if r.limit is not None:
            value = r.ratio if r.ratio is not None else r.stats.median
            goal = f"<={r.limit:g}" + ("x" if r.ratio is not None else f" {r.unit}")
            verdict = "PASS" if value <= r.limit else f"MISS ({value / r.limit:.2f}x over)"
        med = f"{r.stats.median:{fmt}} {r.unit}"
        out.append(
            f"{r.what:<52} {med:>11}  {r.stats.spread(fmt):<52} {ratio:>7}  {goal:>10}  {verdict}"
        )
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1,000,000 entries")
    ap.add_argument("--entries", type=int, default=10_000_000, help="entries in the big log")
    ap.add_argument("--rounds", type=int, default=7, help="rounds of proofs per size")
    ap.add_argument("--proofs", type=int, default=500, help="proofs per round")
    ap.add_argument("--keep", action="store_true", help=f"keep (and reuse) {BASE_DIR}/*")
    ap.add_argument("--profile", action="store_true", help="cProfile LogReader.inclusion")
    args = ap.parse_args()
    big = 1_000_000 if args.quick else args.entries
    if big <= SMALL:
        raise SystemExit(f"--entries must be more than {SMALL:,}")

    BASE_DIR.mkdir(parents=True, exist_ok=True)
    dirs = {SMALL: BASE_DIR / f"log-{SMALL}", big: BASE_DIR / f"log-{big}"}
    need = (big + SMALL) * BYTES_PER_ENTRY
    free = shutil.disk_usage(BASE_DIR).free
    if not all(d.exists() for d in dirs.values()) and free < need * 1.2:
        raise SystemExit(
            f"need about {need / 1e9:.1f} GB free in {BASE_DIR}, have {free / 1e9:.1f}"
        )

    built: dict[int, Built] = {}
    try:
        for n, d in dirs.items():
            print(f"building a log of {n:,} entries in {d} ...", flush=True)
            built[n] = (args.keep and reuse(d, n)) or build(d, n, progress=n > SMALL)

        print(
            f"{args.rounds} rounds of {args.proofs} proofs, the two sizes in turn; each round "
            "starts a server (sanity checks the first time), warms it up, times, stops it ...",
            flush=True,
        )
        measured = {n: Measured([], [], [], 0) for n in dirs}
        rnd = random.Random(2026)
        for _ in range(args.rounds):
            for n, d in dirs.items():
                one_round(built[n], d, args.proofs, rnd, measured[n])

        print("LogReader.inclusion in-process (no HTTP), the two sizes in turn ...", flush=True)
        direct = in_process(dirs, 1000, 5)
        shapes = {n: sqlite_shape(d) for n, d in dirs.items()}

        small, large = measured[SMALL], measured[big]
        ms = lambda m: Stats([x * 1000 for lat in m.latencies for x in lat])  # noqa: E731
        per_round = Stats(
            [
                statistics.median(b) / statistics.median(a)
                for a, b in zip(small.latencies, large.latencies, strict=True)
            ]
        )
        direct_ratio = Stats([b / a for a, b in zip(direct[SMALL], direct[big], strict=True)])
        lines = [
            Line(f"GET /log/proof/inclusion, {SMALL:,} entries", ms(small), "ms", note="baseline"),
            Line(f"GET /log/proof/inclusion, {big:,} entries", ms(large), "ms"),
            Line(
                f"  latency at {big:,} / at {SMALL:,}, per round",
                per_round,
                "x",
                per_round.median,
                GOAL_LATENCY,
            ),
            Line(f"server VmRSS after its round, {SMALL:,}", Stats(small.rss), "MB"),
            Line(
                f"server VmRSS after its round, {big:,}", Stats(large.rss), "MB", limit=GOAL_RSS_MB
            ),
            Line(
                f"server VmHWM (peak RSS) per server, {big:,}",
                Stats(large.hwm),
                "MB",
                limit=GOAL_RSS_MB,
            ),
            Line(f"LogReader.inclusion in-process, {SMALL:,}", Stats(direct[SMALL]), "us"),
            Line(f"LogReader.inclusion in-process, {big:,}", Stats(direct[big]), "us"),
            Line("  in-process ratio, per round", direct_ratio, "x", direct_ratio.median),
        ]
        fill = built[big].fill_seconds
        print(
            f"\n{big:,} entries against {SMALL:,}; fill of the big log "
            + ("reused" if fill != fill else f"{fill:.0f} s ({big / fill:,.0f} entries/s)")
            + f", {built[big].db_bytes / 1e9:.2f} GB on disk; one sequential client; "
            f"{args.rounds} rounds of {args.proofs} proofs; all sanity proofs verify; "
            f"server threads at the end: {small.threads} / {large.threads}; "
            f"VmHWM at {SMALL:,}: max {max(small.hwm):.1f} MB\n"
        )
        print(table(lines))
        for n in dirs:
            print(f"\nSQLite at {n:,}: {shapes[n]}")
        if args.profile or per_round.median > GOAL_LATENCY:
            for n, d in dirs.items():
                print(f"\ncProfile of 2,000 LogReader.inclusion at {n:,} entries:")
                print(profile(d, n, 2000))
    finally:
        if not args.keep:
            for d in dirs.values():
                shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
