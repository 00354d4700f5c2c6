"""C2SP signed notes with Ed25519 keys: how the log signs its checkpoints.

Implements c2sp.org/signed-note, following the reference implementation
golang.org/x/mod/sumdb/note (``Sign``, ``Open``, ``NewVerifier``, ``NewSigner``)
wherever the spec leaves a choice, so that notes signed here open there and back.

A signed note is the text (ending in a newline), a blank line, then signature lines
``— <key name> base64(key hash || signature)``. The key hash is
``SHA-256(name || 0x0A || 0x01 || public key)[:4]``; ``0x01`` is the Ed25519
signature type, the only one vinledger signs or accepts.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import InvalidKey, InvalidNote, VerificationError
from core.keys import public_key_raw, verify_signature

ALG_ED25519 = 0x01
MAX_SIGNATURES = 100  # Go's limit; the spec asks verifiers to accept at least 16
SIGNATURE_PREFIX = "— "  # U+2014 EM DASH, then a space

# The Unicode White_Space property, which the spec's "Unicode spaces" means (Go tests
# it with unicode.IsSpace). Python's str.isspace differs: it also counts U+001C–U+001F.
_UNICODE_SPACES = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")
# Any ASCII control character but newline, or a lone surrogate (not encodable as UTF-8).
_FORBIDDEN = re.compile(r"[\x00-\x09\x0b-\x1f\ud800-\udfff]")


@dataclass(frozen=True)
class Verifier:
    """A trusted public key, identified in notes by its name and key hash."""

    name: str
    key_hash: bytes
    public_key: Ed25519PublicKey


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_hash: bytes
    signature: bytes


@dataclass(frozen=True)
class Note:
    """A note's text and signatures; after ``open_note``, only the verified ones."""

    text: str
    signatures: list[NoteSignature]


# ---- keys -------------------------------------------------------------------


def key_hash(name: str, public_raw: bytes) -> bytes:
    """The 4-byte key ID the spec recommends for an Ed25519 key named ``name``."""
    material = name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_raw
    return hashlib.sha256(material).digest()[:4]


def verifier_key_text(name: str, public_key: Ed25519PublicKey) -> str:
    """``<name>+<hex key hash>+<base64(0x01 || public key)>``, the text clients pin."""
    _check_key_name(name)
    raw = public_key_raw(public_key)
    encoded = base64.b64encode(bytes([ALG_ED25519]) + raw).decode("ascii")
    return f"{name}+{key_hash(name, raw).hex()}+{encoded}"


def parse_verifier_key(text: str) -> Verifier:
    # Surrounding whitespace is never part of a key (names and base64 have none),
    # and key files usually end in a newline.
    name, hash_hex, key = _split_key(text.strip(), 3, "verifier key", "<name>+<hash>+<key>")
    expected_hash = _parse_hash(hash_hex)
    raw = _parse_ed25519_key(key, "verifier key")
    _check_key_name(name)
    if key_hash(name, raw) != expected_hash:
        raise InvalidKey(
            f"verifier key hash {hash_hex} does not match its name and key "
            f"(they give {key_hash(name, raw).hex()}); the key text was altered"
        )
    return Verifier(name, expected_hash, Ed25519PublicKey.from_public_bytes(raw))


def signer_key_text(name: str, private_key: Ed25519PrivateKey) -> str:
    """Go's ``PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || seed)>``. Keep it secret."""
    _check_key_name(name)
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    khash = key_hash(name, public_key_raw(private_key.public_key()))
    encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{khash.hex()}+{encoded}"


def parse_signer_key(text: str) -> tuple[str, Ed25519PrivateKey]:
    fields = "PRIVATE+KEY+<name>+<hash>+<key>"
    private, key_word, name, hash_hex, key = _split_key(text.strip(), 5, "signer key", fields)
    if (private, key_word) != ("PRIVATE", "KEY"):
        raise InvalidKey(f"a signer key starts with PRIVATE+KEY+, expected {fields}")
    expected_hash = _parse_hash(hash_hex)
    private_key = Ed25519PrivateKey.from_private_bytes(_parse_ed25519_key(key, "signer key"))
    _check_key_name(name)
    if key_hash(name, public_key_raw(private_key.public_key())) != expected_hash:
        raise InvalidKey(f"signer key hash {hash_hex} does not match its name and key")
    return name, private_key


# ---- notes ------------------------------------------------------------------


def sign_note(text: str, name: str, private_key: Ed25519PrivateKey) -> str:
    """``text`` signed by ``private_key`` under ``name``, as a signed note."""
    _check_key_name(name)
    if not text.endswith("\n"):
        raise InvalidNote("a note's text must be non-empty and end with a newline")
    _check_characters(text)
    message = text.encode("utf-8")
    khash = key_hash(name, public_key_raw(private_key.public_key()))
    signature = base64.b64encode(khash + private_key.sign(message)).decode("ascii")
    return f"{text}\n{SIGNATURE_PREFIX}{name} {signature}\n"


def parse_note(msg: str | bytes) -> Note:
    """The text and signature lines of a signed note, none of them verified."""
    if isinstance(msg, bytes | bytearray):
        try:
            msg = bytes(msg).decode("utf-8")
        except UnicodeDecodeError as err:
            raise InvalidNote(f"a signed note must be UTF-8: {err}") from None
    _check_characters(msg)
    # The text may hold blank lines itself; the last one separates it from the
    # signatures, which can hold none.
    split = msg.rfind("\n\n")
    if split < 0:
        raise InvalidNote("no blank line between the note's text and its signatures")
    text, block = msg[: split + 1], msg[split + 2 :]
    if not block.endswith("\n"):
        raise InvalidNote("a signed note must end with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidNote(f"the note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    return Note(text, [_parse_signature_line(line) for line in lines])


def open_note(msg: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """The note in ``msg`` if a key in ``verifiers`` signed it; raises otherwise.

    As the spec requires, signatures by unknown keys (name and key hash not both
    matching a verifier) are ignored, every signature by a known key must verify,
    and at least one must. The returned note holds only the verified signatures.
    """
    note = parse_note(msg)
    known = {(v.name, v.key_hash): v for v in verifiers}
    message = note.text.encode("utf-8")
    verified = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_hash))
        if verifier is None:
            continue
        try:
            verify_signature(verifier.public_key, sig.signature, message)
        except InvalidSignature:
            raise VerificationError(
                f"the signature by {sig.name}+{sig.key_hash.hex()} does not verify: the "
                "note was changed after it was signed"
            ) from None
        verified.append(sig)
    if not verified:
        seen = ", ".join(f"{s.name}+{s.key_hash.hex()}" for s in note.signatures)
        wanted = ", ".join(f"{v.name}+{v.key_hash.hex()}" for v in verifiers) or "none given"
        raise VerificationError(
            f"the note is not signed by a known key: it is signed by {seen}; "
            f"the trusted keys are {wanted}"
        )
    return Note(note.text, verified)


# ---- helpers ----------------------------------------------------------------


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIGNATURE_PREFIX):
        raise InvalidNote(
            f"signature line {line[:40]!r} does not start with an em dash (U+2014) and a space"
        )
    name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
    if not _is_key_name(name):
        raise InvalidNote(f"signature line {line[:40]!r} has no valid key name")
    raw = _b64decode_canonical(encoded)
    # Four bytes of key hash and at least one of signature, as Go requires.
    if raw is None or len(raw) < 5:
        raise InvalidNote(f"the signature by {name} is not base64 of key hash || signature")
    return NoteSignature(name, raw[:4], raw[4:])


def _check_characters(text: str) -> None:
    bad = _FORBIDDEN.search(text)
    if bad is None:
        return
    char = bad.group()
    line = text.count("\n", 0, bad.start()) + 1
    hint = " (notes use \\n line endings)" if char == "\r" else ""
    raise InvalidNote(f"a signed note cannot contain {char!r} (line {line}){hint}")


def _is_key_name(name: str) -> bool:
    return bool(name) and "+" not in name and _UNICODE_SPACES.isdisjoint(name)


def _check_key_name(name: str) -> None:
    if not _is_key_name(name):
        raise InvalidKey(
            f"key name {name!r} is not valid: it must be non-empty, without spaces or '+' "
            "(the log's origin, such as example.com/log, is a good name)"
        )
    if _FORBIDDEN.search(name):
        raise InvalidKey(f"key name {name!r} contains a control character")


def _split_key(text: str, count: int, what: str, layout: str) -> list[str]:
    # Split at the first count-1 pluses only: the base64 key may contain '+' itself.
    parts = text.split("+", count - 1)
    if len(parts) != count:
        raise InvalidKey(f"malformed {what}: expected {layout}")
    return parts


def _parse_hash(hash_hex: str) -> bytes:
    if not _HEX8.fullmatch(hash_hex):
        raise InvalidKey(f"key hash {hash_hex!r} is not 8 hexadecimal digits")
    return bytes.fromhex(hash_hex)


def _parse_ed25519_key(encoded: str, what: str) -> bytes:
    raw = _b64decode_canonical(encoded)
    if not raw:
        raise InvalidKey(f"the {what}'s key is not base64")
    if raw[0] != ALG_ED25519:
        raise InvalidKey(
            f"the {what} is for signature type 0x{raw[0]:02x}; only Ed25519 (0x01) is supported"
        )
    if len(raw) != 33:
        raise InvalidKey(f"the {what}'s Ed25519 key is {len(raw) - 1} bytes, expected 32")
    return raw[1:]


def _b64decode_canonical(encoded: str) -> bytes | None:
    """Standard padded base64 in its one canonical spelling, or None.

    Rejecting non-canonical spellings (stray low bits before the padding) means a
    signed note has exactly one byte form, so no two distinct notes open alike.
    """
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if base64.b64encode(raw).decode("ascii") == encoded else None
