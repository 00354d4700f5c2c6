"""The bundle's own queries: the trust entries it follows and the tree nodes it reads."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import text

from core.keys import generate_private_key
from ledger import storage
from ledger.bundle import build_bundle, encode_bundle
from ledger.storage import read_entries, read_nodes
from ledger.verify import verify_bundle
from tests.conftest import VIN, VIN2, Partner, inspection, maintenance, onboard


def test_trust_is_every_signer_back_to_genesis_and_nothing_else(ledger):
    onboard(ledger, "quicklane", "workshop")  # signs only VIN2: not behind VIN's bundle
    acme = Partner("acme", "inspector", generate_private_key())
    granted = ledger.add_actor("acme", "Acme", "inspector", acme.public_pem)
    shop = onboard(ledger, "fixit", "workshop")
    ledger.submit_now([acme.envelope(inspection()), shop.envelope(maintenance(vin=VIN2))])
    revoked = ledger.revoke_key(acme.keyid, "laptop stolen")

    bundle = build_bundle(ledger.store, VIN)

    assert [p.index for p in bundle.trust] == [0, 1, *(a.index for a in granted), revoked.index]
    with ledger.store.reader() as s:
        assert [p.data for p in bundle.trust] == [
            read_entries(s, p.index, p.index + 1)[0] for p in bundle.trust
        ]
    assert verify_bundle(bundle, ledger.vkey).ok


@pytest.mark.parametrize("positional", [True, False])
def test_node_reads_answer_what_is_stored_past_one_chunk(ledger, monkeypatch, positional):
    if not positional:  # a driver with named parameters only
        monkeypatch.setattr(storage, "_MARKS", {})
    shop = onboard(ledger, "quicklane", "workshop")
    ledger.submit_now(
        [shop.envelope(maintenance(km=1_000 + d, day=1 + d % 28)) for d in range(250)]
    )
    with ledger.store.read_engine.connect() as c:
        stored = {(lv, n): bytes(h) for lv, n, h in c.execute(text("SELECT * FROM nodes"))}
        coords = list(stored)
        assert len(coords) > 400  # more than one query's worth
        asked = coords + random.Random(7).sample(coords, 50)  # repeats, in any order
        random.Random(8).shuffle(asked)
        assert read_nodes(c, asked) == [stored[c] for c in asked]
        with pytest.raises(KeyError, match=r"\(40, 0\)"):
            read_nodes(c, [coords[0], (40, 0)])
    with ledger.store.reader() as s:  # through a session as well
        assert read_nodes(s, asked[:5]) == [stored[c] for c in asked[:5]]


def test_a_driver_without_positional_parameters_gets_the_same_bundle(ledger, monkeypatch):
    inspector = onboard(ledger, "acme", "inspector")
    ledger.submit_now([inspector.envelope(inspection(km=1_000 * d, day=d)) for d in range(1, 6)])
    expected = encode_bundle(build_bundle(ledger.store, VIN))
    monkeypatch.setattr(storage, "_MARKS", {})
    assert encode_bundle(build_bundle(ledger.store, VIN)) == expected
