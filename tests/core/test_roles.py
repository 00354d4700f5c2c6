"""core.roles: who may sign which record kinds."""

from __future__ import annotations

import pytest

from core.errors import Forbidden
from core.records import KINDS, TRUST_KINDS, VEHICLE_KINDS
from core.roles import KINDS_BY_ROLE, ROLES, check_role_may_submit

EXPECTED = {
    "operator": {
        "actor",
        "key_grant",
        "key_revoke",
        "correction",
        "recall",
        "return_request",
        "warranty_claim",
        "claim_decision",
        "dispute",
        "complaint",
    },
    "inspector": {"inspection", "odometer", "correction"},
    "workshop": {"maintenance", "odometer", "recall", "correction"},
    "insurer": {"insurance_claim", "title_brand", "odometer", "correction"},
    "registry": {"title_brand", "transfer", "registration", "odometer", "recall", "correction"},
    "dealer": {"sale", "odometer", "correction", "return_request", "warranty_claim"},
    "referrer": set(),
}


def test_the_table_is_the_policy_of_the_design():
    assert tuple(KINDS_BY_ROLE) == ROLES
    assert {role: set(kinds) for role, kinds in KINDS_BY_ROLE.items()} == EXPECTED


def test_every_kind_in_the_table_is_a_record_kind_and_every_kind_has_a_signer():
    named = set().union(*KINDS_BY_ROLE.values())
    assert named == KINDS


def test_only_the_operator_signs_trust_roots():
    for role, kinds in KINDS_BY_ROLE.items():
        if role != "operator":
            assert not kinds & TRUST_KINDS, role
    assert KINDS_BY_ROLE["operator"] >= TRUST_KINDS


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("kind", sorted(KINDS | {"lease"}))
def test_check_role_may_submit_allows_exactly_the_table(role, kind):
    if kind in EXPECTED[role]:
        assert check_role_may_submit(role, kind) is None
    else:
        with pytest.raises(Forbidden) as err:
            check_role_may_submit(role, kind)
        assert err.value.status == 403
        assert f"may not submit {kind!r} records" in str(err.value)


def test_refusal_lists_what_the_role_may_submit():
    with pytest.raises(Forbidden) as err:
        check_role_may_submit("workshop", "sale")
    assert str(err.value) == (
        "a workshop may not submit 'sale' records; "
        "a workshop may submit: correction, maintenance, odometer, recall"
    )


def test_refusal_uses_the_right_article():
    with pytest.raises(Forbidden, match=r"^an inspector may not submit 'sale' records; an "):
        check_role_may_submit("inspector", "sale")


def test_a_referrer_may_submit_nothing():
    assert all(kind not in KINDS_BY_ROLE["referrer"] for kind in VEHICLE_KINDS)
    with pytest.raises(Forbidden, match="a referrer may submit no records"):
        check_role_may_submit("referrer", "sale")


def test_unknown_role_is_refused_naming_the_roles():
    with pytest.raises(Forbidden) as err:
        check_role_may_submit("mechanic", "maintenance")
    assert "'mechanic' is not a role" in str(err.value)
    assert ", ".join(ROLES) in str(err.value)
