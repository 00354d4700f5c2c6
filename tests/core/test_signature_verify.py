"""core.keys.verify_signature accepts exactly what OpenSSL accepts, and the ledger
grants no key under which signatures can be made without its private key."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidKey, InvalidRecord
from core.keys import (
    check_signing_key,
    public_key_from_raw,
    public_key_pem,
    public_key_raw,
    verify_signature,
)
from ledger.storage import get_actor, log_size

# RFC 8032 §7.1, TEST 1 (empty message) and TEST 2 (one byte).
RFC8032 = [
    (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
        "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]

# Encodings of points of small order (RFC 8032 §5.1.3 decoding; y little-endian,
# the top bit the sign of x): the identity (0, 1), (0, -1) of order 2, and (±i, 0) of
# order 4.
P = 2**255 - 19
IDENTITY = (1).to_bytes(32, "little")
SMALL_ORDER = [
    IDENTITY,
    (P - 1).to_bytes(32, "little"),
    bytes(32),
    bytes(31) + b"\x80",
]


def openssl_accepts(raw: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(sig, msg)
    except (InvalidSignature, ValueError):
        return False
    return True


def accepts(raw: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        verify_signature(public_key_from_raw(raw), sig, msg)
    except InvalidSignature:
        return False
    return True


@pytest.mark.parametrize(("public", "message", "signature"), RFC8032)
def test_rfc8032_vectors_verify_and_every_flipped_bit_fails(public, message, signature):
    raw, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    assert accepts(raw, sig, msg)
    for i in range(len(sig) * 8):
        bad = bytearray(sig)
        bad[i // 8] ^= 1 << (i % 8)
        assert not accepts(raw, bytes(bad), msg), f"bit {i} of the signature"
    assert not accepts(raw, sig, msg + b"\x00")


def test_signature_bytes_moved_into_the_message_do_not_verify():
    """libsodium reads signature and message as one string; a 65-byte "signature"
    that took the message's first byte must not verify the message without it."""
    key = Ed25519PrivateKey.generate()
    msg = b"payloadType and payload"
    sig = key.sign(msg)
    public = key.public_key()
    verify_signature(public, sig, msg)
    with pytest.raises(InvalidSignature):
        verify_signature(public, sig + msg[:1], msg[1:])
    with pytest.raises(InvalidSignature):
        verify_signature(public, sig[:63], sig[63:] + msg)


def test_what_libsodium_refuses_and_openssl_accepts_is_still_accepted():
    """Under the identity point, R = identity and S = 0 verify for any message in
    OpenSSL (the ledger's reference behaviour, and other verifiers'); libsodium refuses
    them. The log keeps OpenSSL's answer, so an entry valid elsewhere is valid here."""
    sig = IDENTITY + bytes(32)
    for msg in (b"", b"any message at all"):
        assert openssl_accepts(IDENTITY, sig, msg)
        assert accepts(IDENTITY, sig, msg)


L = 2**252 + 27742317777372353535851937790883648493


def _identity_r_signature(seed: bytes, msg: bytes) -> tuple[bytes, bytes]:
    """A signature by ``seed``'s holder whose R is the identity point: S = h·a mod L.
    RFC 8032's equation holds, so OpenSSL accepts it; libsodium refuses any R of small
    order. Only the private key's holder can make one."""
    raw = public_key_raw(Ed25519PrivateKey.from_private_bytes(seed).public_key())
    a = bytearray(hashlib.sha512(seed).digest()[:32])
    a[0] &= 248
    a[31] = (a[31] & 127) | 64
    h = int.from_bytes(hashlib.sha512(IDENTITY + raw + msg).digest(), "little")
    s = h * int.from_bytes(a, "little") % L
    return raw, IDENTITY + s.to_bytes(32, "little")


@pytest.mark.parametrize("msg", [b"", b"inspection payload"])
def test_a_valid_key_with_a_small_order_r_is_still_accepted(msg):
    import nacl.bindings
    import nacl.exceptions

    raw, sig = _identity_r_signature(bytes(range(32)), msg)
    with pytest.raises(nacl.exceptions.BadSignatureError):
        nacl.bindings.crypto_sign_open(sig + msg, raw)
    assert openssl_accepts(raw, sig, msg)
    assert accepts(raw, sig, msg)
    assert not accepts(raw, sig, msg + b"!")


def test_a_forged_signature_under_a_valid_key_is_checked_once(monkeypatch):
    """What libsodium refuses under a key of the prime-order group, with an R not of
    small order, OpenSSL refuses too: it is not asked again (a forgery costs one check)."""
    import core.keys

    asked = []
    real = core.keys._openssl_verify
    monkeypatch.setattr(core.keys, "_openssl_verify", lambda *args: asked.append(1) or real(*args))
    key = Ed25519PrivateKey.generate()
    raw = public_key_raw(key.public_key())
    sig = bytearray(key.sign(b"m"))
    sig[40] ^= 1
    assert not accepts(raw, bytes(sig), b"m")
    assert asked == []
    raw_r, sig_r = _identity_r_signature(bytes(32), b"m")
    assert accepts(raw_r, sig_r, b"m") and asked == [1]
    assert accepts(IDENTITY, IDENTITY + bytes(32), b"m") and asked == [1, 1]


@pytest.mark.parametrize("raw", SMALL_ORDER, ids=["identity", "order-2", "order-4", "order-4-"])
def test_small_order_keys_cannot_be_granted(raw):
    with pytest.raises(InvalidKey, match="could be forged"):
        check_signing_key(raw)


def test_generated_keys_can_be_granted():
    for _ in range(20):
        check_signing_key(public_key_raw(Ed25519PrivateKey.generate().public_key()))


@given(
    seed=st.binary(min_size=32, max_size=32),
    msg=st.binary(max_size=300),
    where=st.sampled_from(["none", "sig", "msg", "key", "length"]),
    at=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
)
def test_accepts_exactly_what_openssl_accepts(seed, msg, where, at, bit):
    key = Ed25519PrivateKey.from_private_bytes(seed)
    raw = public_key_raw(key.public_key())
    sig = key.sign(msg)
    if where == "sig":
        sig = _flip(sig, at, bit)
    elif where == "msg" and msg:
        msg = _flip(msg, at, bit)
    elif where == "key":
        raw = _flip(raw, at, bit)
        try:
            public_key_from_raw(raw)
        except InvalidKey:
            return
    elif where == "length" and at % 2:
        sig, msg = sig + msg[:1], msg[1:]  # libsodium would read the same string
    elif where == "length":
        sig, msg = sig[:-1], sig[-1:] + msg
    assert accepts(raw, sig, msg) == openssl_accepts(raw, sig, msg)


@given(raw=st.binary(min_size=32, max_size=32), sig=st.binary(min_size=64, max_size=64))
def test_random_keys_and_signatures_agree_with_openssl(raw, sig):
    msg = hashlib.sha256(raw + sig).digest()
    try:
        public_key_from_raw(raw)
    except InvalidKey:
        return
    assert accepts(raw, sig, msg) == openssl_accepts(raw, sig, msg)


@pytest.mark.parametrize("raw", SMALL_ORDER[:2], ids=["identity", "order-2"])
def test_a_small_order_key_grant_is_refused_and_changes_nothing(ledger, raw):
    """Under the identity key anyone signs anything (see above): the operator cannot
    grant it, by mistake or otherwise, and the refusal logs nothing."""
    size = _size(ledger)
    pem = public_key_pem(public_key_from_raw(raw))
    with pytest.raises(InvalidRecord, match="could be forged") as err:
        ledger.add_actor("weak-key-inspections", "Weak Key Inspections", "inspector", pem)
    assert err.value.field == "public_key"
    assert _size(ledger) == size
    with ledger.store.reader() as s:
        assert get_actor(s, "weak-key-inspections") is None


def _size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def _flip(data: bytes, at: int, bit: int) -> bytes:
    out = bytearray(data)
    out[at % len(out)] ^= 1 << bit
    return bytes(out)


def test_a_small_order_key_granted_before_signs_nothing_new(ledger):
    """A ledger upgraded from a release that granted such keys: the forged signature
    verifies (as OpenSSL says), and the ledger still logs nothing it signs."""
    import json

    from sqlalchemy import insert

    from core import dsse
    from core.errors import Forbidden
    from ledger.schema import KeyRow
    from tests.conftest import VIN, onboard

    onboard(ledger, "tiny-insp", "inspector")
    weak_id = hashlib.sha256(IDENTITY).hexdigest()
    with ledger.store.writing() as s:  # as the earlier release's grant left it
        s.execute(
            insert(KeyRow),
            [{"key_id": weak_id, "actor_id": "tiny-insp", "public_key": IDENTITY,
              "granted_idx": _size(ledger) - 1, "revoked_idx": None}],
        )  # fmt: skip
    record = {"kind": "odometer", "vin": VIN, "occurred_at": "2026-05-04T09:30:00Z",
              "odometer_km": 999_999, "source": "inspection"}  # fmt: skip
    payload = json.dumps(record).encode()
    forged = dsse.Envelope(
        payload=base64.b64encode(payload).decode(),
        payload_type=dsse.PAYLOAD_TYPE,
        signatures=[
            dsse.Signature(keyid=weak_id, sig=base64.b64encode(IDENTITY + bytes(32)).decode())
        ],
    )
    verify_signature(
        public_key_from_raw(IDENTITY), IDENTITY + bytes(32), dsse.pae(dsse.PAYLOAD_TYPE, payload)
    )
    size = _size(ledger)
    (outcome,) = ledger.submit_now([dsse.encode_envelope(forged)])
    assert isinstance(outcome, Forbidden), outcome
    assert "small order" in str(outcome) and "keys revoke" in str(outcome)
    assert _size(ledger) == size
