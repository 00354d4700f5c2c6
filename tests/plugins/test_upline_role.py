"""A referrer's upline is a referrer (api/service.py ``add_actor`` and the sequencer's
trust checks, ledger/trust.py): a dealer set as one would earn level 2 on its
competitors' sales. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidInput, InvalidRecord
from core.keys import generate_private_key, public_key_pem
from core.records import Actor, encode_record, parse_record
from ledger.storage import get_actor, log_size
from tests.conftest import onboard


def pem() -> bytes:
    return public_key_pem(generate_private_key().public_key())


def size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


@pytest.mark.parametrize("role", ["dealer", "inspector", "operator"])
def test_add_actor_refuses_an_upline_that_is_no_referrer(ledger, role):
    if role != "operator":
        onboard(ledger, "rival", role)
    upline = "rival" if role != "operator" else "operator"
    before = size(ledger)
    with pytest.raises(InvalidInput, match=f"upline {upline!r} is an? {role}, not a referrer") as e:
        ledger.add_actor("amy", "Amy", "referrer", pem(), upline=upline)
    # Refused before anything is signed (400), not by the sequencer's own check (422).
    assert type(e.value) is InvalidInput and e.value.field == "upline"
    assert size(ledger) == before


def test_the_sequencer_refuses_an_actor_entry_whose_upline_is_no_referrer(ledger):
    onboard(ledger, "rival", "dealer")
    record = Actor(
        actor_id="amy",
        name="Amy",
        role="referrer",
        upline="rival",
        occurred_at=datetime(2026, 6, 1, tzinfo=UTC),
    )
    before = size(ledger)
    with pytest.raises(InvalidRecord, match="'rival' is a dealer, not a referrer") as refused:
        ledger._operator_append([parse_record(encode_record(record))])
    assert refused.value.field == "upline"
    assert size(ledger) == before
    with ledger.store.reader() as s:
        assert get_actor(s, "amy") is None


def test_a_referrer_is_an_upline(ledger):
    ledger.add_actor("boss", "Boss", "referrer", pem())
    ledger.add_actor("amy", "Amy", "referrer", pem(), upline="boss")
    with ledger.store.reader() as s:
        assert get_actor(s, "amy").upline == "boss"
    ledger.add_actor("amy", "Amy", "referrer", pem(), upline="boss")  # a key rotation
