"""C2SP tlog-checkpoint note bodies and C2SP tlog-proof receipts, as text.

A checkpoint (https://c2sp.org/tlog-checkpoint) is the text of a signed note:

    <origin>
    <tree size, ASCII decimal, no leading zeros>
    <base64 RFC 6962 root hash>
    [<extension line>...]

Signing and opening the note is core.note's job; this module only writes and
strictly reads its body.

A tlog-proof (https://c2sp.org/tlog-proof) is an offline receipt: an entry's index,
its RFC 6962 §2.1.1 inclusion proof, and the signed checkpoint it verifies against.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from dataclasses import dataclass

from core.errors import InvalidNote

HASH_SIZE = 32
MAX_SIZE = 2**64 - 1  # tree sizes and indexes are uint64 in every tlog implementation

# The spec's first line, verbatim: "The first line MUST be the string
# `c2sp.org/tlog-proof@v1`."
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"

_DECIMAL = re.compile(r"0|[1-9][0-9]*")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TlogProof:
    index: int
    hashes: list[bytes]
    checkpoint: str  # the signed note, verbatim; open it with the log's verifier key
    extra: bytes | None = None  # opaque and unauthenticated: never trust it


# ---- shared strict pieces -----------------------------------------------------------


def _has_control(line: str) -> bool:
    # signed-note text may hold no control characters besides the newlines between lines.
    return any(unicodedata.category(ch) == "Cc" for ch in line)


def _parse_decimal(what: str, text: str) -> int:
    if not _DECIMAL.fullmatch(text) or len(text) > 20 or int(text) > MAX_SIZE:
        raise InvalidNote(
            f"{what} {text!r} is not a decimal number below 2**64 without leading zeros"
        )
    return int(text)


def _parse_base64(what: str, text: str) -> bytes:
    """Standard base64 (RFC 4648 §4), in its one canonical spelling only."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidNote(f"{what} {text!r} is not standard base64") from None
    if base64.b64encode(raw).decode() != text:
        raise InvalidNote(f"{what} {text!r} is not canonical base64")
    return raw


def _parse_hash(what: str, text: str) -> bytes:
    raw = _parse_base64(what, text)
    if len(raw) != HASH_SIZE:
        raise InvalidNote(f"{what} is {len(raw)} bytes; a SHA-256 hash is {HASH_SIZE} bytes")
    return raw


def b64(raw: bytes) -> str:
    """Standard base64 text of ``raw`` (binascii: no newline, less call overhead)."""
    return binascii.b2a_base64(raw, newline=False).decode("ascii")


# ---- tlog-checkpoint ----------------------------------------------------------------


def format_checkpoint(cp: Checkpoint) -> str:
    """The note text of ``cp``, ending in a newline, ready to sign."""
    if not cp.origin or "\n" in cp.origin or _has_control(cp.origin):
        raise ValueError(f"the origin must be one non-empty line; got {cp.origin!r}")
    if not 0 <= cp.size <= MAX_SIZE:
        raise ValueError(f"the tree size must be 0 to 2**64-1; got {cp.size}")
    if len(cp.root) != HASH_SIZE:
        raise ValueError(f"the root is {len(cp.root)} bytes; a SHA-256 hash is {HASH_SIZE}")
    for ext in cp.extensions:
        if not ext or "\n" in ext or _has_control(ext):
            raise ValueError(f"an extension must be one non-empty line; got {ext!r}")
    lines = [cp.origin, str(cp.size), b64(cp.root), *cp.extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Strictly read a checkpoint note text; InvalidNote says what is wrong."""
    if not text.endswith("\n"):
        raise InvalidNote("a checkpoint's text must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidNote(
            "a checkpoint has at least three lines: origin, tree size and base64 root hash; "
            f"got {len(lines)}"
        )
    origin, size, root, *extensions = lines
    if not origin:
        raise InvalidNote("the checkpoint's origin line is empty")
    for line in lines:
        if _has_control(line):
            raise InvalidNote(f"checkpoint line {line!r} holds a control character")
    for ext in extensions:
        if not ext:
            raise InvalidNote("a checkpoint's extension lines must not be empty")
    return Checkpoint(
        origin=origin,
        size=_parse_decimal("the tree size", size),
        root=_parse_hash("the root hash", root),
        extensions=tuple(extensions),
    )


# ---- tlog-proof -------------------------------------------------------------------


def _checked_note(signed_checkpoint: str) -> Checkpoint:
    """The checkpoint in a signed note's body; the signatures are left to core.note."""
    body, sep, signatures = signed_checkpoint.partition("\n\n")
    if not sep or not signatures.endswith("\n"):
        raise InvalidNote(
            "the checkpoint must be a signed note: the body, a blank line, and signature "
            "lines each ending in a newline"
        )
    return parse_checkpoint(body + "\n")


def format_tlog_proof(
    index: int, hashes: list[bytes], signed_checkpoint: str, extra: bytes | None = None
) -> str:
    """A c2sp.org/tlog-proof@v1 receipt; ``extra`` None or empty omits the extra line."""
    cp = _checked_note(signed_checkpoint)
    if not 0 <= index < cp.size:
        raise ValueError(f"entry {index} is not in the checkpoint's tree of size {cp.size}")
    for i, h in enumerate(hashes):
        if len(h) != HASH_SIZE:
            raise ValueError(f"proof hash {i} is {len(h)} bytes; a SHA-256 hash is {HASH_SIZE}")
    lines = [TLOG_PROOF_HEADER]
    if extra:
        lines.append(f"extra {b64(extra)}")
    lines.append(f"index {index}")
    lines.extend(b64(h) for h in hashes)
    return "".join(line + "\n" for line in lines) + "\n" + signed_checkpoint


def parse_tlog_proof(text: str) -> TlogProof:
    """Strictly read a c2sp.org/tlog-proof@v1 receipt; InvalidNote says what is wrong."""
    # The proof lines hold no blank line, so the first one ends them and the signed
    # checkpoint follows verbatim.
    head, sep, note = text.partition("\n\n")
    if not sep:
        raise InvalidNote("a tlog-proof needs a blank line between the proof and the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise InvalidNote(f"a tlog-proof starts with the line {TLOG_PROOF_HEADER!r}")
    rest = lines[1:]
    extra = None
    if rest and rest[0].startswith("extra "):
        extra = _parse_base64("the extra data", rest.pop(0).removeprefix("extra "))
        if not extra:
            raise InvalidNote("the extra line is present but empty; omit it when there is none")
    if not rest or not rest[0].startswith("index "):
        raise InvalidNote("a tlog-proof needs an 'index <n>' line after the header")
    index = _parse_decimal("the index", rest.pop(0).removeprefix("index "))
    hashes = [_parse_hash(f"proof hash {i}", line) for i, line in enumerate(rest)]
    cp = _checked_note(note)
    if index >= cp.size:
        raise InvalidNote(f"entry {index} is not in the checkpoint's tree of size {cp.size}")
    return TlogProof(index=index, hashes=hashes, checkpoint=note, extra=extra)
