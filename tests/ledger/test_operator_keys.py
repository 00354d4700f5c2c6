"""The ledger never revokes its last valid operator key: grants and revocations need
one, so no partner could be onboarded and no stolen key revoked ever after (an
operator's acceptance test locked itself out with one command)."""

from __future__ import annotations

import pytest

from core.errors import Conflict
from core.keys import generate_private_key, key_id, public_key_pem
from ledger.storage import log_size


def size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


def test_the_last_operator_key_is_not_revoked(ledger):
    own = key_id(ledger.settings.operator_key().public_key())
    before = size(ledger)
    with pytest.raises(Conflict, match=r"last valid operator key.* Grant another operator key"):
        ledger.revoke_key(own, "rotating")
    assert size(ledger) == before


def test_with_a_second_operator_key_granted_the_first_may_go(ledger):
    own = key_id(ledger.settings.operator_key().public_key())
    spare = generate_private_key()
    ledger.add_actor("operator", "Ledger operator", "operator", public_key_pem(spare.public_key()))
    ledger.revoke_key(own, "rotated to the spare key")
    assert ledger.key_status(own)["revoked_at_index"] is not None
    assert ledger.key_status(key_id(spare.public_key()))["revoked_at_index"] is None
