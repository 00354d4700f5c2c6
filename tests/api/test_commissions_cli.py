"""`vinledger commissions`: a referrer reads its statement from a real server with its
own API token, as text, CSV or JSON; without a token, or with a wrong one, it is told
what to do."""

from __future__ import annotations

import csv
import io
import json

import pytest
from click.testing import CliRunner

from api.cli import main
from core import dsse
from core.keys import generate_private_key
from plugins.referrals import PAYLOAD_TYPE
from tests.api.test_dealer_commission_statement import sale, submit
from tests.conftest import Partner, onboard, start_server


@pytest.fixture
def statement(sqlite_ledger, tmp_path):
    """A server over a ledger where amy's code earned 200.00 EUR on a June sale: (URL, a
    file with amy's token)."""
    ledger = sqlite_ledger
    amy = Partner("amy", "referrer", generate_private_key())
    ledger.add_actor("amy", "Amy", "referrer", amy.public_pem)
    body = {
        "code": "AMY-26",
        "rule": "flat",
        "params": {"amount": "200", "currency": "EUR"},
        "model": "1HG/2003",
        "region": "DE",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    ledger.create_referral(dsse.encode_envelope(env))
    submit(ledger, onboard(ledger, "bay-auto", "dealer"), sale(1))
    token = tmp_path / "amy.token"
    token.write_text(ledger.issue_token("amy") + "\n")
    token.chmod(0o600)
    proc, url = start_server(ledger.settings.data_dir)
    yield url, token
    proc.terminate()
    proc.wait(10)


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, ["commissions", *args], env=env)


def test_a_referrer_reads_its_statement_as_text_csv_and_json(statement):
    url, token = statement
    r = run("--url", url, "--token-file", str(token), "--as-of", "2026-07-01")
    assert r.exit_code == 0, r.output
    assert "Commissions as of 2026-07-01 (the ledger's day): 1" in r.output
    line = next(x for x in r.output.splitlines() if "AMY-26" in x)
    assert "200.00 EUR" in line and "payable" in line and "2026-06-01" in line
    assert "amy  EUR: payable 200.00" in r.output
    r = run("--url", url, "--token-file", str(token), "--as-of", "2026-07-01", "--csv")
    assert r.exit_code == 0, r.output
    (row,) = csv.DictReader(io.StringIO(r.output))
    assert (row["amount"], row["currency"], row["status"]) == ("200.00", "EUR", "payable")
    r = run(
        "--url", url, "--as-of", "2026-06-01", "--json", env={"VINLEDGER_TOKEN": token.read_text()}
    )
    assert r.exit_code == 0, r.output
    answer = json.loads(r.output)
    assert answer["commissions"][0]["status"] == "held"  # the return window is open
    r = run("--url", url, "--token-file", str(token), "--from", "2026-06-02")
    assert r.exit_code == 0 and ": 0" in r.output.splitlines()[0], r.output


def test_without_a_token_or_with_a_wrong_one_it_says_what_to_do(statement, tmp_path):
    url, _ = statement
    r = run("--url", url, env={"VINLEDGER_TOKEN": ""})
    assert r.exit_code == 1 and "vinledger tokens issue" in r.output, r.output
    wrong = tmp_path / "wrong.token"
    wrong.write_text("not-a-token")
    r = run("--url", url, "--token-file", str(wrong))
    assert r.exit_code == 1 and "401" in r.output, r.output


@pytest.mark.parametrize(
    "body, said",
    [
        ({"hello": 1}, "not the ledger's answer"),
        ([1, 2], "not the ledger's answer"),
        (
            {"as_of": "2026-07-01", "commissions": [], "totals": [{"beneficiary": "amy"}]},
            "not a vinledger statement",
        ),
        (
            {"as_of": "2026-07-01", "commissions": [{"sale": 5}], "totals": []},
            "not a vinledger statement",
        ),
    ],
)
def test_an_answer_that_is_no_statement_is_said_in_one_line(monkeypatch, tmp_path, body, said):
    import httpx

    import api.client

    real = api.client.VinledgerClient

    def answering(url, **kw):
        reply = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
        return real(url, transport=reply, **kw)

    monkeypatch.setattr(api.client, "VinledgerClient", answering)
    token = tmp_path / "t"
    token.write_text("abc")
    r = run("--url", "http://ledger.example", "--token-file", str(token))
    assert r.exit_code == 1 and said in r.output and "Traceback" not in r.output, r.output


@pytest.mark.parametrize("token", [b"t\xf6k\xe9n", "tökén".encode(), b"two\nlines"])
def test_a_token_file_that_holds_no_token_is_said_in_one_line(tmp_path, token):
    path = tmp_path / "t"
    path.write_bytes(token)
    r = run("--url", "http://127.0.0.1:9", "--token-file", str(path))
    assert r.exit_code == 1 and "does not hold an API token" in r.output, r.output
