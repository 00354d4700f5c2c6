"""What users ran into on the command line: each error names the file, the flag or the
URL at fault and says what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx

from tests.conftest import VIN, inspection, vinledger


def log_size(url: str) -> int:
    return int(httpx.get(url + "/log/checkpoint").text.splitlines()[1])


def stamp(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def partner(tmp_path, data, name: str, role: str):
    key = tmp_path / f"{role}.key"
    vinledger("keygen", str(key))
    vinledger("actors", "add", name, "--role", role, "--public-key", f"{key}.pub", data=data)
    return key


def failed(*args: str, data=None) -> str:
    """The one-line error of a command that must fail, with no traceback."""
    r = vinledger(*args, data=data, check=False)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr, r.stderr
    return r.stderr


def test_submit_names_the_file_and_the_url_at_fault(server, tmp_path):
    url, _, data = server
    key = partner(tmp_path, data, "Acme Inspections", "inspector")
    before = log_size(url)

    record = tmp_path / "inspection.json"
    record.write_text(json.dumps(inspection()))
    err = failed("submit", str(record), "--key", str(key), "--url", url + "/log")
    assert "does not look like a vinledger ledger" in err and f"(perhaps {url})" in err
    assert "Not Found: Not Found" not in err

    empty = tmp_path / "empty.json"
    empty.write_text("")
    err = failed("submit", str(empty), "--key", str(key), "--url", url)
    assert str(empty) in err and "empty" in err and "truncated" not in err

    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "kind": "inspection",\n  "vin": "' + VIN + '"\n  "grade": "B"\n}')
    err = failed("submit", str(broken), "--key", str(key), "--url", url)
    assert str(broken) in err and "not valid JSON" in err and "line 4" in err

    naive = tmp_path / "naive.json"
    naive.write_text(json.dumps(inspection(occurred_at="2026-05-04T09:30:00")))
    err = failed("submit", str(naive), "--key", str(key), "--url", url)
    assert str(naive) in err and "2026-05-04T09:30:00Z" in err and "UTC" in err

    twice = tmp_path / "twice.json"
    twice.write_text(
        json.dumps(inspection()).replace('"vin": ', '"vin": "2T1BURHE1JC123458", "vin": ', 1)
    )
    err = failed("submit", str(twice), "--key", str(key), "--url", url)
    assert str(twice) in err and '"vin"' in err and "$.vin" in err
    assert log_size(url) == before


def test_submit_prints_the_decision_on_a_claim(server, tmp_path):
    url, _, data = server
    key = partner(tmp_path, data, "Bay Auto", "dealer")
    now = datetime.now(UTC)
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": stamp(now - timedelta(days=2)),
        "odometer_km": 48_000,
        "dealer": "bay-auto",
        "policies": [{"id": "return-7d", "params": {"max_km": 300}}],
    }
    (tmp_path / "sale.json").write_text(json.dumps(sale))
    out = vinledger("submit", str(tmp_path / "sale.json"), "--key", str(key), "--url", url)
    assert "decision" not in out.stdout
    index = int(out.stdout.split("entry ", 1)[1].split(",")[0])
    claim = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": stamp(now - timedelta(hours=1)),
        "odometer_km": 48_100,
        "sale": index,
        "policy": "return-7d",
    }
    (tmp_path / "return.json").write_text(json.dumps(claim))
    out = vinledger("submit", str(tmp_path / "return.json"), "--key", str(key), "--url", url)
    assert f"decision: APPROVED under return-7d (entry {index + 2})" in out.stdout, out.stdout


def test_actors_add_says_to_use_id_when_the_name_makes_no_id(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    key = tmp_path / "x.key"
    vinledger("keygen", str(key))
    add = ("actors", "add", "--role", "dealer", "--public-key", f"{key}.pub")
    err = failed(*add, "x", data=data)
    assert "--id" in err and "2 to 63 lowercase letters" in err and "regex" not in err
    err = failed(*add, "上海汽车", data=data)
    assert "--id" in err
    out = vinledger(*add, "x", "--id", "x-dealer", data=data).stdout
    assert "Actor x-dealer (dealer)" in out


def test_keys_revoke_explains_a_bad_key_id(tmp_path):
    data = tmp_path / "d"
    vinledger("init", data=data)
    err = failed("keys", "revoke", "nothex", data=data)
    assert "64 lowercase hex characters" in err and "vinledger keygen" in err
    assert "regex" not in err
    err = failed("keys", "revoke", "AB" * 32, data=data)
    assert "lowercase hex: write " + "ab" * 32 in err


def test_a_record_signed_offline_is_submitted_later_as_it_is(server, tmp_path):
    """`vinledger sign` needs only the key (signed where the key is kept); `vinledger
    submit ENVELOPE.json` sends it from anywhere, once or again."""
    url, _, data = server
    key = partner(tmp_path, data, "Acme Inspections", "inspector")
    record = tmp_path / "inspection.json"
    record.write_text(json.dumps(inspection()))
    envelope = tmp_path / "inspection.dsse.json"
    vinledger("sign", str(record), "--key", str(key), "--out", str(envelope))
    assert set(json.loads(envelope.read_text())) == {"payload", "payloadType", "signatures"}
    before = log_size(url)
    first = vinledger("submit", str(envelope), "--url", url).stdout
    assert first.startswith("appended: entry") and log_size(url) == before + 1
    again = vinledger("submit", str(envelope), "--url", url).stdout
    assert again.startswith("already in the log") and log_size(url) == before + 1
    printed = vinledger("sign", str(record), "--key", str(key)).stdout
    assert json.loads(printed)["payload"] == json.loads(envelope.read_text())["payload"]
    err = failed("submit", str(envelope), "--key", str(key), "--url", url)
    assert "signed already" in err
    err = failed("submit", str(record), "--url", url)
    assert "give --key" in err


def test_the_provider_hint_is_given_only_for_what_is_no_record(server, tmp_path):
    """An insurer's record with a wrong field is told about that field, not to think of
    a provider's --payload-type."""
    url, _, data = server
    key = partner(tmp_path, data, "Acme Inspections", "inspector")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps(inspection(odometer_km="48000")))
    err = failed("submit", str(wrong), "--key", str(key), "--url", url)
    assert "odometer_km" in err and "--payload-type" not in err
    foreign = tmp_path / "report.json"
    foreign.write_text(json.dumps({"reportId": "R-1", "vehicle": {"vin": VIN}}))
    err = failed("sign", str(foreign), "--key", str(key))
    assert "--payload-type" in err


def test_a_referrer_makes_a_referral_code_with_the_cli(server, tmp_path):
    """The README's referral code, from `vinledger sign` and `submit` (it said "a
    referrer may not submit 'inspection' records" for a signed referral)."""
    url, _, data = server
    key = partner(tmp_path, data, "Amy Referrals", "referrer")
    code = tmp_path / "referral.json"
    terms = {"amount": "100.00", "currency": "EUR"}
    body = {
        "code": "AMY-26",
        "rule": "flat",
        "params": terms,
        "model": "LFV/2020",
        "region": "CN-SH",
    }
    code.write_text(json.dumps(body))
    referral = "application/vnd.vinledger.referral+json"
    out = vinledger(
        "submit", str(code), "--key", str(key), "--payload-type", referral, "--url", url
    )
    assert "referral code AMY-26 (flat) for amy-referrals" in out.stdout
    body["code"] = "AMY-27"
    code.write_text(json.dumps(body))
    signed = tmp_path / "referral.dsse.json"
    vinledger(
        "sign", str(code), "--key", str(key), "--payload-type", referral, "--out", str(signed)
    )
    assert "AMY-27" in vinledger("submit", str(signed), "--url", url).stdout
    # A code is made once: the same envelope again (an answer lost) gives it back.
    again = vinledger("submit", str(signed), "--url", url).stdout
    assert "referral code AMY-27 (flat) for amy-referrals (yours already: made before)" in again
