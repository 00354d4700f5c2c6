"""ledger.checkpoint: C2SP tlog-checkpoint bodies and tlog-proof receipts."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidNote
from ledger import merkle
from ledger.checkpoint import (
    TLOG_PROOF_HEADER,
    Checkpoint,
    TlogProof,
    format_checkpoint,
    format_tlog_proof,
    parse_checkpoint,
    parse_tlog_proof,
)

# The example of c2sp.org/tlog-checkpoint.
SPEC_TEXT = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def signed(text: str) -> str:
    """A note with a signature-shaped line; signatures are core.note's business, not ours."""
    return text + "\n\u2014 example.com/log " + b64(b"\x01\x02\x03\x04" + bytes(64)) + "\n"


# ---- checkpoints --------------------------------------------------------------------


def test_spec_example():
    cp = parse_checkpoint(SPEC_TEXT)
    assert cp == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert format_checkpoint(cp) == SPEC_TEXT


def test_extension_lines_and_the_empty_tree():
    cp = Checkpoint("log.example/v1", 0, merkle.EMPTY_ROOT, ("ext one", "two"))
    text = format_checkpoint(cp)
    assert text == f"log.example/v1\n0\n{b64(merkle.EMPTY_ROOT)}\next one\ntwo\n"
    assert parse_checkpoint(text) == cp


line_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40)


@given(
    line_text,
    st.integers(0, 2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(line_text, max_size=3),
)
def test_checkpoints_round_trip(origin: str, size: int, root: bytes, extensions: list[str]):
    cp = Checkpoint(origin, size, root, tuple(extensions))
    text = format_checkpoint(cp)
    assert parse_checkpoint(text) == cp
    assert format_checkpoint(parse_checkpoint(text)) == text


BAD_CHECKPOINTS = {
    "no trailing newline": f"log\n1\n{ROOT_B64}",
    "no trailing newline after an extension": f"log\n1\n{ROOT_B64}\next",
    "two lines": "log\n1\n",
    "empty origin": f"\n1\n{ROOT_B64}\n",
    "leading zero": f"log\n01\n{ROOT_B64}\n",
    "negative": f"log\n-1\n{ROOT_B64}\n",
    "plus sign": f"log\n+1\n{ROOT_B64}\n",
    "space in size": f"log\n 1\n{ROOT_B64}\n",
    "empty size": f"log\n\n{ROOT_B64}\n",
    "non-ascii digit": f"log\n\u0661\n{ROOT_B64}\n",
    "size over uint64": f"log\n18446744073709551616\n{ROOT_B64}\n",
    "hex size": f"log\n0x10\n{ROOT_B64}\n",
    "root not base64": "log\n1\nnot base64!\n",
    "root of 31 bytes": f"log\n1\n{b64(bytes(31))}\n",
    "root of 33 bytes": f"log\n1\n{b64(bytes(33))}\n",
    "root unpadded": f"log\n1\n{ROOT_B64.rstrip('=')}\n",
    "root non-canonical": f"log\n1\n{ROOT_B64[:-2]}B=\n",
    "root urlsafe": f"log\n1\n{base64.urlsafe_b64encode(bytes([251] * 32)).decode()}\n",
    "empty extension": f"log\n1\n{ROOT_B64}\n\n",
    "crlf": f"log\r\n1\r\n{ROOT_B64}\r\n",
    "control in origin": f"l\x00og\n1\n{ROOT_B64}\n",
}


@pytest.mark.parametrize("text", BAD_CHECKPOINTS.values(), ids=BAD_CHECKPOINTS.keys())
def test_strict_parse_refuses(text: str):
    with pytest.raises(InvalidNote):
        parse_checkpoint(text)


@pytest.mark.parametrize(
    "cp",
    [
        Checkpoint("", 1, ROOT),
        Checkpoint("a\nb", 1, ROOT),
        Checkpoint("log", -1, ROOT),
        Checkpoint("log", 2**64, ROOT),
        Checkpoint("log", 1, ROOT[:31]),
        Checkpoint("log", 1, ROOT, ("",)),
        Checkpoint("log", 1, ROOT, ("a\nb",)),
    ],
)
def test_format_refuses_what_would_not_parse(cp: Checkpoint):
    with pytest.raises(ValueError):
        format_checkpoint(cp)


# ---- tlog-proof -------------------------------------------------------------------

H1, H2 = bytes([1] * 32), bytes([2] * 32)
NOTE = signed(f"example.com/log\n11\n{ROOT_B64}\n")


def test_exact_format_without_extra():
    text = format_tlog_proof(5, [H1, H2], NOTE)
    assert text == f"c2sp.org/tlog-proof@v1\nindex 5\n{b64(H1)}\n{b64(H2)}\n\n{NOTE}"
    assert parse_tlog_proof(text) == TlogProof(5, [H1, H2], NOTE, None)


def test_exact_format_with_extra():
    text = format_tlog_proof(10, [H1], NOTE, extra=b"extra information")
    assert text == (
        f"{TLOG_PROOF_HEADER}\nextra {b64(b'extra information')}\nindex 10\n{b64(H1)}\n\n{NOTE}"
    )
    assert parse_tlog_proof(text).extra == b"extra information"


def test_exact_format_without_hashes():
    note = signed(f"example.com/log\n1\n{ROOT_B64}\n")
    text = format_tlog_proof(0, [], note)
    assert text == f"c2sp.org/tlog-proof@v1\nindex 0\n\n{note}"
    assert parse_tlog_proof(text) == TlogProof(0, [], note, None)


def test_empty_extra_is_omitted():
    assert format_tlog_proof(5, [H1], NOTE, extra=b"") == format_tlog_proof(5, [H1], NOTE)


@given(
    st.integers(1, 2**63),
    st.data(),
    st.lists(st.binary(min_size=32, max_size=32), max_size=64),
    st.none() | st.binary(min_size=1, max_size=100),
)
def test_tlog_proofs_round_trip(size: int, data, hashes: list[bytes], extra: bytes | None):
    index = data.draw(st.integers(0, size - 1))
    note = signed(format_checkpoint(Checkpoint("example.com/log", size, ROOT)))
    text = format_tlog_proof(index, hashes, note, extra)
    assert parse_tlog_proof(text) == TlogProof(index, hashes, note, extra)


def test_receipt_verifies_against_its_checkpoint():
    leaves = [merkle.hash_leaf(bytes([i])) for i in range(7)]
    nodes = {(0, i): h for i, h in enumerate(leaves)}
    for level in (1, 2):
        for n in range(7 >> level):
            nodes[(level, n)] = merkle.hash_children(
                nodes[(level - 1, 2 * n)], nodes[(level - 1, 2 * n + 1)]
            )
    proof = merkle.inclusion_proof(5, 7, lambda cs: [nodes[c] for c in cs])
    note = signed(format_checkpoint(Checkpoint("example.com/log", 7, merkle.root(leaves))))

    receipt = parse_tlog_proof(format_tlog_proof(5, proof, note))
    cp = parse_checkpoint(receipt.checkpoint.partition("\n\n")[0] + "\n")
    merkle.verify_inclusion(leaves[5], receipt.index, cp.size, receipt.hashes, cp.root)


GOOD = f"c2sp.org/tlog-proof@v1\nextra {b64(b'x')}\nindex 5\n{b64(H1)}\n\n{NOTE}"

BAD_PROOFS = {
    "other version": GOOD.replace("@v1", "@v2"),
    "no header": GOOD.partition("\n")[2],
    "header with space": GOOD.replace("@v1\n", "@v1 \n"),
    "no index": f"c2sp.org/tlog-proof@v1\n{b64(H1)}\n\n{NOTE}",
    "index leading zero": GOOD.replace("index 5", "index 05"),
    "index negative": GOOD.replace("index 5", "index -5"),
    "index capitalised": GOOD.replace("index 5", "Index 5"),
    "index two spaces": GOOD.replace("index 5", "index  5"),
    "index beyond checkpoint": GOOD.replace("index 5", "index 11"),
    "extra after index": GOOD.replace(f"extra {b64(b'x')}\nindex 5", f"index 5\nextra {b64(b'x')}"),
    "extra not base64": GOOD.replace(f"extra {b64(b'x')}", "extra !!"),
    "extra empty": GOOD.replace(f"extra {b64(b'x')}", "extra "),
    "hash not base64": GOOD.replace(b64(H1), "not-a-hash"),
    "hash of 31 bytes": GOOD.replace(b64(H1), b64(bytes(31))),
    "no blank line": GOOD.replace("\n\n", "\n", 1),
    "crlf": GOOD.replace("\n", "\r\n"),
    "checkpoint unsigned": f"c2sp.org/tlog-proof@v1\nindex 5\n\nexample.com/log\n11\n{ROOT_B64}\n",
    "checkpoint garbage": "c2sp.org/tlog-proof@v1\nindex 5\n\nhello\n\n\u2014 sig\n",
    "checkpoint missing": "c2sp.org/tlog-proof@v1\nindex 5\n\n",
    "empty": "",
}


@pytest.mark.parametrize("text", BAD_PROOFS.values(), ids=BAD_PROOFS.keys())
def test_strict_tlog_proof_parse_refuses(text: str):
    assert parse_tlog_proof(GOOD).index == 5  # the base case is good; each edit breaks it
    with pytest.raises(InvalidNote):
        parse_tlog_proof(text)


def test_format_tlog_proof_refuses_bad_input():
    with pytest.raises(ValueError):
        format_tlog_proof(11, [H1], NOTE)  # index outside the checkpoint's tree
    with pytest.raises(ValueError):
        format_tlog_proof(1, [H1[:31]], NOTE)
    with pytest.raises(InvalidNote):
        format_tlog_proof(1, [H1], "example.com/log\n11\n" + ROOT_B64 + "\n")  # not signed
