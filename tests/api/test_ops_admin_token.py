"""The admin token as an operator meets it: a missing or empty admin.token stops
`serve` with one line before it says it serves, and `vinledger admin-token` replaces a
lost or leaked token, which a running server takes at once."""

from __future__ import annotations

import stat

import pytest
from click.testing import CliRunner

from api.cli import main


def serve(data_dir):
    return CliRunner().invoke(main, ["serve", "--data", str(data_dir), "--port", "1"])


@pytest.mark.parametrize("content", [None, b"", b"  \n"])
def test_serve_refuses_a_missing_or_empty_token_in_one_line(sqlite_ledger, monkeypatch, content):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: pytest.fail("it served"))
    token = sqlite_ledger.settings.token_path
    if content is None:
        token.unlink()
    else:
        token.write_bytes(content)
    result = serve(sqlite_ledger.settings.data_dir)
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "Serving" not in result.output
    [line] = result.output.strip().splitlines()
    said = "is missing" if content is None else "is empty"
    assert line.startswith("error: ") and str(token) in line and said in line
    assert "vinledger admin-token --data" in line


def test_a_renewed_token_replaces_the_old_one_without_restart(sqlite_ledger, client):
    old = sqlite_ledger.settings.admin_token()
    assert client.get("/admin/keys/" + "0" * 64, headers=bearer(old)).status_code == 404
    data_dir = sqlite_ledger.settings.data_dir
    result = CliRunner().invoke(main, ["admin-token", "--data", str(data_dir)])
    assert result.exit_code == 0, result.output
    new = sqlite_ledger.settings.admin_token()
    assert new != old and len(new) >= 40 and new not in result.output
    assert stat.S_IMODE(sqlite_ledger.settings.token_path.stat().st_mode) == 0o600
    assert client.get("/admin/keys/" + "0" * 64, headers=bearer(old)).status_code == 401
    assert client.get("/admin/keys/" + "0" * 64, headers=bearer(new)).status_code == 404
    assert not list(data_dir.glob(".admin.token*"))  # no temporary file left


def test_a_token_removed_under_a_running_server_is_a_401_that_says_so(sqlite_ledger, client):
    old = sqlite_ledger.settings.admin_token()
    sqlite_ledger.settings.token_path.unlink()
    r = client.get("/admin/keys/" + "0" * 64, headers=bearer(old))
    assert r.status_code == 401
    assert "no admin token" in r.json()["detail"]
    assert str(sqlite_ledger.settings.data_dir) not in r.text  # the server's paths stay its own


def test_admin_token_needs_a_ledger(tmp_path):
    result = CliRunner().invoke(main, ["admin-token", "--data", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no ledger in" in result.output
    assert not (tmp_path / "none").exists()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
