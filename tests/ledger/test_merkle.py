"""ledger.merkle against known answers, a naive RFC 9162 model, and mutated proofs."""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cached_property
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import ProofError
from ledger import merkle

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors" / "merkle"
INCLUSION = sorted(VECTORS.glob("inclusion/**/*.json"))
CONSISTENCY = sorted(VECTORS.glob("consistency/**/*.json"))


def _id(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


# ---- a naive model: RFC 9162 §2.1 written out as recursion ------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class NaiveTree:
    """MTH, PATH and SUBPROOF exactly as RFC 9162 §2.1 writes them, over hashed leaves."""

    def __init__(self, leaves: list[bytes]):
        self.leaves = leaves
        self._mth: dict[tuple[int, int], bytes] = {}

    def mth(self, lo: int, hi: int) -> bytes:
        if (lo, hi) not in self._mth:
            n = hi - lo
            if n == 0:
                h = hashlib.sha256(b"").digest()
            elif n == 1:
                h = self.leaves[lo]
            else:
                k = _k(n)
                h = hashlib.sha256(b"\x01" + self.mth(lo, lo + k) + self.mth(lo + k, hi)).digest()
            self._mth[(lo, hi)] = h
        return self._mth[(lo, hi)]

    def path(self, m: int, lo: int, hi: int) -> list[bytes]:
        n = hi - lo
        if n == 1:
            return []
        k = _k(n)
        if m < k:
            return [*self.path(m, lo, lo + k), self.mth(lo + k, hi)]
        return [*self.path(m - k, lo + k, hi), self.mth(lo, lo + k)]

    def subproof(self, m: int, lo: int, hi: int, b: bool) -> list[bytes]:
        n = hi - lo
        if m == n:
            return [] if b else [self.mth(lo, hi)]
        k = _k(n)
        if m <= k:
            return [*self.subproof(m, lo, lo + k, b), self.mth(lo + k, hi)]
        return [*self.subproof(m - k, lo + k, hi, False), self.mth(lo, lo + k)]

    @cached_property
    def nodes(self) -> dict[tuple[int, int], bytes]:
        """Every perfect aligned subtree: what the log stores."""
        out = {}
        level = 0
        while 1 << level <= len(self.leaves):
            width = 1 << level
            for n in range(len(self.leaves) // width):
                out[(level, n)] = self.mth(n * width, (n + 1) * width)
            level += 1
        return out


class CountingReader:
    def __init__(self, nodes: dict[tuple[int, int], bytes]):
        self.nodes = nodes
        self.calls: list[list[tuple[int, int]]] = []

    def __call__(self, coords):
        self.calls.append(list(coords))
        return [self.nodes[c] for c in coords]


def make_leaves(size: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.hash_leaf(salt + i.to_bytes(4, "big")) for i in range(size)]


def tree(size: int, salt: bytes = b"") -> NaiveTree:
    return NaiveTree(make_leaves(size, salt))


def log_bound(size: int) -> int:
    # One perfect sibling per level plus the pieces of at most one ragged range.
    return 2 * size.bit_length()


sizes = st.integers(min_value=1, max_value=300)
salts = st.binary(max_size=4)


# ---- known answers ------------------------------------------------------------------


def test_vectors_are_found():
    assert len(INCLUSION) > 50
    assert len(CONSISTENCY) > 50
    assert (VECTORS / "tree-8-leaves.json").is_file()


def test_tree_8_leaves_roots_of_every_prefix():
    data = json.loads((VECTORS / "tree-8-leaves.json").read_text())
    leaves = [merkle.hash_leaf(bytes.fromhex(x)) for x in data["leaves_hex"]]
    want = data["roots_hex_by_size"]
    assert len(want) == len(leaves) + 1
    rng = merkle.CompactRange(0, [])
    for size, root_hex in enumerate(want):
        assert merkle.root(leaves[:size]).hex() == root_hex
        assert rng.root().hex() == root_hex
        reader = CountingReader(NaiveTree(leaves[:size]).nodes)
        assert merkle.tree_hash(size, reader).hex() == root_hex
        if size < len(leaves):
            rng.append(leaves[size])


def test_empty_root_and_domain_separation():
    assert merkle.EMPTY_ROOT.hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.hash_leaf(b"x") == hashlib.sha256(b"\x00x").digest()
    assert merkle.hash_children(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    # A leaf never hashes like the node made of its bytes.
    assert merkle.hash_leaf(b"\x01ab") != merkle.hash_children(b"a", b"b")


@pytest.mark.parametrize("path", INCLUSION, ids=_id)
def test_inclusion_vector(path: Path):
    v = json.loads(path.read_text())
    proof = [_b64(h) for h in v["proof"] or []]
    args = (_b64(v["leafHash"]), v["leafIdx"], v["treeSize"], proof, _b64(v["root"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        assert merkle.verify_inclusion(*args) is None
        assert merkle.root_from_inclusion(*args[:4]) == args[4]


@pytest.mark.parametrize("path", CONSISTENCY, ids=_id)
def test_consistency_vector(path: Path):
    v = json.loads(path.read_text())
    proof = [_b64(h) for h in v["proof"] or []]
    args = (v["size1"], v["size2"], proof, _b64(v["root1"]), _b64(v["root2"]))
    if v["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        assert merkle.verify_consistency(*args) is None


def test_happy_vectors_match_our_proofs():
    """The happy-path proofs in the vectors are the ones we generate for the 8 classic leaves."""
    data = json.loads((VECTORS / "tree-8-leaves.json").read_text())
    leaves = [merkle.hash_leaf(bytes.fromhex(x)) for x in data["leaves_hex"]]
    checked = 0
    for path in INCLUSION + CONSISTENCY:
        v = json.loads(path.read_text())
        if v["wantErr"] or not v["proof"]:
            continue
        if "leafIdx" in v:
            reader = CountingReader(NaiveTree(leaves[: v["treeSize"]]).nodes)
            got = merkle.inclusion_proof(v["leafIdx"], v["treeSize"], reader)
        else:
            reader = CountingReader(NaiveTree(leaves[: v["size2"]]).nodes)
            got = merkle.consistency_proof(v["size1"], v["size2"], reader)
        assert got == [_b64(h) for h in v["proof"]], path
        checked += 1
    assert checked >= 8


# ---- subtree decomposition ----------------------------------------------------------


@given(st.integers(0, 5000), st.integers(0, 5000))
def test_subtree_coords_is_the_maximal_aligned_cover(a: int, b: int):
    lo, hi = min(a, b), max(a, b)
    coords = merkle.subtree_coords(lo, hi)
    at = lo
    for level, n in coords:
        assert n << level == at, "pieces are contiguous, left to right, and aligned"
        at += 1 << level
        parent_lo, parent_hi = (n >> 1) << (level + 1), ((n >> 1) + 1) << (level + 1)
        assert not (lo <= parent_lo and parent_hi <= hi), "a piece is maximal"
    assert at == hi


@given(sizes, salts)
def test_root_and_tree_hash_equal_naive_mth(size: int, salt: bytes):
    t = tree(size, salt)
    reader = CountingReader(t.nodes)
    assert merkle.root(t.leaves) == t.mth(0, size)
    assert merkle.tree_hash(size, reader) == t.mth(0, size)
    assert len(reader.calls) == 1
    assert len(reader.calls[0]) == size.bit_count()


def test_tree_hash_of_empty_tree_reads_nothing():
    reader = CountingReader({})
    assert merkle.tree_hash(0, reader) == merkle.EMPTY_ROOT
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert reader.calls == []


# ---- inclusion --------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(sizes, salts)
def test_every_inclusion_proof_is_path_and_verifies(size: int, salt: bytes):
    t = tree(size, salt)
    top = t.mth(0, size)
    for index in range(size):
        reader = CountingReader(t.nodes)
        proof = merkle.inclusion_proof(index, size, reader)
        assert proof == t.path(index, 0, size)
        assert len(reader.calls) == (1 if proof else 0)  # an empty proof reads nothing
        assert sum(map(len, reader.calls)) <= log_bound(size)
        merkle.verify_inclusion(t.leaves[index], index, size, proof, top)
        assert merkle.root_from_inclusion(t.leaves[index], index, size, proof) == top


@settings(max_examples=60, deadline=None)
@given(sizes, salts, st.data())
def test_many_inclusion_proofs_at_once_are_each_path_from_one_read(size: int, salt: bytes, data):
    t = tree(size, salt)
    top = t.mth(0, size)
    # A run of neighbours at the right edge (a sequenced batch) or any scattered set.
    if data.draw(st.booleans()):
        start = data.draw(st.integers(0, size - 1))
        indexes = list(range(start, size))
    else:
        indexes = data.draw(st.lists(st.integers(0, size - 1), max_size=30))
    reader = CountingReader(t.nodes)
    proofs = merkle.inclusion_proofs(indexes, size, reader)
    assert sorted(proofs) == sorted(set(indexes))
    for index, proof in proofs.items():
        assert proof == t.path(index, 0, size)
        merkle.verify_inclusion(t.leaves[index], index, size, proof, top)
    assert len(reader.calls) <= 1
    # It reads only nodes that the proofs one by one would have read.
    read = {c for call in reader.calls for c in call}
    assert read <= {c for i in proofs for c in _coords_of(i, size)}


def _coords_of(index: int, size: int) -> list[tuple[int, int]]:
    reader = CountingReader(tree(size).nodes)
    merkle.inclusion_proof(index, size, reader)
    return [c for call in reader.calls for c in call]


def test_many_inclusion_proofs_refuse_an_index_outside_the_tree():
    with pytest.raises(ValueError, match="0 <= index < size"):
        merkle.inclusion_proofs([0, 8], 8, CountingReader(tree(8).nodes))


def _flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8 % len(b)] ^= 1 << (bit % 8)
    return bytes(b)


@settings(max_examples=300, deadline=None)
@given(sizes, salts, st.data())
def test_mutated_inclusion_proofs_fail(size: int, salt: bytes, data):
    t = tree(size, salt)
    index = data.draw(st.integers(0, size - 1), label="index")
    leaf, top = t.leaves[index], t.mth(0, size)
    proof = merkle.inclusion_proof(index, size, CountingReader(t.nodes))
    kinds = ["add", "index", "size", "root", "leaf"] + (["flip", "drop"] if proof else [])
    kind = data.draw(st.sampled_from(kinds), label="mutation")
    args = [leaf, index, size, list(proof), top]
    if kind == "flip":
        i = data.draw(st.integers(0, len(proof) - 1))
        args[3][i] = _flip(proof[i], data.draw(st.integers(0, 255)))
    elif kind == "drop":
        del args[3][data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        extra = data.draw(st.sampled_from([top, leaf, *proof, bytes(32)]))
        args[3].insert(data.draw(st.integers(0, len(proof))), extra)
    elif kind == "index":
        args[1] = data.draw(st.integers(0, size + 3).filter(lambda i: i != index))
    elif kind == "size":
        # The new size comes with its own honest root: a proof binds the tree size.
        new = data.draw(st.integers(1, size + 300).filter(lambda s: s != size))
        bigger = tree(max(new, size), salt)
        args[2], args[4] = new, bigger.mth(0, new)
    elif kind == "root":
        args[4] = _flip(top, data.draw(st.integers(0, 255)))
    else:
        args[0] = _flip(leaf, data.draw(st.integers(0, 255)))
    with pytest.raises(ProofError):
        merkle.verify_inclusion(*args)


def test_inclusion_errors_say_what_is_wrong():
    t = tree(8)
    proof = merkle.inclusion_proof(3, 8, CountingReader(t.nodes))
    top = t.mth(0, 8)
    with pytest.raises(ProofError, match="has 3 hashes; this proof has 4"):
        merkle.verify_inclusion(t.leaves[3], 3, 8, [*proof, top], top)
    with pytest.raises(ProofError, match="proof hash 1 is 31 bytes"):
        merkle.verify_inclusion(t.leaves[3], 3, 8, [proof[0], proof[1][:31], proof[2]], top)
    with pytest.raises(ProofError, match="not in a tree of size 8"):
        merkle.verify_inclusion(t.leaves[3], 8, 8, proof, top)
    with pytest.raises(ProofError, match="not the expected"):
        merkle.verify_inclusion(t.leaves[2], 3, 8, proof, top)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (5, 5), (-1, 3), (7, 3)])
def test_inclusion_proof_refuses_out_of_range(index: int, size: int):
    with pytest.raises(ValueError):
        merkle.inclusion_proof(index, size, CountingReader({}))


def test_reader_answering_the_wrong_count_is_an_error():
    with pytest.raises(ValueError, match="storage answered"):
        merkle.inclusion_proof(0, 5, lambda coords: [bytes(32)])


# ---- consistency ------------------------------------------------------------------


@settings(deadline=None)
@given(st.integers(1, 70), salts)
def test_every_consistency_proof_of_a_tree_is_subproof_and_verifies(size2: int, salt: bytes):
    t = tree(size2, salt)
    for size1 in range(1, size2 + 1):
        reader = CountingReader(t.nodes)
        proof = merkle.consistency_proof(size1, size2, reader)
        assert proof == t.subproof(size1, 0, size2, True)
        assert len(reader.calls) == (1 if proof else 0)
        assert sum(map(len, reader.calls)) <= log_bound(size2)
        merkle.verify_consistency(size1, size2, proof, t.mth(0, size1), t.mth(0, size2))


@settings(max_examples=200, deadline=None)
@given(sizes, sizes, salts)
def test_random_consistency_proofs_are_subproof_and_verify(a: int, b: int, salt: bytes):
    size1, size2 = min(a, b), max(a, b)
    t = tree(size2, salt)
    reader = CountingReader(t.nodes)
    proof = merkle.consistency_proof(size1, size2, reader)
    assert proof == t.subproof(size1, 0, size2, True)
    assert len(reader.calls) <= 1
    assert sum(map(len, reader.calls)) <= log_bound(size2)
    merkle.verify_consistency(size1, size2, proof, t.mth(0, size1), t.mth(0, size2))


@settings(max_examples=300, deadline=None)
@given(sizes, sizes, salts, st.data())
def test_mutated_consistency_proofs_fail(a: int, b: int, salt: bytes, data):
    size1, size2 = min(a, b), max(a, b)
    t = tree(size2 + 300, salt)  # room to grow when the mutation is a bigger size
    root1, root2 = t.mth(0, size1), t.mth(0, size2)
    proof = merkle.consistency_proof(size1, size2, CountingReader(t.nodes))
    kinds = ["add", "size1", "size2", "root1", "root2"] + (["flip", "drop"] if proof else [])
    kind = data.draw(st.sampled_from(kinds), label="mutation")
    args = [size1, size2, list(proof), root1, root2]
    if kind == "flip":
        i = data.draw(st.integers(0, len(proof) - 1))
        args[2][i] = _flip(proof[i], data.draw(st.integers(0, 255)))
    elif kind == "drop":
        del args[2][data.draw(st.integers(0, len(proof) - 1))]
    elif kind == "add":
        extra = data.draw(st.sampled_from([root1, root2, *proof, bytes(32)]))
        args[2].insert(data.draw(st.integers(0, len(proof))), extra)
    elif kind == "size1":
        # Each size comes with its own honest root: the proof must bind the sizes.
        new = data.draw(st.integers(0, size2).filter(lambda s: s != size1))
        args[0], args[3] = new, t.mth(0, new)
    elif kind == "size2":
        new = data.draw(st.integers(size1, size2 + 300).filter(lambda s: s != size2))
        args[1], args[4] = new, t.mth(0, new)
    elif kind == "root1":
        args[3] = _flip(root1, data.draw(st.integers(0, 255)))
    else:
        args[4] = _flip(root2, data.draw(st.integers(0, 255)))
    with pytest.raises(ProofError):
        merkle.verify_consistency(*args)


def test_consistency_edge_cases():
    t = tree(5)
    r = t.mth(0, 5)
    merkle.verify_consistency(5, 5, [], r, r)
    with pytest.raises(ProofError, match="must be empty"):
        merkle.verify_consistency(5, 5, [r], r, r)
    with pytest.raises(ProofError, match="different roots"):
        merkle.verify_consistency(5, 5, [], r, t.mth(0, 4))
    with pytest.raises(ProofError, match="empty tree proves nothing"):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, r)
    with pytest.raises(ProofError, match="size1 <= size2"):
        merkle.verify_consistency(5, 4, [], r, t.mth(0, 4))
    with pytest.raises(ProofError, match="from 4 to 5 has 1 hash; this proof has 0"):
        merkle.verify_consistency(4, 5, [], t.mth(0, 4), r)
    with pytest.raises(ProofError, match="from 3 to 5 has 4 hashes; this proof has 1"):
        merkle.verify_consistency(3, 5, [r], t.mth(0, 3), r)


@pytest.mark.parametrize(("size1", "size2"), [(0, 0), (0, 4), (5, 4), (-1, 2)])
def test_consistency_proof_refuses_out_of_range(size1: int, size2: int):
    with pytest.raises(ValueError):
        merkle.consistency_proof(size1, size2, CountingReader({}))


# ---- the compact range ------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(sizes, salts)
def test_compact_range_appends_are_the_perfect_subtrees(size: int, salt: bytes):
    t = tree(size, salt)
    rng = merkle.CompactRange(0, [])
    stored: dict[tuple[int, int], bytes] = {}
    for i, leaf in enumerate(t.leaves):
        completed = rng.append(leaf)
        assert completed[0] == (0, i, leaf)
        assert [c[0] for c in completed] == list(range(len(completed)))
        for level, n, h in completed:
            assert (level, n) not in stored, "each node is completed exactly once"
            assert (n + 1) << level == i + 1, "a node is completed by its last leaf"
            stored[(level, n)] = h
        assert rng.size == i + 1
        assert rng.root() == t.mth(0, i + 1)
        assert rng.hashes == [stored[c] for c in merkle.CompactRange.coords(i + 1)]
    assert stored == t.nodes


@settings(max_examples=50, deadline=None)
@given(sizes, st.integers(0, 40), salts)
def test_compact_range_loaded_from_storage_continues(size: int, more: int, salt: bytes):
    t = tree(size + more, salt)
    coords = merkle.CompactRange.coords(size)
    rng = merkle.CompactRange(size, [t.nodes[c] for c in coords])
    assert rng.root() == t.mth(0, size)
    for i in range(size, size + more):
        for level, n, h in rng.append(t.leaves[i]):
            assert t.nodes[(level, n)] == h
        assert rng.root() == t.mth(0, i + 1)


def test_compact_range_refuses_the_wrong_shape():
    with pytest.raises(ValueError):
        merkle.CompactRange(3, [bytes(32)])
    with pytest.raises(ValueError):
        merkle.CompactRange(-1, [])
    with pytest.raises(ValueError):
        merkle.CompactRange(0, []).append(b"short")
