"""The RFC 9162 §2.1 Merkle tree with SHA-256: hashes, proofs from stored nodes, verification.

Hashing (RFC 9162 §2.1.1): a leaf is ``SHA-256(0x00 || entry)``, an interior node is
``SHA-256(0x01 || left || right)``, the empty tree is ``SHA-256("")``, and MTH splits
``n`` leaves at ``k``, the largest power of two smaller than ``n``.

Storage model (as golang.org/x/mod/sumdb/tlog): the log stores the hash of every
*perfect, aligned* subtree. Node ``(level, n)`` covers leaves ``[n * 2**level,
(n + 1) * 2**level)``; level 0 holds the leaf hashes. These nodes never change once
written, and any range that MTH visits is a handful of them, so a root or a proof
costs O(log n) node reads in one batch, never a rebuild.

Proof generation follows RFC 9162 §2.1.3.1 (PATH) and §2.1.4.1 (SUBPROOF);
verification follows §2.1.3.2 and §2.1.4.2 and raises :class:`ProofError`, never
returns a bool that a caller could forget to check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

from core.errors import ProofError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Coord = tuple[int, int]
"""A stored node: ``(level, n)`` covers leaves ``[n * 2**level, (n + 1) * 2**level)``."""

Reader = Callable[[Sequence[Coord]], Sequence[bytes]]
"""Reads stored nodes in one batch, answering their hashes in the order asked."""

Range = tuple[int, int]


# ---- hashing (RFC 9162 §2.1.1) ----------------------------------------------------


def hash_leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def hash_children(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH over leaves that are already hashed.

    Pairing each level and carrying an odd last node up unchanged builds exactly
    the tree of MTH's largest-power-of-two split, without recursion.
    """
    level = list(leaf_hashes)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        parents = [hash_children(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def _split(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _fold(hashes: Sequence[bytes]) -> bytes:
    """MTH of a range from its perfect pieces, left to right as subtree_coords gives them.

    Each piece is a left subtree of everything to its right, so MTH combines them
    from the right end inwards.
    """
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = hash_children(h, acc)
    return acc


# ---- which stored nodes a range needs -----------------------------------------------


def subtree_coords(lo: int, hi: int) -> list[Coord]:
    """The leaves ``[lo, hi)`` as maximal perfect aligned subtrees, left to right.

    For the ranges MTH visits this is tlog's subTreeIndex: a descending run of
    subtree heights whose hashes, folded right to left, give MTH of the range.
    """
    if not 0 <= lo <= hi:
        raise ValueError(f"need 0 <= lo <= hi; got lo={lo}, hi={hi}")
    coords: list[Coord] = []
    while lo < hi:
        # The biggest block that fits in what is left and is aligned where it starts.
        level = (hi - lo).bit_length() - 1
        if lo:
            level = min(level, (lo & -lo).bit_length() - 1)
        coords.append((level, lo >> level))
        lo += 1 << level
    return coords


def _hash_ranges(ranges: Sequence[Range], read: Reader) -> list[bytes]:
    """MTH of each range, from a single batch read of the stored nodes they need."""
    pieces = [subtree_coords(lo, hi) for lo, hi in ranges]
    coords = [c for piece in pieces for c in piece]
    if not coords:
        return []
    hashes = list(read(coords))
    if len(hashes) != len(coords):
        raise ValueError(f"storage answered {len(hashes)} hashes for {len(coords)} nodes")
    out, at = [], 0
    for piece in pieces:
        out.append(_fold(hashes[at : at + len(piece)]))
        at += len(piece)
    return out


# ---- roots and proofs from storage (RFC 9162 §2.1.3.1, §2.1.4.1) ---------------------


def tree_hash(size: int, read: Reader) -> bytes:
    """MTH of the first ``size`` leaves; reads nothing for the empty tree."""
    if size < 0:
        raise ValueError(f"tree size must be >= 0; got {size}")
    if size == 0:
        return EMPTY_ROOT
    return _hash_ranges([(0, size)], read)[0]


def _path_ranges(index: int, size: int) -> list[Range]:
    """The subtrees whose MTHs make PATH(index, D[0:size]), leaf's sibling first.

    PATH descends from the root, at each split recording the half that does not hold
    the leaf; the proof lists those from the bottom up.
    """
    lo, hi = 0, size
    ranges: list[Range] = []
    while hi - lo > 1:
        k = _split(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _subproof_ranges(m: int, n: int) -> list[Range]:
    """The subtrees whose MTHs make PROOF(m, D[0:n]) = SUBPROOF(m, D[0:n], true)."""
    lo, hi = 0, n
    ranges: list[Range] = []
    while m != hi:
        k = _split(hi - lo)
        if m <= lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    # b is still true only while the recursion stays at the left edge (lo == 0); there
    # the verifier already has the old root, so the subtree of m itself is left out.
    if lo != 0:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _path_parts(index: int, size: int) -> tuple[list[Coord], Range | None, list[Coord]]:
    """PATH(index, D[0:size]) bottom up, as stored nodes and at most one ragged range.

    Let ``fork`` be the highest ancestor of the leaf that is still a left neighbour of
    position ``size`` (their paths part at bit p, the top bit of index XOR size). Below
    the fork, the leaf's siblings are perfect nodes; beside it lies the range from the
    fork's end to ``size``, perfect only if empty (then it is left out); above it, the
    siblings are the perfect subtrees left of the fork, right to left.
    """
    p = (index ^ size).bit_length() - 1
    below = [(h, (index >> h) ^ 1) for h in range(p)]
    begin = (index >> p) << p
    end = begin + (1 << p)
    left = subtree_coords(0, begin)
    left.reverse()
    return below, ((end, size) if end < size else None), left


def inclusion_proof(index: int, size: int, read: Reader) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, from one batch read."""
    return inclusion_proofs([index], size, read)[index]


def inclusion_proofs(indexes: Iterable[int], size: int, read: Reader) -> dict[int, list[bytes]]:
    """PATH(i, D[0:size]) for each of ``indexes``, from one batch read.

    The proofs of neighbouring leaves share most of their nodes and their ragged
    range (a sequenced batch is a run of neighbours at the right edge), so each node
    is read and each ragged range folded once, however many proofs hold it.
    """
    parts: dict[int, tuple[list[Coord], Range | None, list[Coord]]] = {}
    for index in indexes:
        if not 0 <= index < size:
            raise ValueError(
                f"an inclusion proof needs 0 <= index < size; got index={index}, size={size}"
            )
        parts[index] = _path_parts(index, size)
    ragged = {r: subtree_coords(*r) for _, r, _ in parts.values() if r is not None}
    coords = list(
        dict.fromkeys(
            [c for below, _, left in parts.values() for c in (*below, *left)]
            + [c for pieces in ragged.values() for c in pieces]
        )
    )
    if not coords:
        return {index: [] for index in parts}
    hashes = list(read(coords))
    if len(hashes) != len(coords):
        raise ValueError(f"storage answered {len(hashes)} hashes for {len(coords)} nodes")
    node = dict(zip(coords, hashes, strict=True))
    folded = {r: _fold([node[c] for c in pieces]) for r, pieces in ragged.items()}
    proofs = {}
    for index, (below, r, left) in parts.items():
        proof = [node[c] for c in below]
        if r is not None:
            proof.append(folded[r])
        proof.extend(node[c] for c in left)
        proofs[index] = proof
    return proofs


def consistency_proof(size1: int, size2: int, read: Reader) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1, from one batch read."""
    if not 0 < size1 <= size2:
        raise ValueError(
            f"a consistency proof needs 0 < size1 <= size2; got size1={size1}, size2={size2} "
            "(a proof from the empty tree proves nothing)"
        )
    return _hash_ranges(_subproof_ranges(size1, size2), read)


# ---- the right edge of a growing tree ---------------------------------------------


class CompactRange:
    """The perfect subtrees ``subtree_coords(0, size)``: all a log needs to append.

    The sequencer loads these few nodes, appends a batch in memory and stores the
    nodes each append completes.
    """

    def __init__(self, size: int, hashes: Sequence[bytes]):
        if size < 0:
            raise ValueError(f"tree size must be >= 0; got {size}")
        want = len(self.coords(size))
        if len(hashes) != want:
            raise ValueError(
                f"a tree of {size} leaves has {want} right-edge nodes; got {len(hashes)} hashes"
            )
        self._size = size
        self._hashes = list(hashes)

    @staticmethod
    def coords(size: int) -> list[Coord]:
        return subtree_coords(0, size)

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[bytes]:
        return list(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf; answer the leaf node and every parent it completes, bottom up."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes; got {len(leaf_hash)}")
        level, n, acc = 0, self._size, leaf_hash
        completed = [(level, n, acc)]
        # Each trailing 1 bit of the old size is a perfect subtree waiting on the edge
        # for a right sibling of its height; the new leaf supplies them lowest first.
        while n & 1:
            acc = hash_children(self._hashes.pop(), acc)
            level, n = level + 1, n >> 1
            completed.append((level, n, acc))
        self._hashes.append(acc)
        self._size += 1
        return completed

    def root(self) -> bytes:
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT


# ---- verification (RFC 9162 §2.1.3.2, §2.1.4.2) -----------------------------------


def _check_hash(what: str, h: bytes) -> None:
    if len(h) != HASH_SIZE:
        raise ProofError(f"{what} is {len(h)} bytes; a SHA-256 hash is {HASH_SIZE} bytes")


def _hashes(n: int) -> str:
    return f"{n} hash" if n == 1 else f"{n} hashes"


def _check_path(path: Sequence[bytes], want: int, what: str) -> None:
    # The expected length comes from the same PATH/SUBPROOF shape the log used, so a
    # padded or truncated proof is refused with a message that says which it was.
    if len(path) != want:
        raise ProofError(f"{what} has {_hashes(want)}; this proof has {len(path)}")
    for i, h in enumerate(path):
        _check_hash(f"proof hash {i}", h)


def _mismatch(what: str, got: bytes, want: bytes) -> ProofError:
    return ProofError(f"the proof leads to {what} {got.hex()}, not the expected {want.hex()}")


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf_hash`` at ``index`` (§2.1.3.2 steps 1–4)."""
    if not 0 <= index < size:
        raise ProofError(
            f"leaf index {index} is not in a tree of size {size}; need 0 <= index < size"
        )
    _check_hash("the leaf hash", leaf_hash)
    _check_path(
        proof, len(_path_ranges(index, size)), f"an inclusion proof of leaf {index} of {size}"
    )
    # Steps 2-4 and the sn test of step 5, as the RFC writes them. The length check
    # above already rules out their failure branches; they stay as the RFC's guard.
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = hash_children(p, r)
            # fn is the last node of its level: skip the levels where it has no sibling.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = hash_children(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof stops short of the root")
    return r


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows leaf ``index`` of tree ``size`` is ``leaf_hash``."""
    _check_hash("the root", root)
    calculated = root_from_inclusion(leaf_hash, index, size, proof)
    if calculated != root:
        raise _mismatch("root", calculated, root)


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Raise ProofError unless ``proof`` shows tree ``size2`` extends tree ``size1``."""
    if size1 < 0 or size2 < size1:
        raise ProofError(f"need size1 <= size2; got size1={size1}, size2={size2}")
    if size1 == 0:
        # Every tree extends the empty one, so such a "proof" would check nothing.
        raise ProofError("a consistency proof from the empty tree proves nothing; use size1 > 0")
    if size1 == size2:
        # The same size must mean the same tree: no proof, only equal roots.
        if proof:
            raise ProofError(f"both trees have size {size1}; the proof must be empty")
        if root1 != root2:
            raise ProofError(f"two trees of size {size1} have different roots")
        return
    _check_hash("the first root", root1)
    _check_hash("the second root", root2)
    _check_path(
        proof,
        len(_subproof_ranges(size1, size2)),
        f"a consistency proof from {size1} to {size2}",
    )
    # Step 2: when size1 is a power of two, its root is the seed of both chains.
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    # Steps 3-4: skip the levels where the old tree's last node is a right child.
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    # Steps 5-7; as for inclusion, the sn checks back up the length check.
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = hash_children(c, fr)
            sr = hash_children(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            # Nodes right of the old tree count only towards the new root.
            sr = hash_children(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof stops short of the root")
    if fr != root1:
        raise _mismatch("first root", fr, root1)
    if sr != root2:
        raise _mismatch("second root", sr, root2)
