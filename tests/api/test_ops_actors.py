"""Onboarding through the admin API as through the CLI: an actor id made from the
name when none is given; `actors show` says why a key was revoked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli import main
from api.routes.admin import actor_id_from
from core.keys import generate_private_key, public_key_pem
from tests.conftest import onboard


@pytest.fixture
def admin(sqlite_ledger):
    return {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}


def pem() -> str:
    return public_key_pem(generate_private_key().public_key()).decode()


def test_the_api_makes_the_actor_id_from_the_name(client, admin):
    body = {"name": "Acme Inspections GmbH", "role": "inspector", "public_key": pem()}
    r = client.post("/admin/actors", json=body, headers=admin)
    assert r.status_code == 201, r.text
    assert r.json()["actor_id"] == "acme-inspections-gmbh" == actor_id_from(body["name"])
    r = client.get("/admin/actors/acme-inspections-gmbh", headers=admin)
    assert r.json()["name"] == "Acme Inspections GmbH"


@pytest.mark.parametrize(("name", "said"), [("华诚", "no letter or digit"), ("X", "'x'")])
def test_a_name_that_makes_no_actor_id_asks_for_one(client, admin, name, said):
    body = {"name": name, "role": "inspector", "public_key": pem()}
    r = client.post("/admin/actors", json=body, headers=admin)
    assert r.status_code == 400
    assert r.json()["field"] == "$.actor_id" and said in r.json()["detail"]
    assert '"actor_id"' in r.json()["detail"]


def test_actors_show_prints_the_revocation_reason(sqlite_ledger):
    acme = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.revoke_key(acme.keyid, "laptop stolen\nkey 00 valid")
    data = str(sqlite_ledger.settings.data_dir)
    result = CliRunner().invoke(main, ["actors", "show", "acme", "--data", data])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if acme.keyid in x]
    # Quoted as JSON: the reason's line break cannot forge a line of the listing.
    assert line.endswith('revoked at entry 4: "laptop stolen\\nkey 00 valid"')
