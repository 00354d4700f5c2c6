"""The offline verifier replays a bundle's trust entries strictly.

A bundle's trust entries must be ones the sequencer could have appended: actors,
key grants and revocations, each signed by an operator key valid at its index, on
top of a genesis whose two entries name the operator's own key as their signer.
Each defect below is one such rule broken in an otherwise valid, hand-made bundle;
tests/api/test_browser.py feeds the same bundles to the browser's verify.js.
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

import msgspec
import pytest

from core import dsse
from core.keys import generate_private_key, key_id, public_key_raw
from ledger import merkle
from ledger.bundle import BUNDLE_FORMAT, Bundle, ProvedEntry, encode_bundle
from ledger.checkpoint import Checkpoint
from ledger.entry import FORMAT_VERSION, Entry, Signer, encode_entry, record_bytes
from ledger.signing import LogSigner
from ledger.verify import Report, recompute_view, verify_bundle_bytes
from tests.conftest import VIN, inspection

LOG = LogSigner("test.vinledger.localhost/log", generate_private_key())
OPERATOR = generate_private_key()
ACME = generate_private_key()
SPARE = generate_private_key()
AT = "2026-05-01T08:00:00Z"
LATER = "2026-05-02T08:00:00Z"

Item = tuple
"""(record, signing key, signer actor id[, entry fields written instead of the sequencer's])."""


def actor(actor_id: str, role: str) -> dict:
    return {
        "kind": "actor",
        "actor_id": actor_id,
        "name": actor_id.title(),
        "role": role,
        "occurred_at": AT,
    }


def grant(actor_id: str, key, **fields) -> dict:
    public = public_key_raw(key.public_key())
    return {
        "kind": "key_grant",
        "actor_id": actor_id,
        "public_key": base64.b64encode(public).decode(),
        "key_id": key_id(key.public_key()),
        "occurred_at": AT,
        **fields,
    }


def revoke(key) -> dict:
    return {
        "kind": "key_revoke",
        "key_id": key_id(key.public_key()),
        "reason": "lost",
        "occurred_at": AT,
    }


def repeating(record: dict, key, signer: str, field: str, first: Any, within: str = "") -> Item:
    """``record`` signed by ``key`` as a payload that writes ``field`` (of the object at
    ``within``, or of the record) twice, ``first`` before the record's own value.

    msgspec and JSON.parse keep the last copy and read ``record``; a reader that keeps
    the first reads another record. (json.dumps cannot write a key twice.)
    """
    text = json.dumps(record)
    opening = f"{json.dumps(within)}: {{" if within else "{"
    payload = text.replace(opening, f"{opening}{json.dumps(field)}: {json.dumps(first)}, ", 1)
    assert payload != text
    return (record, key, signer, {"envelope": dsse.sign_envelope(payload.encode(), key)})


def encode_items(items: list[Item]) -> list[bytes]:
    """The entries of ``items`` appended from index 0, as the sequencer writes them."""
    encoded, heads = [], {}
    for index, (record, key, signer, *written) in enumerate(items):
        vin = record.get("vin")
        seq, prev = heads.get(vin, (-1, None))
        fields: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "index": index,
            "kind": record["kind"],
            "vin": vin,
            "vin_seq": None if vin is None else seq + 1,
            "prev": prev,
            "sequenced_at": "2026-05-01T08:00:00.000Z",
            "signer": Signer(keyid=key_id(key.public_key()), actor_id=signer),
            "envelope": dsse.sign_envelope(json.dumps(record).encode(), key),
            **(written[0] if written else {}),
        }
        encoded.append(encode_entry(Entry(**fields)))
        if vin is not None:
            heads[vin] = (seq + 1, base64.b64encode(merkle.hash_leaf(encoded[-1])).decode())
    return encoded


def make_bundle(items: list[Item]) -> bytes:
    """The bundle for VIN of ``items`` appended from index 0, as the sequencer writes them.

    Items whose record has a VIN are the bundle's entries, the others its trust
    entries; every one is proved in one checkpoint signed by LOG.
    """
    encoded = encode_items(items)
    leaves = [merkle.hash_leaf(d) for d in encoded]
    size = len(leaves)
    proofs = merkle.inclusion_proofs(
        range(size),
        size,
        lambda coords: [merkle.root(leaves[n << lv : (n + 1) << lv]) for lv, n in coords],
    )

    def proved(index: int) -> ProvedEntry:
        path = [base64.b64encode(h).decode() for h in proofs[index]]
        return ProvedEntry(index=index, entry=base64.b64encode(encoded[index]).decode(), proof=path)

    vehicle = [i for i, item in enumerate(items) if "vin" in item[0]]
    return encode_bundle(
        Bundle(
            format=BUNDLE_FORMAT,
            vin=VIN,
            checkpoint=LOG.sign(Checkpoint(LOG.origin, size, merkle.root(leaves))),
            entries=[proved(i) for i in vehicle],
            trust=[proved(i) for i in range(size) if i not in vehicle],
        )
    )


BY_OPERATOR = (OPERATOR, "operator")
GENESIS: list[Item] = [
    (actor("operator", "operator"), *BY_OPERATOR),
    (grant("operator", OPERATOR), *BY_OPERATOR),
]
ONBOARD: list[Item] = [
    (actor("acme", "inspector"), *BY_OPERATOR),
    (grant("acme", ACME), *BY_OPERATOR),
]
INSPECTION: Item = (inspection(), ACME, "acme")


class Defect(NamedTuple):
    items: list[Item]
    index: int  # the entry the failure must name
    says: str  # words of its message


DEFECTS = {
    # 1. trust entries are actors, grants and revocations, as their signed records say
    "a-vehicle-kind-among-trust-entries": Defect(
        [*GENESIS, *ONBOARD, (grant("acme", SPARE), *BY_OPERATOR, {"kind": "recall"}), INSPECTION],
        4,
        "not a trust kind",
    ),
    "a-record-of-another-kind-than-its-entry": Defect(
        [*GENESIS, *ONBOARD, (grant("acme", SPARE), *BY_OPERATOR, {"kind": "actor"}), INSPECTION],
        4,
        "kind differs",
    ),
    "a-trust-entry-with-a-vin": Defect(
        [*GENESIS, *ONBOARD, (actor("bravo", "workshop"), *BY_OPERATOR, {"vin": VIN}), INSPECTION],
        4,
        "no VIN",
    ),
    "a-trust-entry-with-a-derived-record": Defect(
        [
            *GENESIS,
            *ONBOARD,
            (
                actor("bravo", "workshop"),
                *BY_OPERATOR,
                {"derived": {"record": actor("bravo", "operator")}},
            ),
            INSPECTION,
        ],
        4,
        "derived",
    ),
    "a-trust-record-with-an-unknown-field": Defect(
        [
            *GENESIS,
            *ONBOARD,
            ({**actor("bravo", "workshop"), "phone": "+1 555"}, *BY_OPERATOR),
            INSPECTION,
        ],
        4,
        "unknown field",
    ),
    "a-bundle-of-trust-entries-only": Defect(
        [*GENESIS, *ONBOARD, ({**actor("bravo", "workshop"), "phone": "+1 555"}, *BY_OPERATOR)],
        4,
        "unknown field",
    ),
    "a-revocation-without-a-reason": Defect(
        [*GENESIS, *ONBOARD, ({**revoke(ACME), "reason": ""}, *BY_OPERATOR), INSPECTION],
        4,
        "reason",
    ),
    # 2. both genesis entries are signed by the operator with the key entry 1 grants it
    "genesis-signed-under-another-key-id": Defect(
        [
            (
                actor("operator", "operator"),
                *BY_OPERATOR,
                {"signer": Signer(key_id(ACME.public_key()), "operator")},
            ),
            GENESIS[1],
            *ONBOARD,
            INSPECTION,
        ],
        0,
        "signer",
    ),
    "genesis-signed-by-another-actor": Defect(
        [GENESIS[0], (grant("operator", OPERATOR), OPERATOR, "mallory"), *ONBOARD, INSPECTION],
        1,
        "signer",
    ),
    "genesis-grant-to-another-actor": Defect(
        [GENESIS[0], (grant("mallory", OPERATOR), *BY_OPERATOR), *ONBOARD, INSPECTION],
        1,
        "another actor than entry 0 created",
    ),
    # 3. a grant's key ID is the SHA-256 of its public key
    "genesis-grant-with-another-key-id": Defect(
        [
            GENESIS[0],
            (grant("operator", OPERATOR, key_id=key_id(SPARE.public_key())), *BY_OPERATOR),
            *ONBOARD,
            INSPECTION,
        ],
        1,
        "key_id",
    ),
    "grant-with-another-key-id": Defect(
        [
            *GENESIS,
            ONBOARD[0],
            (grant("acme", ACME, key_id=key_id(SPARE.public_key())), *BY_OPERATOR),
            INSPECTION,
        ],
        3,
        "key_id",
    ),
    # 4. what the sequencer refuses to append
    "a-grant-before-its-actor": Defect(
        [*GENESIS, *reversed(ONBOARD), INSPECTION], 2, "does not exist"
    ),
    "an-actor-created-twice": Defect(
        [*GENESIS, *ONBOARD, (actor("acme", "operator"), *BY_OPERATOR), INSPECTION],
        4,
        "already exists",
    ),
    "a-key-granted-twice": Defect(
        # Signed anew (another time), so it is no replay of the first grant's envelope.
        [*GENESIS, *ONBOARD, (grant("acme", ACME, occurred_at=LATER), *BY_OPERATOR), INSPECTION],
        4,
        "already granted",
    ),
    "a-revocation-of-an-unknown-key": Defect(
        [*GENESIS, *ONBOARD, (revoke(SPARE), *BY_OPERATOR), INSPECTION], 4, "was not granted"
    ),
    "a-key-revoked-twice": Defect(
        [
            *GENESIS,
            *ONBOARD,
            (grant("acme", SPARE), *BY_OPERATOR),
            (revoke(SPARE), *BY_OPERATOR),
            ({**revoke(SPARE), "occurred_at": LATER}, *BY_OPERATOR),
            INSPECTION,
        ],
        6,
        "already revoked",
    ),
    # 5. a signed payload repeats no key in one object: readers disagree on which counts
    "a-trust-record-that-repeats-a-key": Defect(
        [
            *GENESIS,
            *ONBOARD,
            repeating(actor("bravo", "workshop"), *BY_OPERATOR, "role", "operator"),
            INSPECTION,
        ],
        4,
        "repeats the key 'role' in one object ($.role)",
    ),
}


# Vehicle entries that fail a check of their own, as test_verify_references.py's
# defects do (its ``entry_failures``), fed to every checker beside them.
def with_another_signature(record: dict, key, signer: str) -> Item:
    """``record`` signed by ``key``, with a signature by a key no one holds added: the
    same signed record as the one ``key`` signs alone (``dsse.envelope_digest``)."""
    env = dsse.sign_envelope(json.dumps(record).encode(), key)
    junk = dsse.Signature(keyid="22" * 32, sig=base64.b64encode(bytes(64)).decode())
    return (
        record,
        key,
        signer,
        {"envelope": msgspec.structs.replace(env, signatures=[*env.signatures, junk])},
    )


def with_signature_repeated(record: dict, key, signer: str) -> Item:
    """``record`` signed by ``key``, its signature given twice: the same signed record."""
    env = dsse.sign_envelope(json.dumps(record).encode(), key)
    twice = msgspec.structs.replace(env, signatures=env.signatures * 2)
    return (record, key, signer, {"envelope": twice})


VEHICLE_DEFECTS = {
    "a-record-logged-twice": Defect(
        [*GENESIS, *ONBOARD, INSPECTION, INSPECTION],
        5,
        "the same signed record as entry 4; the ledger logs a record once",
    ),
    "a-record-logged-again-with-its-signature-repeated": Defect(
        [*GENESIS, *ONBOARD, INSPECTION, with_signature_repeated(inspection(), ACME, "acme")],
        5,
        "the envelope carries 2 signatures; sign it once",
    ),
    "a-record-logged-again-with-another-keys-signature-added": Defect(
        [*GENESIS, *ONBOARD, INSPECTION, with_another_signature(inspection(), ACME, "acme")],
        5,
        "the envelope carries 2 signatures; sign it once",
    ),
    "a-vehicle-record-that-repeats-a-key": Defect(
        [*GENESIS, *ONBOARD, repeating(inspection(), ACME, "acme", "flood", True, "flags")],
        4,
        "repeats the key 'flood' in one object ($.flags.flood)",
    ),
}

WELL_FORMED: list[Item] = [
    *GENESIS,
    *ONBOARD,
    (grant("acme", SPARE), *BY_OPERATOR),
    (revoke(SPARE), *BY_OPERATOR),
    INSPECTION,
    (inspection(km=50_000, day=9), ACME, "acme"),
]


def trust_failures(findings: list[dict], index: int) -> list[str]:
    """The details of the failed "trust" findings that name entry ``index``."""
    return [
        f["detail"]
        for f in findings
        if not f["ok"]
        and f["check"] == "trust"
        and f["index"] == index
        and f["detail"].startswith(f"entry {index} ")
    ]


def _findings(report: Report) -> list[dict]:
    return [vars(f) for f in report.findings]


def test_a_well_formed_bundle_verifies():
    report = verify_bundle_bytes(make_bundle(WELL_FORMED), LOG.vkey)
    assert report.ok, report.failures
    assert [f.check for f in report.findings if f.check == "signature"] == ["signature"] * 2


@pytest.mark.parametrize("name", DEFECTS)
def test_a_trust_defect_fails_the_trust_check_naming_the_entry(name):
    defect = DEFECTS[name]
    report = verify_bundle_bytes(make_bundle(defect.items), LOG.vkey)
    assert not report.ok
    details = trust_failures(_findings(report), defect.index)
    assert any(defect.says in d for d in details), report.failures


def test_a_native_record_is_read_from_what_was_signed_not_from_derived():
    """``derived.record`` stands in only for a provider's own format; on a native record
    a server could otherwise show the buyer facts nobody signed."""
    signed = inspection(km=48_210)
    unsigned = {**signed, "odometer_km": 9_999, "flags": {**signed["flags"], "flood": False}}
    signed["flags"] = {**signed["flags"], "flood": True}
    items = [*GENESIS, *ONBOARD, (signed, ACME, "acme", {"derived": {"record": unsigned}})]
    report = verify_bundle_bytes(make_bundle(items), LOG.vkey)
    assert report.ok, report.failures
    [entry] = report.entries
    assert json.loads(record_bytes(entry)) == signed
    view = recompute_view(report)
    assert "flood" in json.dumps(view["alerts"]) or "flood" in json.dumps(view)
    assert "9999" not in json.dumps(view) and "9_999" not in json.dumps(view)
