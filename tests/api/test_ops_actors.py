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


@pytest.mark.parametrize(
    ("name", "said"), [("华诚", "no Latin letter or digit"), ("Ωμέγα", "no Latin"), ("X", "'x'")]
)
def test_a_name_that_makes_no_actor_id_asks_for_one(client, admin, name, said):
    body = {"name": name, "role": "inspector", "public_key": pem()}
    r = client.post("/admin/actors", json=body, headers=admin)
    assert r.status_code == 400
    assert r.json()["field"] == "$.actor_id" and said in r.json()["detail"]
    assert '"actor_id"' in r.json()["detail"]


@pytest.mark.parametrize(
    ("name", "made"),
    [
        ("Škoda Centrum Praha", "skoda-centrum-praha"),
        ("Müller Autohaus", "muller-autohaus"),
        ("Autohaus Straße 5", "autohaus-strasse-5"),
        ("Ｆｕｌｌ Ｗｉｄｔｈ", "full-width"),
        ("Citroën Île-de-France", "citroen-ile-de-france"),
        ("Łódź Motors", "lodz-motors"),
        ("Øresund Bil", "oresund-bil"),
        ("ÆRØ Auto", "aero-auto"),
        ("Þór Œuvre", "thor-oeuvre"),
        ("Đà Nẵng Đức", "da-nang-duc"),
        ("Garðabær ıI", "gardabaer-ii"),
        ("华诚", ""),
    ],
)
def test_the_actor_id_keeps_accented_letters_without_their_accents(name, made):
    assert actor_id_from(name) == made


def log_size(ledger) -> int:
    from ledger.storage import log_size as size

    with ledger.store.reader() as s:
        return size(s)


def test_a_name_that_makes_an_existing_actors_id_adds_nothing(client, admin, sqlite_ledger):
    onboard(sqlite_ledger, "acme-inspections", "inspector")  # named "Acme Inspections"
    before = log_size(sqlite_ledger)
    # Another partner whose name makes the same id: never given a key of that actor.
    body = {"name": "ACME Inspections", "role": "inspector", "public_key": pem()}
    r = client.post("/admin/actors", json=body, headers=admin)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert "'acme-inspections' exists" in problem["detail"]
    assert "give `actor_id` explicitly" in problem["detail"]
    assert problem["field"] == "$.actor_id"
    # The same name, too: a rotation names the actor it is for.
    body["name"] = "Acme Inspections"
    assert client.post("/admin/actors", json=body, headers=admin).status_code == 409
    assert log_size(sqlite_ledger) == before
    # With the id given, it is a key rotation: one grant.
    r = client.post("/admin/actors", json={**body, "actor_id": "acme-inspections"}, headers=admin)
    assert r.status_code == 201, r.text
    assert [e["index"] for e in r.json()["entries"]] == [before]


def test_actors_add_without_id_never_grants_an_existing_actor_a_key(tmp_path, sqlite_ledger):
    onboard(sqlite_ledger, "muller-autohaus", "dealer")  # named "Muller Autohaus"
    before = log_size(sqlite_ledger)
    key = tmp_path / "new.pub"
    key.write_text(pem())
    data = str(sqlite_ledger.settings.data_dir)
    args = ["--role", "dealer", "--public-key", str(key), "--data", data]
    r = CliRunner().invoke(main, ["actors", "add", "Müller Autohaus", *args])
    assert r.exit_code == 1
    assert "'muller-autohaus' exists" in r.output and "give --id explicitly" in r.output
    assert log_size(sqlite_ledger) == before
    r = CliRunner().invoke(
        main, ["actors", "add", "Muller Autohaus", "--id", "muller-autohaus", *args]
    )
    assert r.exit_code == 0, r.output
    assert log_size(sqlite_ledger) == before + 1


def test_a_name_an_actor_has_under_an_older_id_adds_nothing(client, admin, sqlite_ledger):
    # Added when the id made from "Škoda Praha" lost its Š: it is that actor's name.
    sqlite_ledger.add_actor("koda-praha", "Škoda Praha", "dealer", pem().encode())
    before = log_size(sqlite_ledger)
    body = {"name": "Škoda Praha", "role": "dealer", "public_key": pem()}
    r = client.post("/admin/actors", json=body, headers=admin)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert "an actor of this name exists as 'koda-praha'" in problem["detail"]
    assert "give `actor_id` 'koda-praha'" in problem["detail"]
    assert problem["field"] == "$.actor_id"
    key = sqlite_ledger.settings.data_dir / "new.pub"
    key.write_text(pem())
    data = str(sqlite_ledger.settings.data_dir)
    args = ["--role", "dealer", "--public-key", str(key), "--data", data]
    r = CliRunner().invoke(main, ["actors", "add", "Škoda Praha", *args])
    assert r.exit_code == 1 and "exists as 'koda-praha'" in r.output
    assert "give --id 'koda-praha'" in r.output
    assert log_size(sqlite_ledger) == before
    # Another name, or the id given, is added as asked.
    r = client.post("/admin/actors", json={**body, "name": "Škoda Brno"}, headers=admin)
    assert r.status_code == 201 and r.json()["actor_id"] == "skoda-brno"
    r = CliRunner().invoke(main, ["actors", "add", "Škoda Praha", "--id", "skoda-praha", *args])
    assert r.exit_code == 0, r.output


def test_actors_show_prints_the_revocation_reason(sqlite_ledger):
    acme = onboard(sqlite_ledger, "acme", "inspector")
    sqlite_ledger.revoke_key(acme.keyid, "laptop stolen\nkey 00 valid")
    data = str(sqlite_ledger.settings.data_dir)
    result = CliRunner().invoke(main, ["actors", "show", "acme", "--data", data])
    assert result.exit_code == 0, result.output
    [line] = [x for x in result.output.splitlines() if acme.keyid in x]
    # Quoted as JSON: the reason's line break cannot forge a line of the listing.
    assert line.endswith('revoked at entry 4: "laptop stolen\\nkey 00 valid"')
