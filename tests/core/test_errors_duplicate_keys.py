"""A key repeated within one JSON object is refused, in a signed payload and in the
envelope: readers disagree on which copy counts (most keep the last, some the first),
so one signature must not stand for two records."""

from __future__ import annotations

import base64
import json
import timeit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core import dsse
from core.errors import InvalidEnvelope, InvalidRecord
from core.keys import generate_private_key, key_id
from core.records import parse_record
from core.strict_json import check_unique_keys, duplicate_key
from tests.conftest import VIN, inspection

KEY = generate_private_key()
OTHER_VIN = "2T1BURHE1JC123458"


def with_second_vin(record: dict) -> bytes:
    """The record's JSON with a second "vin" key right after the first (as users sent)."""
    data = json.dumps(record).encode()
    return data.replace(b'"vin": ', f'"vin": "{OTHER_VIN}", "vin": '.encode(), 1)


def envelope(payload: bytes, payload_type: str = dsse.PAYLOAD_TYPE) -> bytes:
    return dsse.encode_envelope(dsse.sign_envelope(payload, KEY, payload_type))


# ---- the record payload ---------------------------------------------------------------


def test_the_reported_payload_is_refused_naming_the_key():
    data = with_second_vin(inspection())
    assert parse_record(data).vin == VIN  # msgspec keeps the last copy; others the first
    with pytest.raises(InvalidRecord) as err:
        check_unique_keys(data)
    assert err.value.field == "$.vin"
    assert '"vin"' in err.value.detail and "sign again" in err.value.detail


def test_the_submission_gate_refuses_it_before_anything_else():
    """decode_envelope is what every submission goes through first (api.service_checks)."""
    with pytest.raises(InvalidRecord) as err:
        dsse.decode_envelope(envelope(with_second_vin(inspection())))
    assert err.value.status == 422 and err.value.field == "$.vin"


@pytest.mark.parametrize(
    "data, path",
    [
        (b'{"a": 1, "a": 1}', "$.a"),  # even with equal values
        (b'{"items": [{"code": "x"}, {"code": "y", "code": "z"}]}', "$.items[1].code"),
        (b'{"flags": {"fire": false, "flood": true, "fire": true}}', "$.flags.fire"),
        (b'{"params": {"max km": 1, "max km": 2}}', "$.params['max km']"),
        (b'{"v\\u0069n": "A", "vin": "B"}', "$.vin"),  # the same key, escaped
        # A colon escaped elsewhere must not hide a repeated key from the fast pass.
        (b'{"a": "x", "a": "y", "b": "\\u003a"}', "$.a"),
        (b'{"a": "x", "a": "y", "b": "\\u003A"}', "$.a"),
    ],
)
def test_a_repeated_key_is_found_anywhere(data, path):
    assert duplicate_key(data)[0] == path


@pytest.mark.parametrize(
    "data",
    [
        b"{}",
        b'{"at": "2026-05-04T09:30:00Z", "note": "a: b, c: d", "a:b": {"a:b": 1}}',
        b'{"a": "\\u003a", "b": "\\\\u003a"}',  # an escaped colon; a backslash and "u003a"
        b'[{"a": 1}, {"a": 2}]',  # the same key in two objects is no repetition
        b'{"a": {"b": 1}, "c": {"b": 2}}',
        b"not json",  # not ours to judge: the parser says what is wrong
        b"",
    ],
)
def test_json_without_a_repeated_key_passes(data):
    assert duplicate_key(data) is None


def repeated_by_oracle(data: bytes) -> bool:
    def pairs(items):
        keys = [k for k, _ in items]
        if len(keys) != len(set(keys)):
            raise KeyError
        return dict(items)

    try:
        json.loads(data, object_pairs_hook=pairs)
    except KeyError:
        return True
    return False


KEYS = st.sampled_from(["a", "b", "a:b", "\u00e9", ":"])
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab:\\"\u00e9', max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(st.tuples(KEYS, inner), max_size=4).map(lambda kv: ("object", kv))
    ),
    max_leaves=10,
)


def write(value, escape: bool) -> str:
    """JSON text that may repeat keys (json.dumps cannot write that); with ``escape``,
    strings are written with \\u escapes, colons too."""
    if isinstance(value, tuple):
        members = (f"{write(k, escape)}:{write(v, escape)}" for k, v in value[1])
        return "{" + ",".join(members) + "}"
    if isinstance(value, list):
        return "[" + ",".join(write(v, escape) for v in value) + "]"
    text = json.dumps(value, ensure_ascii=escape)
    return text.replace(":", "\\u003a") if escape and isinstance(value, str) else text


@given(VALUES.filter(lambda v: isinstance(v, tuple)), st.booleans())
def test_the_fast_pass_agrees_with_a_full_parse(value, escape):
    data = write(value, escape).encode()
    assert (duplicate_key(data) is not None) == repeated_by_oracle(data)


# ---- the envelope ---------------------------------------------------------------------------


def test_a_repeated_envelope_key_is_refused():
    env = json.loads(envelope(json.dumps(inspection()).encode()))
    other = base64.b64encode(json.dumps(inspection(vin=OTHER_VIN)).encode()).decode()
    data = envelope_text(env).replace('"payload":', f'"payload":"{other}","payload":', 1)
    with pytest.raises(InvalidEnvelope) as err:
        dsse.decode_envelope(data.encode())
    assert err.value.field == "payload" and err.value.status == 400


def test_a_repeated_signature_key_is_refused():
    env = json.loads(envelope(json.dumps(inspection()).encode()))
    data = envelope_text(env).replace('"keyid":', '"keyid":"x:y","keyid":', 1)
    with pytest.raises(InvalidEnvelope) as err:
        dsse.decode_envelope(data.encode())
    assert err.value.field == "signatures[0].keyid"


def envelope_text(env: dict) -> str:
    return json.dumps(env, separators=(",", ":"))


def test_colons_in_envelope_strings_are_no_repetition():
    payload = json.dumps(inspection()).encode()
    env = dsse.sign_envelope(payload, KEY, "application/x:y")
    data = dsse.encode_envelope(env).replace(b"x:y", b"x\\u003ay")
    assert dsse.decode_envelope(data).payload_type == "application/x:y"


def test_a_json_payload_of_another_type_is_checked_too():
    """A provider's or a referral's JSON payload: ``…+json`` is JSON (RFC 6839)."""
    data = b'{"code": "AMY-26", "code": "BOB-26"}'
    with pytest.raises(InvalidRecord, match='"code"'):
        dsse.decode_envelope(envelope(data, "application/vnd.vinledger.referral+json"))
    dsse.decode_envelope(envelope(data, "application/xml"))  # not JSON: not ours to read


# ---- uppercase key ids -------------------------------------------------------------------


def test_an_uppercase_key_id_is_named_as_such():
    env = json.loads(envelope(json.dumps(inspection()).encode()))
    env["signatures"][0]["keyid"] = key_id(KEY.public_key()).upper()
    with pytest.raises(InvalidEnvelope) as err:
        dsse.decode_envelope(json.dumps(env).encode())
    assert "lowercase hex" in err.value.detail
    assert key_id(KEY.public_key()) in err.value.detail
    assert err.value.field == "signatures[0].keyid"


def test_a_foreign_uppercase_key_id_beside_ours_passes():
    env = json.loads(envelope(json.dumps(inspection()).encode()))
    env["signatures"].append({"keyid": "AB" * 32, "sig": env["signatures"][0]["sig"]})
    dsse.decode_envelope(json.dumps(env).encode())


# ---- what it costs ------------------------------------------------------------------------


def test_the_check_is_cheap_beside_a_signature():
    """The submit path's budget: one Ed25519 verification is ~63–86 µs. Decoding an
    envelope of a ~1 KB inspection, both checks included (~6 µs of it), stays well under
    half of that."""
    record = inspection(
        items=[{"code": f"item-{i}", "result": "ok", "note": "checked"} for i in range(12)]
    )
    payload = json.dumps(record).encode()
    assert 900 < len(payload) < 1400
    data = envelope(payload)
    env = dsse.decode_envelope(data)
    n = 2000

    def per_call(f) -> float:
        return min(timeit.repeat(f, number=n, repeat=5)) / n

    # The whole gate (typed decode, base64, both checks) against one verification.
    gate = per_call(lambda: dsse.decode_envelope(data))
    verify = per_call(lambda: dsse.verify_envelope(env, KEY.public_key()))
    assert gate < verify / 2, (gate, verify)
