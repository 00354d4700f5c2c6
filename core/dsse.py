"""DSSE v1: the signed envelope every submission travels in.

Implements the Dead Simple Signing Envelope, secure-systems-lab/dsse ``protocol.md``
(pre-authentication encoding, signing and verification) and ``envelope.md`` (the
JSON envelope), with Ed25519 signatures and vinledger's key IDs (core.keys).

Where vinledger is stricter than the envelope spec, it is on purpose:

- ``keyid`` is required and non-empty: the ledger finds the signer's key by it.
- Unknown fields are refused rather than ignored: the envelope is stored verbatim
  in the log entry, so it must hold nothing that nobody checked.
- At most ``MAX_SIGNATURES`` signatures, so a hostile envelope cannot make the
  server try thousands of them.
- No JSON object may repeat a key, in the envelope or in a JSON payload (a
  ``payloadType`` of ``application/json`` or ``…+json``): readers disagree on which
  copy counts, so one signature could stand for two different records.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import re

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core.errors import InvalidEnvelope, SignatureError
from core.fields import key_id_problem
from core.keys import SIGNATURE_SIZE, key_id, verify_signature
from core.strict_json import check_unique_keys, duplicate_key, json_problem

PAYLOAD_TYPE = "application/vnd.vinledger.record+json"
MAX_SIGNATURES = 8


class Signature(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    keyid: str
    sig: str


class Envelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    payload: str
    payload_type: str = msgspec.field(name="payloadType")
    signatures: list[Signature]


_decoder = msgspec.json.Decoder(Envelope)
_encoder = msgspec.json.Encoder()


def pae(payload_type: str, payload: bytes) -> bytes:
    """PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body.

    The lengths make the encoding self-delimiting, so no (type, body) pair can be
    passed off as another; LEN is the ASCII decimal byte length.
    """
    type_bytes = _utf8(payload_type, "payloadType")
    return b"DSSEv1 %d %b %d %b" % (len(type_bytes), type_bytes, len(payload), payload)


def sign_envelope(
    payload: bytes, private_key: Ed25519PrivateKey, payload_type: str = PAYLOAD_TYPE
) -> Envelope:
    if not payload_type:
        raise InvalidEnvelope("payloadType is empty; records use " + repr(PAYLOAD_TYPE))
    sig = private_key.sign(pae(payload_type, payload))
    return Envelope(
        payload=base64.b64encode(payload).decode("ascii"),
        payload_type=payload_type,
        signatures=[
            Signature(
                keyid=key_id(private_key.public_key()),
                sig=base64.b64encode(sig).decode("ascii"),
            )
        ],
    )


def encode_envelope(env: Envelope) -> bytes:
    return _encoder.encode(env)


def decode_envelope(data: bytes, *, payload_keys: bool = True) -> Envelope:
    """The envelope in ``data``; InvalidEnvelope names the first thing wrong with it.

    ``payload_keys``: also refuse a JSON payload that repeats a key
    (``check_payload_keys``); a caller that first looks the envelope up may do that
    itself afterwards."""
    try:
        env = _decoder.decode(data)
    except msgspec.ValidationError as err:
        raise InvalidEnvelope(
            f"not a DSSE envelope: {err}. Expected {_SHAPE}",
            field=_envelope_field(str(err)),
        ) from None
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
        raise InvalidEnvelope(f"not JSON (UTF-8): {json_problem(data, err)}", field="$") from None
    _check(env)
    if _keys_repeated(data, env) and (repeated := duplicate_key(data)) is not None:
        path = repeated[0].removeprefix("$.")  # as this module names envelope fields
        raise InvalidEnvelope(
            f"the envelope repeats the key {repeated[1]!r} in one object ({path}); send each "
            "key once",
            field=path,
        )
    if payload_keys:
        check_payload_keys(env)
    return env


_SHAPE = '{"payload": base64, "payloadType": str, "signatures": [{"keyid": hex, "sig": base64}]}'
_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_NAMED = re.compile(r"(?:unknown|required) field `([^`]+)`")


def _envelope_field(message: str) -> str:
    """The envelope field msgspec's ``message`` is about, as this module names them
    (``signatures[0].sig``); "$" for the envelope as a whole."""
    at = _AT.search(message)
    path = at.group(1) if at else ""
    if named := _NAMED.search(message):
        path = f"{path}.{named.group(1)}" if path else named.group(1)
    return path or "$"


def check_payload_keys(env: Envelope) -> None:
    """Raises InvalidRecord if the envelope's JSON payload repeats a key in one object."""
    if is_json_type(env.payload_type):
        check_unique_keys(payload_bytes(env), "the signed payload")


def payload_bytes(env: Envelope) -> bytes:
    return _payload_bytes(env.payload)


# Checking one submission reads its payload four times (envelope check, signature,
# record, digest); the text is immutable, so decode it once. A few entries suffice:
# the reads of one envelope follow each other.
@functools.lru_cache(maxsize=8)
def _payload_bytes(payload: str) -> bytes:
    return _b64decode(payload, "payload")


def verify_envelope(env: Envelope, public_key: Ed25519PublicKey) -> Signature:
    """The signature by ``public_key``, verified over PAE(payloadType, payload).

    Raises SignatureError when no signature carries the key's ID or one that does
    fails to verify; a signature that claims a key must be that key's.
    """
    kid = key_id(public_key)
    claimed = [s for s in env.signatures if s.keyid == kid]
    if not claimed:
        seen = ", ".join(s.keyid or "(empty)" for s in env.signatures) or "none"
        raise SignatureError(
            f"the envelope has no signature with keyid {kid} (keyids present: {seen}); "
            "sign it with that key and put its key ID in keyid"
        )
    message = pae(env.payload_type, payload_bytes(env))
    for s in claimed:
        field = f"signatures[{env.signatures.index(s)}].sig"
        sig = _b64decode(s.sig, field)
        if len(sig) != SIGNATURE_SIZE:
            raise SignatureError(
                f"{field} is {len(sig)} bytes; an Ed25519 signature is {SIGNATURE_SIZE}: "
                "send its raw bytes in base64 (not hex, not DER, not the base64 of a text)",
                field=field,
            )
        try:
            verify_signature(public_key, sig, message)
        except InvalidSignature:
            raise SignatureError(
                f"the signature with keyid {kid} does not verify: the payload, its "
                "payloadType or the signature was changed after signing, or another "
                "key signed it. Sign PAE(payloadType, payload) as DSSE v1 defines it "
                '("DSSEv1", the lengths in bytes, the decoded payload), not the payload '
                "or its base64 (docs/formats.md, Submissions)",
                field=field,
            ) from None
    return claimed[0]


def envelope_digest(env: Envelope, keyid: str | None = None) -> bytes:
    """SHA-256 identity of a signed record, blind to how its JSON and base64 were written.

    Hashes PAE(payloadType, payload) and then the signature as keyid || 0x00 ||
    decoded sig. PAE is self-delimiting, so two envelopes with the same digest always
    carry the same payload and payloadType. The ledger logs envelopes signed once
    (``check_signed_once``); for an entry logged before that rule, the checkers take
    the signatures with ``keyid`` (the entry's signer; ``None``: all), each once and
    sorted, so that a copy with another key's signature added, or its own repeated, is
    still known for the record it is.
    """
    h = hashlib.sha256(pae(env.payload_type, payload_bytes(env)))
    sigs = sorted(
        {
            (s.keyid.encode("utf-8"), _b64decode(s.sig, "sig"))
            for s in env.signatures
            if keyid is None or s.keyid == keyid
        }
    )
    for kid, sig in sigs:
        h.update(kid + b"\x00" + sig)
    return h.digest()


def check_signed_once(env: Envelope) -> None:
    """Raises InvalidEnvelope unless the envelope carries exactly one signature.

    DSSE allows several; the ledger logs an envelope signed once, by the key of the
    actor it is from. With several, the same signed record could come back with one
    added, removed or repeated and be taken for another (``envelope_digest``).
    """
    if len(env.signatures) != 1:
        raise InvalidEnvelope(
            f"the envelope carries {len(env.signatures)} signatures; sign it once, with "
            "your own granted key: the ledger logs an envelope signed once",
            field="signatures",
        )


def is_json_type(media_type: str) -> bool:
    """RFC 6839: ``application/json`` and every ``+json`` type are JSON."""
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


# ---- helpers ----------------------------------------------------------------


def _check(env: Envelope) -> None:
    """What the JSON schema alone cannot say about a decoded envelope."""
    if not env.payload_type:
        raise InvalidEnvelope(
            f"payloadType is empty; records use {PAYLOAD_TYPE!r}", field="payloadType"
        )
    _utf8(env.payload_type, "payloadType")
    payload_bytes(env)
    if not env.signatures:
        raise InvalidEnvelope("the envelope has no signatures; sign it", field="signatures")
    if len(env.signatures) > MAX_SIGNATURES:
        raise InvalidEnvelope(
            f"the envelope has {len(env.signatures)} signatures; at most {MAX_SIGNATURES} "
            "are accepted",
            field="signatures",
        )
    for i, s in enumerate(env.signatures):
        if not s.keyid:
            raise InvalidEnvelope(
                f"signatures[{i}].keyid is empty; set it to your key ID (the lowercase "
                "hex SHA-256 of your raw Ed25519 public key)",
                field=f"signatures[{i}].keyid",
            )
        _b64decode(s.sig, f"signatures[{i}].sig")
    _check_keyid_case(env.signatures)


def _check_keyid_case(signatures: list[Signature]) -> None:
    """A key ID in uppercase hex would find no key ("unknown key"); say why instead.

    Only when no signature carries a key ID as vinledger writes them, so an envelope
    that also carries someone else's signature, in their own spelling, still passes.
    """
    if any(key_id_problem(s.keyid) is None for s in signatures):
        return
    for i, s in enumerate(signatures):
        lower = s.keyid.lower()
        if s.keyid.isascii() and key_id_problem(lower) is None:
            raise InvalidEnvelope(
                f"signatures[{i}].keyid is in uppercase; key ids are lowercase hex: write {lower}",
                field=f"signatures[{i}].keyid",
            )


def _keys_repeated(data: bytes, env: Envelope) -> bool:
    """Whether ``data`` may hold a key twice: core.strict_json.duplicate_key's colon count,
    with the decoded side counted from ``env`` (every field is required and no other is
    allowed, so it holds 3 + 2 per signature keys; payload and sigs are base64 once
    ``_check`` passed, so colons in strings are the payloadType's and keyids'). ~1 µs.
    """
    counted = data
    if b"\\" in data and b"\\u003" in data:  # a colon written as an escape
        counted = data.replace(b"\\u003a", b":").replace(b"\\u003A", b":")
    colons = env.payload_type.count(":") + sum(s.keyid.count(":") for s in env.signatures)
    return counted.count(b":") != 3 + 2 * len(env.signatures) + colons


def _b64decode(text: str, what: str) -> bytes:
    """Standard or URL-safe base64, padded or not, as envelope.md allows.

    One string must keep to one alphabet; anything outside it is an error rather
    than silently skipped, as Python's lenient decoder would do.
    """
    urlsafe = "-" in text or "_" in text
    if urlsafe and ("+" in text or "/" in text):
        raise InvalidEnvelope(f"{what} mixes standard and URL-safe base64", field=what)
    if urlsafe:
        text = text.replace("-", "+").replace("_", "/")
    if "=" not in text:
        text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        wrapped = " (it holds a line break: send base64 on one line, unwrapped)"
        hint = wrapped if "\n" in text or "\r" in text else ""
        raise InvalidEnvelope(f"{what} is not base64{hint}", field=what) from None


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEnvelope(f"{what} is not valid Unicode text", field=what) from None
