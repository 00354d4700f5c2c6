"""GET /referrals and /referrals/CODE: a code's terms, private like commissions; a dealer
reads what a sale naming a code pays before recording it."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tests.api.test_referrals import refer, referrer
from tests.conftest import onboard, start_server


def get(client, path, token=None):
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return client.get(path, headers=headers)


def test_terms_are_read_by_the_dealer_the_referrer_and_the_operator(client, sqlite_ledger):
    referrer(sqlite_ledger, "ref-boss")
    amy = referrer(sqlite_ledger, "ref-amy", upline="ref-boss")
    bob = referrer(sqlite_ledger, "ref-bob")
    onboard(sqlite_ledger, "bay-auto", "dealer")
    params = {"percent": "2", "upline_percent": "0.5"}
    made = refer(client, amy, "AMY-26", "two-level", params)
    assert made.status_code == 201, made.text
    assert (
        refer(client, bob, "BOB-1", "flat", {"amount": "150.00", "currency": "EUR"}).status_code
        == 201
    )

    dealer = sqlite_ledger.issue_token("bay-auto")
    r = get(client, "/referrals/AMY-26", dealer)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    terms = r.json()
    assert {k: terms[k] for k in ("code", "referrer", "upline", "rule", "model", "region")} == {
        "code": "AMY-26",
        "referrer": "ref-amy",
        "upline": "ref-boss",
        "rule": "two-level",
        "model": "1HG/2003",
        "region": "US-CA",
    }
    assert terms["params"] == made.json()["params"]
    assert terms["rule_version"] == made.json()["rule_version"]
    assert terms["created_at"].endswith("Z")

    # A referrer lists its own codes, and another's code is unknown to it.
    amy_token = sqlite_ledger.issue_token("ref-amy")
    mine = get(client, "/referrals", amy_token).json()["referrals"]
    assert [t["code"] for t in mine] == ["AMY-26"]
    assert get(client, "/referrals/AMY-26", amy_token).status_code == 200
    hidden = get(client, "/referrals/BOB-1", amy_token)
    assert hidden.status_code == 404 and "BOB-1" in hidden.json()["detail"]

    # The operator sees every code; a dealer lists none (it asks by the buyer's code).
    admin = sqlite_ledger.settings.admin_token()
    assert [t["code"] for t in get(client, "/referrals", admin).json()["referrals"]] == [
        "AMY-26",
        "BOB-1",
    ]
    listed = get(client, "/referrals", dealer)
    assert listed.status_code == 403 and "/referrals/CODE" in listed.json()["detail"]


def test_no_token_an_unknown_token_and_an_unknown_code(client, sqlite_ledger):
    onboard(sqlite_ledger, "bay-auto", "dealer")
    none = get(client, "/referrals/AMY-26")
    assert none.status_code == 401
    assert none.headers["content-type"].startswith("application/problem+json")
    assert "referral terms are private" in none.json()["detail"]
    assert get(client, "/referrals", "not-a-token").status_code == 401
    dealer = sqlite_ledger.issue_token("bay-auto")
    unknown = get(client, "/referrals/NOPE-1", dealer)
    assert unknown.status_code == 404 and "NOPE-1" in unknown.json()["detail"]


def test_vinledger_referrals_prints_a_codes_terms(client, sqlite_ledger, tmp_path):
    from api.cli import main

    amy = referrer(sqlite_ledger, "ref-amy")
    onboard(sqlite_ledger, "bay-auto", "dealer")
    refer(client, amy, "AMY-26", "flat", {"amount": "200.00", "currency": "EUR"})
    token = tmp_path / "bay.token"
    token.write_text(sqlite_ledger.issue_token("bay-auto") + "\n")
    proc, url = start_server(sqlite_ledger.settings.data_dir)
    try:
        asked = ["referrals", "AMY-26", "--url", url, "--token-file", str(token)]
        out = CliRunner().invoke(main, asked)
        assert out.exit_code == 0, out.output
        assert "AMY-26  rule flat" in out.output and "amount 200.00" in out.output
        assert "currency EUR" in out.output and "referrer ref-amy" in out.output
        as_json = CliRunner().invoke(main, [*asked, "--json"])
        assert json.loads(as_json.output)["params"]["currency"] == "EUR"
        listed = CliRunner().invoke(main, ["referrals", "--url", url, "--token-file", str(token)])
        assert listed.exit_code == 1 and "/referrals/CODE" in listed.output
        gone = CliRunner().invoke(
            main, ["referrals", "NOPE-1", "--url", url, "--token-file", str(token)]
        )
        assert gone.exit_code == 1 and "no referral code 'NOPE-1'" in gone.output
    finally:
        proc.terminate()
        proc.wait(10)
