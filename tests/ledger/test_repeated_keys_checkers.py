"""The checkers fail an entry whose signed JSON payload repeats a key in one object.

The sequencer refuses such a payload (core.dsse.check_payload_keys): JSON readers
disagree on which copy counts, so a verifier could read another record than the ledger.
A log written by a sequencer that skipped the check must fail the offline verifier, the
audit and the monitor, each naming the entry, the key and its JSON path in the same
words (tests/api/test_browser.py holds verify.js to them too, and to ``TEXTS``).
"""

from __future__ import annotations

import json

import pytest

from core import dsse
from core.errors import AuditError, VinledgerError
from core.keys import generate_private_key
from core.strict_json import duplicate_key
from ledger.audit import audit
from ledger.monitor import Monitor, MonitorAlert
from ledger.storage import Store
from ledger.verify import verify_bundle_bytes
from ledger.verify_trust import check_keys_once
from tests.ledger.test_audit_trust import write_log
from tests.ledger.test_monitor_defects import served
from tests.ledger.test_verify_references import entry_failures
from tests.ledger.test_verify_trust import DEFECTS, LOG, VEHICLE_DEFECTS, make_bundle

REPEATED = {
    "a-trust-record-that-repeats-a-key": DEFECTS["a-trust-record-that-repeats-a-key"],
    **{name: defect for name, defect in VEHICLE_DEFECTS.items() if "repeats-a-key" in name},
}

# JSON texts and the (path, key) of the repeat core.strict_json finds in each, or None.
# A key is its decoded text, as JSON defines it: "\u0061" and "a" are one key.
TEXTS = [
    (r'{"a": 1, "a": 2}', ("$.a", "a")),
    (r'{"\u0061": 1, "a": 2}', ("$.a", "a")),
    (r'{"a\u0062": 1, "ab": 2}', ("$.ab", "ab")),
    (r'{"a\\u0062": 1, "ab": 2}', None),  # a backslash, then "u0062": another key
    (r'{"a\"b": 1, "a\u0022b": 2}', ("$['a\"b']", 'a"b')),
    (r'{"a\\b": 1, "a\\b": 2}', ("$['a\\\\b']", "a\\b")),
    (r'{"a\\": 1, "a\\": 2}', ("$['a\\\\']", "a\\")),  # the string ends after "\\"
    (r'{"it\u0027s": 1, "it' + "'" + r's": 2}', ('$["it\'s"]', "it's")),
    (r'{"x:{[\"": 1, "x:{[\"": 2}', ("$['x:{[\"']", 'x:{["')),
    (r'{"": 1, "": 2}', ("$['']", "")),
    (r'{"max km": 1, "max km": 2}', ("$['max km']", "max km")),
    (r'{"\u00e9": 1, "é": 2}', ("$['é']", "é")),
    (r'{"\ud83d\ude97": 1, "🚗": 2}', ("$['🚗']", "🚗")),
    (r'{"\n\t\u0000\u007f": 1, "\n\t\u0000\u007f": 2}', ("$['\\n\\t\\x00\\x7f']", "\n\t\x00\x7f")),
    (
        r'{"\u00a0\u00ad\u2028": 1, "\u00a0\u00ad\u2028": 2}',
        ("$['\\xa0\\xad\\u2028']", "\xa0\xad\u2028"),
    ),
    (r'{"\udb40\udc01": 1, "\udb40\udc01": 2}', ("$['\\U000e0001']", "\U000e0001")),
    (
        r'{"items": [{"code": "x"}, {"code": "y", "note": {"k": 1, "k": 2}}]}',
        ("$.items[1].note.k", "k"),
    ),
    (r'{"a": {"b": {"c": [1, [], {}, {"d": 0, "d": 1}]}}}', ("$.a.b.c[3].d", "d")),
    # The first object (in text order) that repeats a key, at its first repeat: an
    # object's own repeat before any within it, though found later in the text.
    (r'{"a": 1, "c": {"x": 1, "x": 2}, "a": 2}', ("$.a", "a")),
    (r'[{"b": {"y": 1, "y": 2}}, {"x": 1, "x": 2}]', ("$[0].b.y", "y")),
    (r'{"q": [{"z": 1, "y": 1, "z": 2, "y": 2}]}', ("$.q[0].z", "z")),
    (r'{ "n" : -1.5e+3 ,' + "\n" + r' "n" : [ true , null ] }', ("$.n", "n")),
    # No repeat: keys in strings, in arrays, in sibling objects.
    (r'{"a": "\"a\": 1, \"a\": 2", "b": ["a", "a"]}', None),
    (r'[{"a": 1}, {"a": 2}, {"b": {"a": 3}, "a": 4}]', None),
    (r'{"a\\": "\\\"", "b": {"a\\\\": 1, "a\\": 2}}', None),
    (r'{"a": 1, "a": 2', None),  # no JSON: its parser says what is wrong
    ("", None),
    # Not here: a text with a lone surrogate ("\ud800"), which msgspec refuses as JSON
    # (so parsing the record fails the entry in Python) and verify.js reads as any other.
]


@pytest.mark.parametrize("text, found", TEXTS)
def test_the_repeat_found_in_each_text(text, found):
    assert duplicate_key(text.encode()) == found


@pytest.mark.parametrize("name", VEHICLE_DEFECTS)
def test_each_vehicle_defect_fails_the_verifier_naming_its_entry(name):
    defect = VEHICLE_DEFECTS[name]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    details = entry_failures([vars(f) for f in report.failures], defect.index)
    assert any(defect.says in d for d in details), report.failures


def test_a_payload_that_is_not_json_is_not_read_for_keys():
    key = generate_private_key()
    repeated = b'{"code": "AMY-26", "code": "BOB-26"}'
    check_keys_once(dsse.sign_envelope(repeated, key, "application/xml"))
    with pytest.raises(VinledgerError, match=r"repeats the key 'code' in one object \(\$\.code\)"):
        check_keys_once(dsse.sign_envelope(repeated, key, "application/vnd.acme+json"))


def _verifier_says(items, index: int) -> str:
    report = verify_bundle_bytes(make_bundle(items), LOG.vkey)
    [detail] = [f.detail for f in report.failures if f.index == index]
    return detail.split("): ", 1)[1]  # after "entry N (kind)"


def _audit_says(store: Store, items, index: int) -> str:
    write_log(store, items)
    with pytest.raises(AuditError) as err:
        audit(store, LOG.vkey)
    assert err.value.index == index
    return str(err.value).removeprefix(f"entry {index}: ")


def _monitor_says(tmp_path, items, index: int) -> str:
    monitor = Monitor(tmp_path / "m", LOG.vkey)
    try:
        with pytest.raises(MonitorAlert) as err:
            monitor.poll(served(items))
        assert monitor.size == 0
    finally:
        monitor.close()
    return str(err.value).removeprefix(f"entry {index}: ")


@pytest.mark.parametrize("name", REPEATED)
def test_every_checker_names_the_entry_the_key_and_its_path_alike(tmp_path, name):
    defect = REPEATED[name]
    store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    store.create_schema()
    try:
        said = {
            "verify": _verifier_says(defect.items, defect.index),
            "audit": _audit_says(store, defect.items, defect.index),
            "monitor": _monitor_says(tmp_path, defect.items, defect.index),
        }
    finally:
        store.dispose()
    assert said["verify"].startswith("the signed payload " + defect.says), said
    assert said["audit"] == said["verify"] == said["monitor"], said


def test_a_reader_of_the_first_copy_reads_another_record():
    """Each defect is valid but for the repeat: read keeping the last copy (as msgspec
    and JSON.parse do) its payload is the record meant, keeping the first it is not."""
    for defect in REPEATED.values():
        record, _, _, written = defect.items[defect.index]
        payload = dsse.payload_bytes(written["envelope"])
        assert json.loads(payload) == record
        assert json.loads(payload, object_pairs_hook=lambda pairs: dict(pairs[::-1])) != record
