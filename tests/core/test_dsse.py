"""core.dsse: the DSSE protocol.md PAE vector, round trips, and tampering of every kind."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core import dsse
from core.errors import InvalidEnvelope, SignatureError
from core.keys import generate_private_key, key_id

VECTORS = Path(__file__).resolve().parents[2].parent / "shared" / "vectors"
KEY = generate_private_key()
OTHER_KEY = generate_private_key()
RECORD = b'{"kind": "inspection", "vin": "LSVAU218XN2183294", "note": "180 \xc2\xb5m"}'


def resign(env: dsse.Envelope, **changes) -> dsse.Envelope:
    return msgspec.structs.replace(env, **changes)


def with_sig(env: dsse.Envelope, sig: bytes, keyid: str | None = None) -> dsse.Envelope:
    s = env.signatures[0]
    new = dsse.Signature(s.keyid if keyid is None else keyid, base64.b64encode(sig).decode())
    return resign(env, signatures=[new])


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def envelope_json(**fields) -> bytes:
    doc = {
        "payload": base64.b64encode(RECORD).decode(),
        "payloadType": dsse.PAYLOAD_TYPE,
        "signatures": [{"keyid": "ab" * 32, "sig": base64.b64encode(b"s" * 64).decode()}],
    }
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


# ---- known answers ----------------------------------------------------------


def test_pae_vector():
    vector = json.loads((VECTORS / "dsse-pae.json").read_text())
    got = dsse.pae(vector["payload_type"], vector["payload_utf8"].encode())
    assert got == vector["pae_utf8"].encode()


def test_pae_counts_bytes_not_characters():
    assert dsse.pae("t/é", "µ".encode()) == "DSSEv1 4 t/é 2 µ".encode()
    assert dsse.pae("", b"") == b"DSSEv1 0  0 "


# ---- signing and verifying --------------------------------------------------


def test_round_trip():
    env = dsse.sign_envelope(RECORD, KEY)
    wire = dsse.encode_envelope(env)
    doc = json.loads(wire)
    assert set(doc) == {"payload", "payloadType", "signatures"}
    assert doc["payloadType"] == "application/vnd.vinledger.record+json"
    assert base64.b64decode(doc["payload"]) == RECORD
    assert doc["signatures"][0]["keyid"] == key_id(KEY.public_key())

    decoded = dsse.decode_envelope(wire)
    assert decoded == env
    assert dsse.payload_bytes(decoded) == RECORD
    sig = dsse.verify_envelope(decoded, KEY.public_key())
    assert sig == env.signatures[0]
    # The signature really is over PAE, not over the bare payload.
    KEY.public_key().verify(base64.b64decode(sig.sig), dsse.pae(dsse.PAYLOAD_TYPE, RECORD))


def test_other_payload_type():
    env = dsse.sign_envelope(b"hello", KEY, payload_type="text/plain")
    assert env.payload_type == "text/plain"
    dsse.verify_envelope(env, KEY.public_key())


def test_a_different_key_raises():
    env = dsse.sign_envelope(RECORD, KEY)
    other = OTHER_KEY.public_key()
    with pytest.raises(SignatureError, match=key_id(other)):
        dsse.verify_envelope(env, other)
    # Claiming the other key's ID does not help: the signature still is KEY's.
    claimed = resign(env, signatures=[dsse.Signature(key_id(other), env.signatures[0].sig)])
    with pytest.raises(SignatureError, match="does not verify"):
        dsse.verify_envelope(claimed, other)


def test_finds_its_signature_among_several():
    env = dsse.sign_envelope(RECORD, KEY)
    theirs = dsse.sign_envelope(RECORD, OTHER_KEY).signatures[0]
    both = resign(env, signatures=[theirs, env.signatures[0]])
    assert dsse.verify_envelope(both, KEY.public_key()) == env.signatures[0]
    assert dsse.verify_envelope(both, OTHER_KEY.public_key()) == theirs


@settings(max_examples=60)
@given(payload=st.binary(max_size=300), data=st.data())
def test_flipping_any_payload_bit_breaks_the_signature(payload, data):
    env = dsse.sign_envelope(payload, KEY)
    dsse.verify_envelope(env, KEY.public_key())
    if not payload:
        payload, env = b"\x00", resign(env, payload=base64.b64encode(b"\x00").decode())
    else:
        bit = data.draw(st.integers(0, len(payload) * 8 - 1))
        env = resign(env, payload=base64.b64encode(flip(payload, bit)).decode())
    with pytest.raises(SignatureError):
        dsse.verify_envelope(env, KEY.public_key())


@settings(max_examples=60)
@given(data=st.data())
def test_flipping_any_payload_type_bit_breaks_the_signature(data):
    env = dsse.sign_envelope(RECORD, KEY)
    position = data.draw(st.integers(0, len(env.payload_type) - 1))
    bit = data.draw(st.integers(0, 6))  # stays ASCII, so the type is still text
    chars = list(env.payload_type)
    chars[position] = chr(ord(chars[position]) ^ (1 << bit))
    with pytest.raises(SignatureError):
        dsse.verify_envelope(resign(env, payload_type="".join(chars)), KEY.public_key())


@settings(max_examples=60)
@given(bit=st.integers(0, 64 * 8 - 1))
def test_flipping_any_signature_bit_breaks_it(bit):
    env = dsse.sign_envelope(RECORD, KEY)
    sig = base64.b64decode(env.signatures[0].sig)
    with pytest.raises(SignatureError):
        dsse.verify_envelope(with_sig(env, flip(sig, bit)), KEY.public_key())


@pytest.mark.parametrize("size", [0, 1, 63, 65])
def test_truncated_or_padded_signature(size):
    env = dsse.sign_envelope(RECORD, KEY)
    sig = base64.b64decode(env.signatures[0].sig)
    forged = (sig + b"\x00")[:size]
    with pytest.raises(SignatureError):
        dsse.verify_envelope(with_sig(env, forged), KEY.public_key())


# ---- decoding ---------------------------------------------------------------


def test_accepts_url_safe_and_unpadded_base64():
    payload = b"\xfb\xff\xfe" * 5 + b"?"  # encodes with '+', '/' and padding
    env = dsse.sign_envelope(payload, KEY)
    sig = base64.b64decode(env.signatures[0].sig)
    url = envelope_json(
        payload=base64.urlsafe_b64encode(payload).decode().rstrip("="),
        signatures=[
            {"keyid": env.signatures[0].keyid, "sig": base64.urlsafe_b64encode(sig).decode()}
        ],
    )
    decoded = dsse.decode_envelope(url)
    assert dsse.payload_bytes(decoded) == payload
    dsse.verify_envelope(decoded, KEY.public_key())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b"\xff", "not JSON"),
        (b"[]", "not a DSSE envelope"),
        (envelope_json(payload=...), "missing required field `payload`"),
        (envelope_json(payloadType=...), "missing required field `payloadType`"),
        (envelope_json(signatures=...), "missing required field `signatures`"),
        (envelope_json(extra=1), "unknown field `extra`"),
        (envelope_json(signatures=[{"keyid": "a", "sig": "AA==", "x": 1}]), "unknown field `x`"),
        (envelope_json(signatures=[{"sig": "AA=="}]), "missing required field `keyid`"),
        (envelope_json(payload=5), "Expected `str`"),
        (envelope_json(payload="not base64!"), "payload is not base64"),
        (envelope_json(payload="Zm9v+_"), "mixes standard and URL-safe"),
        (envelope_json(payloadType=""), "payloadType is empty"),
        (envelope_json(signatures=[]), "no signatures"),
        (envelope_json(signatures=[{"keyid": "a", "sig": "A"}]), r"signatures\[0\]\.sig is not"),
        (envelope_json(signatures=[{"keyid": "", "sig": "AA=="}]), "keyid is empty"),
        (envelope_json(signatures=[{"keyid": "a", "sig": "AA=="}] * 9), "9 signatures; at most 8"),
    ],
)
def test_decode_names_what_is_wrong(data, message):
    with pytest.raises(InvalidEnvelope, match=message):
        dsse.decode_envelope(data)


def test_eight_signatures_are_accepted():
    dsse.decode_envelope(envelope_json(signatures=[{"keyid": "a", "sig": "AA=="}] * 8))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
FIELD = st.sampled_from(["payload", "payloadType", "signatures", "keyid", "sig", "x"])
NEAR_ENVELOPE = st.fixed_dictionaries(
    {},
    optional={
        "payload": st.text(alphabet="AZaz09+/-_= !", max_size=12) | JSON,
        "payloadType": st.text(max_size=5) | JSON,
        "signatures": st.lists(
            st.dictionaries(FIELD, st.text(alphabet="AZaz09+/-_=", max_size=8) | JSON),
            max_size=10,
        )
        | JSON,
        "x": JSON,
    },
)


@given(st.binary(max_size=300) | JSON.map(lambda v: json.dumps(v).encode()))
def test_decode_arbitrary_bytes_only_raises_invalid_envelope(data):
    try:
        env = dsse.decode_envelope(data)
    except InvalidEnvelope:
        return
    assert isinstance(env, dsse.Envelope)


@given(NEAR_ENVELOPE)
def test_decode_near_envelopes_only_raises_invalid_envelope(doc):
    try:
        env = dsse.decode_envelope(json.dumps(doc).encode())
    except InvalidEnvelope:
        return
    # Whatever decodes is usable: its payload decodes and it can be checked and digested.
    assert 1 <= len(env.signatures) <= dsse.MAX_SIGNATURES
    dsse.payload_bytes(env)
    dsse.envelope_digest(env)
    with pytest.raises(SignatureError):
        dsse.verify_envelope(env, KEY.public_key())


# ---- the idempotency digest -------------------------------------------------


@settings(max_examples=50)
@given(payload=st.binary(max_size=200))
def test_digest_ignores_how_the_envelope_was_written(payload):
    env = dsse.sign_envelope(payload, KEY)
    theirs = dsse.sign_envelope(payload, OTHER_KEY).signatures[0]
    env = resign(env, signatures=[env.signatures[0], theirs])
    digest = dsse.envelope_digest(env)

    def url(text: str) -> str:
        return base64.urlsafe_b64encode(base64.b64decode(text)).decode().rstrip("=")

    rewritten = {
        "signatures": [{"sig": url(s.sig), "keyid": s.keyid} for s in reversed(env.signatures)],
        "payloadType": env.payload_type,
        "payload": url(env.payload),
    }
    again = dsse.decode_envelope(json.dumps(rewritten, indent=2).encode())
    assert again != env
    assert dsse.envelope_digest(again) == digest
    assert dsse.envelope_digest(dsse.decode_envelope(dsse.encode_envelope(env))) == digest


@settings(max_examples=50)
@given(payload=st.binary(max_size=200), other=st.binary(max_size=200))
def test_digest_changes_with_the_payload(payload, other):
    env = dsse.sign_envelope(payload, KEY)
    changed = resign(env, payload=base64.b64encode(other).decode())
    assert (dsse.envelope_digest(changed) == dsse.envelope_digest(env)) == (payload == other)


def test_digest_changes_with_type_and_signatures():
    env = dsse.sign_envelope(RECORD, KEY)
    digest = dsse.envelope_digest(env)
    assert dsse.envelope_digest(resign(env, payload_type="text/plain")) != digest
    assert dsse.envelope_digest(dsse.sign_envelope(RECORD, OTHER_KEY)) != digest
    sig = base64.b64decode(env.signatures[0].sig)
    assert dsse.envelope_digest(with_sig(env, flip(sig, 0))) != digest
    assert len(digest) == 32


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"payload": "eA==", "payloadType": "x", "signatures": [], "extra": 1}', "extra"),
        (b'{"payloadType": "x", "signatures": []}', "payload"),
        (b'{"payload": "eA==", "payloadType": "x", "signatures": [{"keyid": "a", "sig": 1}]}',
         "signatures[0].sig"),
        (b'{"payload": "eA==", "payloadType": "x", "signatures": [{"keyid": "a", "sig": "x", '
         b'"foo": 2}]}', "signatures[0].foo"),
        (b"[1]", "$"),
        (b"not json", "$"),
    ],
)  # fmt: skip
def test_a_refused_envelope_names_its_field(raw, field):
    with pytest.raises(InvalidEnvelope) as err:
        dsse.decode_envelope(raw)
    assert err.value.field == field


def test_base64_wrapped_in_lines_is_refused_saying_so():
    """Java's MIME encoder and `base64` wrap at 76 columns; the error says so."""
    wrapped = base64.encodebytes(b"a record of more than fifty-seven bytes, wrapped by MIME rules")
    assert b"\n" in wrapped.rstrip()
    env = {"payload": wrapped.decode(), "payloadType": dsse.PAYLOAD_TYPE,
           "signatures": [{"keyid": "ab" * 32, "sig": "AAAA"}]}  # fmt: skip
    with pytest.raises(InvalidEnvelope, match="line break: send base64 on one line") as err:
        dsse.decode_envelope(json.dumps(env).encode())
    assert err.value.field == "payload"
