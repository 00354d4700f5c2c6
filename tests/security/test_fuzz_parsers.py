"""Every parser of untrusted input, fuzzed with garbage and with mutations of real input.

A parser either returns a value or raises a ``core.errors.VinledgerError`` (which the
API turns into a problem document and the CLI into a clear message); any other
exception is a crash on bad input. The valid inputs that get mutated are made by the
real code: a signed envelope, entries, an entry bundle, a checkpoint and a receipt
from a ledger, its verifier key and a vehicle bundle.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import dsse
from core.errors import VinledgerError
from core.note import parse_note, parse_verifier_key
from core.records import parse_record
from ledger.bundle import decode_bundle, encode_bundle
from ledger.checkpoint import format_checkpoint, parse_checkpoint, parse_tlog_proof
from ledger.entry import decode_entry
from ledger.tiles import (
    TilePath,
    decode_entry_bundle,
    encode_entry_bundle,
    format_tile_path,
    parse_tile_path,
)
from ledger.verify import verify_bundle_bytes
from tests.conftest import VIN, VIN2, inspection, maintenance, make_ledger, onboard
from tests.security.strategies import json_values, mutated_bytes, mutated_json, text_mutations

FUZZ = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
SLOW_FUZZ = settings(FUZZ, max_examples=60)  # full bundle verifications

# Garbage: arbitrary bytes, arbitrary text, and JSON that is well formed but anything.
garbage_bytes = (
    st.binary(max_size=300)
    | st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass"))
    | json_values.map(lambda v: json.dumps(v).encode())
)
garbage_text = st.text(max_size=300) | st.binary(max_size=200).map(
    lambda b: b.decode("utf-8", errors="replace")
)


@dataclass(frozen=True)
class Samples:
    vkey: str
    envelope: bytes
    record: bytes
    entries: list[bytes]
    entry_bundle: bytes
    tile_paths: list[str]
    signed_checkpoint: str
    checkpoint_text: str
    receipt: str
    bundle: bytes


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Samples:
    base = tmp_path_factory.mktemp("fuzz-parsers")
    ledger = make_ledger(base / "data", f"sqlite:///{base / 'ledger.db'}")
    try:
        inspector = onboard(ledger, "acme", "inspector")
        shop = onboard(ledger, "quicklane", "workshop")
        envs = [
            inspector.envelope(inspection()),
            shop.envelope(maintenance()),
            inspector.envelope(inspection(vin=VIN2, day=5)),
            inspector.envelope(inspection(day=6, km=49_000)),
        ]
        outcomes = ledger.submit_now(envs)
        assert all(o.created for o in outcomes), outcomes
        size = outcomes[-1].size
        entry_bundle = ledger.reader.tile(TilePath(None, 0, size))
        signed = ledger.reader.checkpoint()
        return Samples(
            vkey=ledger.vkey,
            envelope=envs[0],
            record=dsse.payload_bytes(dsse.decode_envelope(envs[0])),
            entries=decode_entry_bundle(entry_bundle),
            entry_bundle=entry_bundle,
            tile_paths=[
                format_tile_path(level, index, width)
                for level, index, width in [
                    (0, 0, size),
                    (None, 0, size),
                    (1, 1234067, 256),
                    (63, 10**21, 7),
                    (None, 5, 255),
                ]
            ],
            signed_checkpoint=signed,
            checkpoint_text=signed[: signed.index("\n\n") + 1],
            receipt=ledger.reader.receipt(outcomes[0].index),
            bundle=encode_bundle(ledger.bundle(VIN)),
        )
    finally:
        ledger.close()


def parse_or_refuse(parse, *args):
    """``parse(*args)``, or None if it refused with one of our errors; anything else fails."""
    try:
        return parse(*args)
    except VinledgerError as err:
        assert str(err), f"{type(err).__name__} without a message"
        return None


def test_samples_are_valid(samples):
    """The mutation tests below start from input every parser accepts."""
    dsse.decode_envelope(samples.envelope)
    parse_record(samples.record)
    for entry in samples.entries:
        decode_entry(entry)
    for path in samples.tile_paths:
        parse_tile_path(path)
    parse_checkpoint(samples.checkpoint_text)
    parse_note(samples.signed_checkpoint)
    parse_tlog_proof(samples.receipt)
    parse_verifier_key(samples.vkey)
    decode_bundle(samples.bundle)
    report = verify_bundle_bytes(samples.bundle, samples.vkey)
    assert report.ok, report.failures


# ---- DSSE envelopes ---------------------------------------------------------------


@FUZZ
@given(data=garbage_bytes)
def test_decode_envelope_garbage(data):
    env = parse_or_refuse(dsse.decode_envelope, data)
    if env is not None:  # whatever it accepted can be hashed and have its payload read
        dsse.envelope_digest(env)
        dsse.payload_bytes(env)


@FUZZ
@given(data=st.data())
def test_decode_envelope_mutations(samples, data):
    raw = data.draw(
        mutated_bytes(samples.envelope)
        | mutated_json(json.loads(samples.envelope)).map(lambda v: json.dumps(v).encode())
    )
    env = parse_or_refuse(dsse.decode_envelope, raw)
    if env is not None:
        dsse.envelope_digest(env)
        parse_or_refuse(parse_record, dsse.payload_bytes(env))


# ---- records ----------------------------------------------------------------------


@FUZZ
@given(data=garbage_bytes)
def test_parse_record_garbage(data):
    parse_or_refuse(parse_record, data)


@FUZZ
@given(data=st.data())
def test_parse_record_mutations(samples, data):
    raw = data.draw(
        mutated_bytes(samples.record)
        | mutated_json(json.loads(samples.record)).map(lambda v: json.dumps(v).encode())
    )
    parse_or_refuse(parse_record, raw)


def test_parse_record_deep_nesting():
    """A correction's free-form ``fields`` is the one place a record can nest deeply."""
    deep = "[" * 100_000 + "]" * 100_000
    record = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-05-04T09:30:00Z",
        "corrects": 3,
        "reason": "x",
        "fields": {"a": "DEEP"},
    }
    raw = json.dumps(record).replace('"DEEP"', deep).encode()
    parse_or_refuse(parse_record, raw)


# ---- entries ----------------------------------------------------------------------


@FUZZ
@given(data=garbage_bytes)
def test_decode_entry_garbage(data):
    parse_or_refuse(decode_entry, data)


@FUZZ
@given(data=st.data())
def test_decode_entry_mutations(samples, data):
    entry = data.draw(st.sampled_from(samples.entries))
    raw = data.draw(
        mutated_bytes(entry) | mutated_json(json.loads(entry)).map(lambda v: json.dumps(v).encode())
    )
    parse_or_refuse(decode_entry, raw)


# ---- tiles ------------------------------------------------------------------------


TILE_LIKE = r"(entries|[0-9]{1,3})/(x[0-9]{3}/){0,9}[0-9]{1,4}(\.p/[0-9]{1,4})?"


@FUZZ
@given(path=garbage_text | st.from_regex(TILE_LIKE, fullmatch=True))
def test_parse_tile_path_garbage(path):
    tile = parse_or_refuse(parse_tile_path, path)
    if tile is not None:  # only the canonical spelling of a tile is accepted
        assert format_tile_path(tile.level, tile.index, tile.width) == path


@FUZZ
@given(data=st.data())
def test_parse_tile_path_mutations(samples, data):
    path = data.draw(st.sampled_from(samples.tile_paths).flatmap(text_mutations))
    tile = parse_or_refuse(parse_tile_path, path)
    if tile is not None:
        assert format_tile_path(tile.level, tile.index, tile.width) == path


@pytest.mark.parametrize(
    "path",
    ["../../config.json", "0/../x", "entries/%2e%2e/x", "0/000/..", "/0/000", "0/000/", ""],
)
def test_parse_tile_path_refuses_traversal(path):
    assert parse_or_refuse(parse_tile_path, path) is None


@FUZZ
@given(data=garbage_bytes)
def test_decode_entry_bundle_garbage(data):
    entries = parse_or_refuse(decode_entry_bundle, data)
    if entries is not None:  # one byte form per bundle
        assert encode_entry_bundle(entries) == data


@FUZZ
@given(data=st.data())
def test_decode_entry_bundle_mutations(samples, data):
    raw = data.draw(mutated_bytes(samples.entry_bundle))
    entries = parse_or_refuse(decode_entry_bundle, raw)
    if entries is not None:
        assert encode_entry_bundle(entries) == raw
        for entry in entries:
            parse_or_refuse(decode_entry, entry)


# ---- checkpoints, notes, receipts, keys -------------------------------------------


@FUZZ
@given(text=garbage_text)
def test_parse_checkpoint_garbage(text):
    cp = parse_or_refuse(parse_checkpoint, text)
    if cp is not None:
        assert format_checkpoint(cp) == text


@FUZZ
@given(data=st.data())
def test_parse_checkpoint_mutations(samples, data):
    text = data.draw(text_mutations(samples.checkpoint_text))
    cp = parse_or_refuse(parse_checkpoint, text)
    if cp is not None:  # strict: one text per checkpoint
        assert format_checkpoint(cp) == text


@FUZZ
@given(msg=garbage_text | garbage_bytes)
def test_parse_note_garbage(msg):
    parse_or_refuse(parse_note, msg)


@FUZZ
@given(data=st.data())
def test_parse_note_mutations(samples, data):
    text = samples.signed_checkpoint
    msg = data.draw(text_mutations(text) | mutated_bytes(text.encode()))
    parse_or_refuse(parse_note, msg)


@FUZZ
@given(text=garbage_text)
def test_parse_tlog_proof_garbage(text):
    parse_or_refuse(parse_tlog_proof, text)


@FUZZ
@given(data=st.data())
def test_parse_tlog_proof_mutations(samples, data):
    parse_or_refuse(parse_tlog_proof, data.draw(text_mutations(samples.receipt)))


@FUZZ
@given(text=garbage_text | st.from_regex(r"[a-z./]{1,20}\+[0-9a-f]{8}\+[A-Za-z0-9+/=]{0,60}"))
def test_parse_verifier_key_garbage(text):
    parse_or_refuse(parse_verifier_key, text)


@FUZZ
@given(data=st.data())
def test_parse_verifier_key_mutations(samples, data):
    parse_or_refuse(parse_verifier_key, data.draw(text_mutations(samples.vkey)))


# ---- vehicle bundles and their offline verification --------------------------------


@FUZZ
@given(data=garbage_bytes)
def test_decode_bundle_garbage(data):
    parse_or_refuse(decode_bundle, data)


@FUZZ
@given(data=st.data())
def test_decode_bundle_mutations(samples, data):
    raw = data.draw(
        mutated_bytes(samples.bundle)
        | mutated_json(json.loads(samples.bundle)).map(lambda v: json.dumps(v).encode())
    )
    parse_or_refuse(decode_bundle, raw)


@FUZZ
@given(data=garbage_bytes)
def test_verify_bundle_bytes_garbage(samples, data):
    report = verify_bundle_bytes(data, samples.vkey)
    assert not report.ok
    assert report.failures


def _mutated_bundles(samples):
    bundle = json.loads(samples.bundle)
    # Mutate inside the entries too, not only the bundle's JSON around them.
    items = [("entries", i) for i in range(len(bundle["entries"]))]
    items += [("trust", i) for i in range(len(bundle["trust"]))]

    @st.composite
    def inner(draw):
        b = json.loads(samples.bundle)
        part, i = draw(st.sampled_from(items))
        data = base64.b64decode(b[part][i]["entry"])
        mutated = draw(
            mutated_bytes(data)
            | mutated_json(json.loads(data)).map(lambda v: json.dumps(v).encode())
        )
        b[part][i]["entry"] = base64.b64encode(mutated).decode()
        return json.dumps(b).encode()

    return (
        mutated_bytes(samples.bundle)
        | mutated_json(bundle).map(lambda v: json.dumps(v).encode())
        | inner()
    )


@SLOW_FUZZ
@given(data=st.data())
def test_verify_bundle_bytes_mutations(samples, data):
    raw = data.draw(_mutated_bundles(samples))
    report = verify_bundle_bytes(raw, samples.vkey)
    if report.ok:  # no mutation makes anything verify that the log does not hold
        got, want = decode_bundle(raw), decode_bundle(samples.bundle)
        assert got.vin == want.vin
        assert {(p.index, p.data) for p in got.entries} <= {(p.index, p.data) for p in want.entries}


@SLOW_FUZZ
@given(data=st.data())
def test_verify_bundle_bytes_with_garbage_key(samples, data):
    vkey = data.draw(garbage_text | text_mutations(samples.vkey))
    if vkey == samples.vkey:
        return
    report = verify_bundle_bytes(samples.bundle, vkey)
    assert not report.ok


# ---- found by the fuzzing above: invalid UTF-8 inside JSON is refused, not a crash ----


@pytest.mark.parametrize("raw", [b'{"kind": "\xff"}', b'{"kind": "inspection", "vin": "\xff"}'])
def test_parse_record_refuses_invalid_utf8(raw):
    with pytest.raises(VinledgerError):
        parse_record(raw)


def test_decode_entry_refuses_invalid_utf8(samples):
    with pytest.raises(VinledgerError):
        decode_entry(samples.entries[0].replace(b'"kind"', b'"\xffind"'))


def test_decode_bundle_refuses_invalid_utf8(samples):
    with pytest.raises(VinledgerError):
        decode_bundle(samples.bundle.replace(b'"format"', b'"\xe6ormat"'))


def test_verify_bundle_bytes_never_raises_on_invalid_utf8(samples):
    report = verify_bundle_bytes(samples.bundle.replace(b'"format"', b'"\xe6ormat"'), samples.vkey)
    assert not report.ok
