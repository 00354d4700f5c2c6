"""The operator's tools for partners' keys: listing an actor's keys (to find the one
to revoke), and refusing to onboard an existing actor id under another name."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from api.cli import main
from core.errors import Conflict
from core.keys import generate_private_key, key_id, load_public_key, public_key_pem
from ledger.storage import get_actor, log_size
from tests.conftest import onboard


def pem() -> str:
    return public_key_pem(generate_private_key().public_key()).decode()


def size(ledger) -> int:
    with ledger.store.reader() as s:
        return log_size(s)


@pytest.fixture
def admin(sqlite_ledger):
    return {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}


@pytest.fixture
def rotated(sqlite_ledger):
    """allianz with a key lost (granted at 3, revoked at 4) and its new key (5)."""
    allianz = onboard(sqlite_ledger, "allianz", "insurer")
    lost = sqlite_ledger.revoke_key(allianz.keyid, "lost laptop")
    new = pem()
    [grant] = sqlite_ledger.add_actor("allianz", "Allianz", "insurer", new.encode())
    return allianz.keyid, lost.index, key_id(load_public_key(new.encode())), grant.index


def test_admin_api_lists_an_actors_keys(client, admin, rotated):
    lost_key, revoked_at, new_key, granted_at = rotated
    r = client.get("/admin/actors/allianz", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "actor_id": "allianz",
        "name": "Allianz",
        "role": "insurer",
        "upline": None,
        "index": 2,
        "keys": [
            {"key_id": lost_key, "granted_at_index": 3, "revoked_at_index": revoked_at},
            {"key_id": new_key, "granted_at_index": granted_at, "revoked_at_index": None},
        ],
    }
    assert r.headers["cache-control"] == "no-store"


def test_admin_actor_needs_the_token_and_an_actor(client, admin):
    r = client.get("/admin/actors/operator")
    assert r.status_code == 401 and "Bearer" in r.json()["detail"]
    r = client.get("/admin/actors/operator", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = client.get("/admin/actors/nobody", headers=admin)
    assert r.status_code == 404 and "'nobody' is no actor" in r.json()["detail"]
    r = client.get("/admin/actors/Not%20An%20Id", headers=admin)
    assert r.status_code == 400 and r.json()["field"] == "actor_id"


def test_actors_show_lists_each_key_with_its_grant_and_revocation(sqlite_ledger, rotated):
    lost_key, revoked_at, new_key, granted_at = rotated
    data = str(sqlite_ledger.settings.data_dir)
    r = CliRunner().invoke(main, ["actors", "show", "allianz", "--data", data])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "allianz: Allianz (insurer), entry 2"
    assert lines[1] == (
        f"  key       {lost_key}  granted at entry 3, revoked at entry {revoked_at}: "
        '"lost laptop"'
    )
    assert lines[2] == f"  key       {new_key}  granted at entry {granted_at}, valid"
    r = CliRunner().invoke(main, ["actors", "show", "nobody", "--data", data])
    assert r.exit_code == 1 and "'nobody' is no actor" in r.output


def test_actors_show_names_the_upline(sqlite_ledger):
    onboard(sqlite_ledger, "broker-bob", "referrer")
    sqlite_ledger.add_actor("amy", "Amy", "referrer", pem().encode(), upline="broker-bob")
    data = str(sqlite_ledger.settings.data_dir)
    r = CliRunner().invoke(main, ["actors", "show", "amy", "--data", data])
    assert r.exit_code == 0 and "  upline    broker-bob" in r.output


def test_an_existing_actor_under_another_name_is_refused(client, sqlite_ledger, admin):
    onboard(sqlite_ledger, "allianz", "insurer")  # named "Allianz"
    before = size(sqlite_ledger)
    actor = {"actor_id": "allianz", "name": "Allianz Direct", "role": "insurer"}
    r = client.post("/admin/actors", json={**actor, "public_key": pem()}, headers=admin)
    assert r.status_code == 409, r.text
    assert "already exists under the name 'Allianz'" in r.json()["detail"]
    assert size(sqlite_ledger) == before
    with pytest.raises(Conflict, match="under the name 'Allianz'"):
        sqlite_ledger.add_actor("allianz", "allianz", "insurer", pem().encode())
    assert size(sqlite_ledger) == before
    # The same name is a key rotation: one grant, the actor as it was.
    actor["name"] = "Allianz"
    r = client.post("/admin/actors", json={**actor, "public_key": pem()}, headers=admin)
    assert r.status_code == 201 and [e["index"] for e in r.json()["entries"]] == [before]
    with sqlite_ledger.store.reader() as s:
        assert get_actor(s, "allianz").name == "Allianz"


def test_actors_add_under_another_name_says_the_name_on_record(tmp_path, sqlite_ledger):
    onboard(sqlite_ledger, "allianz", "insurer")
    key = tmp_path / "new.pub"
    key.write_text(pem())
    data = str(sqlite_ledger.settings.data_dir)
    args = ["--id", "allianz", "--role", "insurer", "--public-key", str(key), "--data", data]
    r = CliRunner().invoke(main, ["actors", "add", "Allianz SE", *args])
    assert r.exit_code == 1 and "under the name 'Allianz'" in r.output
    r = CliRunner().invoke(main, ["actors", "add", "Allianz", *args])
    assert r.exit_code == 0 and "appended entry" in r.output
