"""What an operator's log says: each admin action that succeeds, at INFO, by ids and
entry indexes only (never a token, a name or a reason); `serve --log-level` and
`--access-log` reach every worker's logging."""

from __future__ import annotations

import logging
import os

import pytest
from click.testing import CliRunner

from api.app import configure_logging
from api.cli import main
from core.keys import generate_private_key, key_id, public_key_pem
from tests.conftest import onboard


@pytest.fixture
def admin(sqlite_ledger):
    return {"Authorization": f"Bearer {sqlite_ledger.settings.admin_token()}"}


def test_admin_actions_are_logged_by_id(sqlite_ledger, client, admin, caplog):
    key = generate_private_key()
    pem = public_key_pem(key.public_key()).decode()
    with caplog.at_level(logging.INFO, logger="vinledger.admin"):
        body = {"actor_id": "lot-7", "name": "Jane Roe Cars", "role": "dealer", "public_key": pem}
        assert client.post("/admin/actors", json=body, headers=admin).status_code == 201
        r = client.post("/admin/tokens", json={"actor_id": "lot-7"}, headers=admin)
        assert r.status_code == 201
        token = r.json()["token"]
        revoke = {"reason": "Jane's laptop stolen"}
        path = f"/admin/keys/{key_id(key.public_key())}/revoke"
        assert client.post(path, json=revoke, headers=admin).status_code == 201
    said = [r.getMessage() for r in caplog.records if r.name == "vinledger.admin"]
    assert said == [
        "admin: actor lot-7 (dealer) added at entry 2",
        f"admin: key {key_id(key.public_key())} granted to actor lot-7 at entry 3",
        "admin: API token issued to actor lot-7",
        f"admin: key {key_id(key.public_key())} revoked at entry 4",
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "vinledger.admin")
    for secret in (token, admin["Authorization"].split()[1], "Jane", "laptop"):
        assert secret not in caplog.text


def test_a_refused_admin_action_logs_no_success(sqlite_ledger, client, admin, caplog):
    onboard(sqlite_ledger, "acme", "inspector")
    with caplog.at_level(logging.INFO):
        r = client.post("/admin/keys/" + "0" * 64 + "/revoke", headers=admin)
    assert r.status_code == 404
    assert not [r for r in caplog.records if r.name == "vinledger.admin"]
    assert any(r.name == "vinledger.api" and "refused" in r.getMessage() for r in caplog.records)


@pytest.fixture
def restore_levels():
    names = ("", "uvicorn.error", "uvicorn.access")
    levels = [logging.getLogger(n).level for n in names]
    yield
    for name, level in zip(names, levels, strict=True):
        logging.getLogger(name).setLevel(level)


def test_log_levels(restore_levels):
    configure_logging("warning", access_log=False)
    assert not logging.getLogger("vinledger.api").isEnabledFor(logging.INFO)
    assert logging.getLogger("vinledger.api").isEnabledFor(logging.WARNING)
    assert not logging.getLogger("uvicorn.access").isEnabledFor(logging.CRITICAL)
    configure_logging("debug", access_log=True)
    assert logging.getLogger("vinledger.admin").isEnabledFor(logging.DEBUG)
    assert logging.getLogger("uvicorn.access").isEnabledFor(logging.INFO)
    assert not logging.getLogger("uvicorn.error").isEnabledFor(logging.INFO)
    with pytest.raises(ValueError, match="VINLEDGER_LOG_LEVEL"):
        configure_logging("loud", access_log=False)


@pytest.mark.parametrize(
    ("options", "level", "access"),
    [([], "info", False), (["--log-level", "warning", "--access-log"], "warning", True)],
)
def test_serve_passes_its_logging_options(sqlite_ledger, monkeypatch, options, level, access):
    import uvicorn

    seen = {}

    def run(*args, **kwargs):
        seen.update(kwargs, level=os.environ["VINLEDGER_LOG_LEVEL"])
        seen["access_env"] = os.environ["VINLEDGER_ACCESS_LOG"]

    monkeypatch.setattr(uvicorn, "run", run)
    for name in ("VINLEDGER_DATA", "VINLEDGER_LOG_LEVEL", "VINLEDGER_ACCESS_LOG"):
        monkeypatch.setenv(name, "")  # undone after the test, as serve sets them
    data = str(sqlite_ledger.settings.data_dir)
    result = CliRunner().invoke(main, ["serve", "--data", data, *options])
    assert result.exit_code == 0, result.output
    assert seen["level"] == level and seen["access_log"] is access
    assert seen["access_env"] == ("1" if access else "0")
    assert seen["log_level"] == "warning"  # uvicorn's own start-up lines stay quiet
