"""Ed25519 keys (RFC 8032) as vinledger's partners hold and exchange them.

Keys travel as PEM files exactly as OpenSSL writes them: the private key in PKCS#8
(RFC 5208, RFC 8410 §7) from ``openssl genpkey -algorithm ed25519``, the public key
as a SubjectPublicKeyInfo (RFC 8410 §4) from ``openssl pkey -pubout``. A key's ID
is the lowercase hex SHA-256 of its raw 32-byte public key (DESIGN.md,
"Submissions"); the ledger uses it only to look the key up, never to trust it.

Everything here works on bytes in memory: reading the files is the caller's job.
"""

from __future__ import annotations

import functools
import hashlib
import re

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, rsa, x448, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from core.errors import InvalidKey

RAW_KEY_SIZE = 32
SIGNATURE_SIZE = 64
_HOW_TO_CREATE = "create one with `openssl genpkey -algorithm ed25519`"


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM, byte for byte what ``openssl genpkey`` writes."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """SubjectPublicKeyInfo PEM, byte for byte what ``openssl pkey -pubout`` writes."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def public_key_raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    if not isinstance(raw, bytes | bytearray) or len(raw) != RAW_KEY_SIZE:
        size = len(raw) if isinstance(raw, bytes | bytearray) else type(raw).__name__
        raise InvalidKey(f"an Ed25519 public key is {RAW_KEY_SIZE} raw bytes, got {size}")
    return _public_key(bytes(raw))


@functools.lru_cache(maxsize=1024)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    """One key object per raw key: it is immutable and says nothing of whether the key
    is still granted (the caller's key lookup does), so every check of a partner's
    signatures may share it, its ID and its raw bytes, instead of making them again
    (~6 µs each)."""
    key = Ed25519PublicKey.from_public_bytes(raw)
    if len(_KNOWN) >= 1024:
        _KNOWN.clear()
    _KNOWN[id(key)] = (key, hashlib.sha256(raw).hexdigest(), raw)
    return key


# Key objects made by ``_public_key``, by id() (they are not hashable), with their IDs
# and raw bytes. Each entry holds its object, so the id() cannot be reused while it is
# here.
_KNOWN: dict[int, tuple[Ed25519PublicKey, str, bytes]] = {}


def key_id(public_key: Ed25519PublicKey) -> str:
    """The ``keyid`` a submitter puts in its DSSE signatures."""
    known = _KNOWN.get(id(public_key))
    if known is not None and known[0] is public_key:
        return known[1]
    return hashlib.sha256(public_key_raw(public_key)).hexdigest()


def check_signing_key(raw: bytes) -> None:
    """Raises InvalidKey unless ``raw`` is a public key only its private key signs for.

    A point of small order, or one outside the curve's prime-order group, makes a
    key under which signatures can be made without the private key (for the identity
    point, one signature verifies for every message). No key generator makes one; a
    grant of one is refused, whoever asks.
    """
    if len(raw) != RAW_KEY_SIZE or not nacl.bindings.crypto_core_ed25519_is_valid_point(raw):
        raise InvalidKey(
            "this public key is not a point of the Ed25519 group that a private key makes "
            "(small order, or not canonical): signatures under it could be forged; make a "
            f"new key: {_HOW_TO_CREATE}"
        )


@functools.lru_cache(maxsize=1024)
def can_sign(raw: bytes) -> bool:
    """Whether ``raw`` passes ``check_signing_key`` (remembered: keys are few)."""
    try:
        check_signing_key(raw)
    except InvalidKey:
        return False
    return True


def verify_signature(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    """Raises InvalidSignature unless ``signature`` is ``public_key``'s over ``message``.

    Accepts exactly what ``Ed25519PublicKey.verify`` (OpenSSL) accepts, at about twice
    its speed: libsodium checks first, and it lets other threads run while it does.
    Both check the same equation; libsodium also refuses keys and R points of small
    order and keys outside the prime-order group, which OpenSSL accepts. So OpenSSL is
    asked only when libsodium refused for one of those reasons: no signature valid for
    other verifiers is refused here, and a forged one costs one check, not two. A
    signature of another length never reaches libsodium, which reads the signature and
    the message as one string: the bytes could be moved from one to the other.
    """
    known = _KNOWN.get(id(public_key))
    raw = known[2] if known is not None and known[0] is public_key else None
    if raw is None:
        raw = public_key_raw(public_key)
    if len(signature) == SIGNATURE_SIZE:
        try:
            nacl.bindings.crypto_sign_open(bytes(signature) + bytes(message), raw)
        except nacl.exceptions.BadSignatureError:
            if can_sign(raw) and not _small_order_r(signature):
                raise InvalidSignature from None
        else:
            return
    _openssl_verify(public_key, signature, message)


def _openssl_verify(public_key: Ed25519PublicKey, signature: bytes, message: bytes) -> None:
    public_key.verify(signature, message)  # raises InvalidSignature


# The y coordinates (sign bit ignored) that libsodium's ge25519_has_small_order refuses
# as a signature's R: the identity (1) and y = 0, -1 and the two order-8 values, and the
# non-canonical p and p + 1 (0 and 1 again).
_P = 2**255 - 19
_Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
_SMALL_ORDER_Y = frozenset({0, 1, _Y8, _P - _Y8, _P - 1, _P, _P + 1})


def _small_order_r(signature: bytes) -> bool:
    return int.from_bytes(signature[:32], "little") & (2**255 - 1) in _SMALL_ORDER_Y


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    """The Ed25519 key in a PKCS#8 PEM file; InvalidKey says why any other file is not."""
    label = _pem_label(pem)
    if label is None:
        raise InvalidKey(f"not a PEM file: expected an Ed25519 private key; {_HOW_TO_CREATE}")
    if label == "ENCRYPTED PRIVATE KEY":
        raise InvalidKey(
            "the private key is encrypted, which is not supported: decrypt it with "
            "`openssl pkey -in KEY -out KEY.plain` and keep that file private (mode 0600)"
        )
    if label == "OPENSSH PRIVATE KEY":
        raise InvalidKey(f"an OpenSSH private key, expected a PKCS#8 PEM file; {_HOW_TO_CREATE}")
    if label in ("PUBLIC KEY", "RSA PUBLIC KEY"):
        raise InvalidKey("a public key, expected the private key it belongs to")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        # cryptography says TypeError when a password would be needed (legacy
        # "Proc-Type: 4,ENCRYPTED" PEM); the label check above misses those.
        raise InvalidKey(
            "the private key is encrypted, which is not supported: decrypt it with "
            "`openssl pkey -in KEY -out KEY.plain`"
        ) from None
    except (ValueError, UnsupportedAlgorithm) as err:
        raise InvalidKey(
            f"cannot read the private key in this PEM file ({err}); {_HOW_TO_CREATE}"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidKey(f"{_describe(key)}, expected Ed25519: {_HOW_TO_CREATE}")
    return key


def load_public_key(data: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from a public PEM, a private PEM, or 32 raw bytes."""
    if isinstance(data, bytes | bytearray) and len(data) == RAW_KEY_SIZE:
        # No PEM file is this short, so 32 bytes can only be a raw key.
        return public_key_from_raw(data)
    label = _pem_label(data)
    if label is None:
        hint = " (an OpenSSH public key?)" if data.lstrip().startswith(b"ssh-") else ""
        raise InvalidKey(
            f"not a PEM file{hint}: expected an Ed25519 public key as written by "
            "`openssl pkey -in KEY -pubout`, or 32 raw bytes"
        )
    if label.endswith("PRIVATE KEY"):
        return load_private_key(data).public_key()
    if label != "PUBLIC KEY":
        raise InvalidKey(
            f"a PEM file holding {label!r}, expected 'PUBLIC KEY' as written by "
            "`openssl pkey -in KEY -pubout`"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm) as err:
        raise InvalidKey(f"cannot read the public key in this PEM file ({err})") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidKey(f"{_describe(key)}, expected Ed25519: {_HOW_TO_CREATE}")
    return key


def _pem_label(data: bytes) -> str | None:
    """The label (``PRIVATE KEY``…) of the PEM block holding a key, or None if no PEM.

    Blocks that hold no key, such as the ``EC PARAMETERS`` that ``openssl ecparam``
    writes first, are passed over so the error can name the key that is there.
    """
    if not isinstance(data, bytes | bytearray):
        return None
    labels = re.findall(rb"-----BEGIN ([A-Z0-9 ]+)-----", data)
    if not labels:
        return None
    keys = [label for label in labels if label.endswith(b"KEY")]
    return (keys or labels)[0].decode("ascii")


def _describe(key: object) -> str:
    """Names the kind of a key that is not Ed25519, for error messages."""
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "an Ed448 key"
    if isinstance(key, x25519.X25519PrivateKey | x25519.X25519PublicKey):
        return "an X25519 (key agreement) key"
    if isinstance(key, x448.X448PrivateKey | x448.X448PublicKey):
        return "an X448 (key agreement) key"
    if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
        return "a DSA key"
    return f"a {type(key).__name__}"
