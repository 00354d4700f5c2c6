"""GET /commissions while admin.token is missing or empty (api/service_dealers.py
``actor_for_token``): the operator's token opens nothing then, but dealers and
referrers still read their commissions with theirs, an unknown token is a plain 401
that names no file of the server, and the operator reads it in the log, once."""

from __future__ import annotations

import logging

import pytest

from tests.api.test_dealer_commission_statement import month  # noqa: F401 (fixture)


def commissions(client, token: str):
    return client.get("/commissions", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.usefixtures("month")
@pytest.mark.parametrize("gone", ["missing", "empty"])
def test_dealers_read_their_commissions_without_an_admin_token(client, sqlite_ledger, gone, caplog):
    dealer = sqlite_ledger.issue_token("bay-auto")
    admin = sqlite_ledger.settings.admin_token()
    path = sqlite_ledger.settings.token_path
    if gone == "missing":
        path.unlink()
    else:
        path.write_text("\n")
    with caplog.at_level(logging.ERROR, logger="vinledger.admin"):
        for _ in range(2):
            answer = commissions(client, dealer)
            assert answer.status_code == 200, answer.text
            assert {c["dealer"] for c in answer.json()["commissions"]} == {"bay-auto"}
        for token in ("junk", admin):
            refused = commissions(client, token)
            assert refused.status_code == 401, refused.text
            assert refused.json()["detail"] == "the bearer token is not known to this ledger"
            assert str(path.parent) not in refused.text
    logged = [r.getMessage() for r in caplog.records if "admin.token" in r.getMessage()]
    assert len(logged) == 1 and "commissions" in logged[0], logged
    path.write_text(admin)  # the operator writes it back: its token reads all again
    assert commissions(client, admin).status_code == 200
