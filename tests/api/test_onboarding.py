"""Onboarding: an actor and its key grant are appended together or not at all, and a
mistake (another role, an unknown or circular upline) is refused before anything is."""

from __future__ import annotations

import pytest

from core.errors import Conflict, InvalidInput, NotFound
from core.keys import generate_private_key, public_key_pem
from ledger.storage import get_actor, log_size
from tests.conftest import onboard


def size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def pem() -> bytes:
    return public_key_pem(generate_private_key().public_key())


def test_a_refused_key_grant_appends_no_actor(ledger):
    inspector = onboard(ledger, "acme", "inspector")
    before = size(ledger)
    with pytest.raises(Conflict, match=r"already granted to 'acme'.*vinledger keygen"):
        ledger.add_actor("evil-insurance", "Evil Insurance", "insurer", inspector.public_pem)
    assert size(ledger) == before
    with ledger.store.reader() as s:
        assert get_actor(s, "evil-insurance") is None
    # The same id can be onboarded properly afterwards.
    ledger.add_actor("evil-insurance", "Evil Insurance", "insurer", pem())
    assert size(ledger) == before + 2


def test_another_key_for_an_actor_needs_its_role(ledger):
    onboard(ledger, "acme", "inspector")
    before = size(ledger)
    with pytest.raises(Conflict, match=r"already exists as an inspector; .* same role"):
        ledger.add_actor("acme", "Acme", "insurer", pem())
    assert size(ledger) == before
    [grant] = ledger.add_actor("acme", "Acme", "inspector", pem())  # key rotation
    assert grant.index == before


def test_an_upline_must_be_another_actor_that_exists(ledger):
    before = size(ledger)
    with pytest.raises(NotFound, match="upline 'nobody' is no actor"):
        ledger.add_actor("amy", "Amy", "referrer", pem(), upline="nobody")
    with pytest.raises(InvalidInput, match="its own upline"):
        ledger.add_actor("amy", "Amy", "referrer", pem(), upline="amy")
    assert size(ledger) == before
    onboard(ledger, "broker-bob", "referrer")
    onboard(ledger, "broker-cai", "referrer")
    ledger.add_actor("amy", "Amy", "referrer", pem(), upline="broker-bob")
    with pytest.raises(Conflict, match="under 'broker-bob'"):
        ledger.add_actor("amy", "Amy", "referrer", pem(), upline="broker-cai")
