"""core.note: the golang.org/x/mod/sumdb/note vector, malformed notes and keys, tampering."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import InvalidKey, InvalidNote, VerificationError
from core.keys import generate_private_key, public_key_raw
from core.note import (
    Note,
    NoteSignature,
    Verifier,
    key_hash,
    open_note,
    parse_note,
    parse_signer_key,
    parse_verifier_key,
    sign_note,
    signer_key_text,
    verifier_key_text,
)

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
VECTOR = json.loads((VECTORS / "signed-note.json").read_text(encoding="utf-8"))
ORIGIN = "vinledger.example/log"
KEY = generate_private_key()
VERIFIER = parse_verifier_key(verifier_key_text(ORIGIN, KEY.public_key()))
CHECKPOINT = "vinledger.example/log\n7\nG1vHdCy2C0uTlZ4ou/NQgVhdpL0uAHnGmOkIFHqUfHg=\n"


def vector_verifier() -> Verifier:
    return parse_verifier_key(VECTOR["verifier_key"])


def sig_line(name: str, raw: bytes) -> str:
    return f"— {name} {base64.b64encode(raw).decode()}\n"


# ---- the reference vector ---------------------------------------------------


def test_signing_the_vector_text_gives_the_vector_note():
    name, private_key = parse_signer_key(VECTOR["signer_key"])
    assert name == "PeterNeumann"
    assert sign_note(VECTOR["text"], name, private_key) == VECTOR["signed_note"]


def test_opening_the_vector_note():
    note = open_note(VECTOR["signed_note"], [vector_verifier()])
    assert note.text == VECTOR["text"]
    assert [s.name for s in note.signatures] == ["PeterNeumann"]
    assert note.signatures[0].key_hash == bytes.fromhex("c74f20a3")
    assert open_note(VECTOR["signed_note"].encode(), [vector_verifier()]) == note


def test_vector_key_texts():
    name, private_key = parse_signer_key(VECTOR["signer_key"])
    assert verifier_key_text(name, private_key.public_key()) == VECTOR["verifier_key"]
    assert signer_key_text(name, private_key) == VECTOR["signer_key"]
    verifier = vector_verifier()
    assert verifier.name == "PeterNeumann"
    assert verifier.key_hash == bytes.fromhex("c74f20a3")
    assert public_key_raw(verifier.public_key) == public_key_raw(private_key.public_key())


def test_key_hash_is_the_specs_formula():
    raw = public_key_raw(KEY.public_key())
    expected = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw).digest()[:4]
    assert key_hash(ORIGIN, raw) == expected
    assert VERIFIER.key_hash == expected


# ---- signing ----------------------------------------------------------------


def test_sign_and_open_a_checkpoint():
    signed = sign_note(CHECKPOINT, ORIGIN, KEY)
    assert signed.startswith(CHECKPOINT + "\n— vinledger.example/log ")
    assert signed.endswith("\n") and signed.count("\n") == CHECKPOINT.count("\n") + 2
    note = open_note(signed, [VERIFIER])
    assert note.text == CHECKPOINT
    sig = note.signatures[0]
    assert (sig.name, sig.key_hash) == (ORIGIN, VERIFIER.key_hash)
    KEY.public_key().verify(sig.signature, CHECKPOINT.encode())


@pytest.mark.parametrize(
    "text", ["a\n\nb\n", "a\n\n", "\n", "— looks like a signature line\n", "ünïcödé ✓\n"]
)
def test_texts_with_blank_lines_and_unicode_round_trip(text):
    assert open_note(sign_note(text, ORIGIN, KEY), [VERIFIER]).text == text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "end with a newline"),
        ("no newline", "end with a newline"),
        ("tab\there\n", r"'\\t' \(line 1\)"),
        ("windows\r\nline\n", r"\\n line endings"),
        ("nul\n\x00\n", r"'\\x00' \(line 2\)"),
        ("surrogate \ud800\n", "cannot contain"),
    ],
)
def test_sign_refuses_invalid_text(text, message):
    with pytest.raises(InvalidNote, match=message):
        sign_note(text, ORIGIN, KEY)


@pytest.mark.parametrize("name", ["", "has space", "has+plus", "nbsp\xa0", "ideo\u3000", "nl\n"])
def test_sign_refuses_invalid_names(name):
    with pytest.raises(InvalidKey, match="not valid"):
        sign_note(CHECKPOINT, name, KEY)
    with pytest.raises(InvalidKey):
        verifier_key_text(name, KEY.public_key())


# ---- verifier and signer keys -----------------------------------------------


def test_verifier_key_tolerates_a_trailing_newline():
    assert parse_verifier_key(VECTOR["verifier_key"] + "\n") == vector_verifier()


def vkey_with(alg_and_key: bytes, name: str = "PeterNeumann") -> str:
    khash = key_hash(name, alg_and_key[1:]).hex()
    return f"{name}+{khash}+{base64.b64encode(alg_and_key).decode()}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "malformed verifier key"),
        ("PeterNeumann", "malformed verifier key"),
        ("PeterNeumann+c74f20a3", "malformed verifier key"),
        ("+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "key name"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hexadecimal"),
        ("PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hexadecimal"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not base64"),
        ("PeterNeumann+c74f20a3+", "not base64"),
        ("PeterNeumann+c74f20a3+AhpjZA==", "signature type 0x02"),
        ("PeterNeumann+c74f20a3+ARpjZA==", "3 bytes, expected 32"),
    ],
)
def test_malformed_verifier_keys(text, message):
    with pytest.raises(InvalidKey, match=message):
        parse_verifier_key(text)


def test_verifier_key_with_wrong_length_but_right_hash():
    with pytest.raises(InvalidKey, match="33 bytes, expected 32"):
        parse_verifier_key(vkey_with(b"\x01" + b"k" * 33))


def test_malformed_signer_keys():
    good = VECTOR["signer_key"]
    with pytest.raises(InvalidKey, match="PRIVATE"):
        parse_signer_key(good.replace("PRIVATE+KEY", "PUBLIC+KEY"))
    with pytest.raises(InvalidKey, match="does not match"):
        parse_signer_key(good.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(InvalidKey, match="malformed"):
        parse_signer_key(VECTOR["verifier_key"])


# ---- parsing and opening ----------------------------------------------------


def test_parse_keeps_every_signature_and_open_only_verified_ones():
    stranger = generate_private_key()
    cosigned = sign_note(CHECKPOINT, "witness.example", stranger)
    both = cosigned + sign_note(CHECKPOINT, ORIGIN, KEY).removeprefix(CHECKPOINT + "\n")
    parsed = parse_note(both)
    assert [s.name for s in parsed.signatures] == ["witness.example", ORIGIN]
    opened = open_note(both, [VERIFIER])
    assert opened == Note(CHECKPOINT, [parsed.signatures[1]])
    assert isinstance(opened.signatures[0], NoteSignature)


def test_no_known_signature_lists_the_names():
    stranger = generate_private_key()
    signed = sign_note(CHECKPOINT, "witness.example", stranger)
    with pytest.raises(VerificationError, match=r"witness\.example") as err:
        open_note(signed, [VERIFIER])
    assert ORIGIN in str(err.value)
    with pytest.raises(VerificationError):
        open_note(signed, [])


def test_same_name_other_key_is_ignored_not_trusted():
    # Same name, different key: a different key hash, so an unknown key.
    impostor = sign_note(CHECKPOINT, ORIGIN, generate_private_key())
    with pytest.raises(VerificationError, match="not signed by a known key"):
        open_note(impostor, [VERIFIER])


def test_known_key_with_a_bad_signature_rejects_the_note():
    good = sign_note(CHECKPOINT, ORIGIN, KEY)
    forged = sig_line(ORIGIN, VERIFIER.key_hash + bytes(64))
    # Even next to a good signature, a known key's bad one rejects the note.
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(good + forged, [VERIFIER])


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (b"\xff\n\n" + sig_line("a", b"12345").encode(), "UTF-8"),
        ("text\n" + sig_line("a", b"12345"), "no blank line"),
        ("text\n\n", "end with a signature line"),
        ("text\n\n" + sig_line("a", b"12345").rstrip("\n"), "end with a signature line"),
        ("text\n\n- a " + base64.b64encode(b"12345").decode() + "\n", "em dash"),
        ("text\n\n—a " + base64.b64encode(b"12345").decode() + "\n", "em dash"),
        ("text\n\n" + sig_line("", b"12345"), "key name"),
        ("text\n\n" + sig_line("a+b", b"12345"), "key name"),
        ("text\n\n— a\n", "not base64"),
        ("text\n\n— a !!!!\n", "not base64"),
        ("text\n\n" + sig_line("a", b"1234"), "not base64 of key hash"),
        ("text\n\n— a QUJDREV=\n", "not base64 of key hash"),  # canonical: QUJDREU=
        ("te\rxt\n\n" + sig_line("a", b"12345"), "line endings"),
        ("text\n\n" + sig_line("a", b"12345") * 101, "101 signatures"),
    ],
)
def test_malformed_notes(msg, message):
    with pytest.raises(InvalidNote, match=message):
        parse_note(msg)
    with pytest.raises(InvalidNote):
        open_note(msg, [VERIFIER])


def test_one_hundred_signatures_are_parsed():
    assert len(parse_note("text\n\n" + sig_line("a", b"12345") * 100).signatures) == 100


@settings(max_examples=300)
@given(st.text() | st.binary())
def test_arbitrary_input_raises_only_note_errors(msg):
    try:
        note = parse_note(msg)
    except InvalidNote:
        pass
    else:
        assert note.text.endswith("\n") and note.signatures
    with pytest.raises((InvalidNote, VerificationError)):
        open_note(msg, [VERIFIER, vector_verifier()])


SIGNED_VECTOR = VECTOR["signed_note"].encode()


@settings(max_examples=300)
@given(
    position=st.integers(0, len(SIGNED_VECTOR) - 1),
    value=st.integers(0, 255),
)
def test_any_single_byte_change_fails_to_open(position, value):
    if SIGNED_VECTOR[position] == value:
        value ^= 0x01
    changed = bytearray(SIGNED_VECTOR)
    changed[position] = value
    with pytest.raises((InvalidNote, VerificationError)):
        open_note(bytes(changed), [vector_verifier()])


@settings(max_examples=100)
@given(
    text=st.text(
        st.characters(exclude_categories=["Cs"], exclude_characters="\r\t\x0b\x0c\x00")
    ).map(lambda t: t + "\n"),
    data=st.data(),
)
def test_signed_texts_open_and_any_changed_byte_fails(text, data):
    try:
        signed = sign_note(text, ORIGIN, KEY).encode()
    except InvalidNote:
        return  # other control characters, refused by design
    assert open_note(signed, [VERIFIER]).text == text
    position = data.draw(st.integers(0, len(signed) - 1))
    changed = bytearray(signed)
    changed[position] ^= data.draw(st.integers(1, 255))
    with pytest.raises((InvalidNote, VerificationError)):
        open_note(bytes(changed), [VERIFIER])
