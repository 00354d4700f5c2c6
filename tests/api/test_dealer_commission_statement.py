"""GET /commissions as a month's statement (api/routes/referrals.py,
api/service_dealers.py, plugins/commission_settling.py): each row names its sale's VIN
and day, a voided or replaced row the entry behind it, sales can be chosen by day,
the amounts are added up per beneficiary and currency, and the rows come as CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest

from core import dsse
from core.keys import generate_private_key
from ledger.sequencer import Appended
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, filed_when_dated, onboard
from tests.plugins.test_sale_order import dispute


def sale(day: int, amount: str = "15000.00", **extra) -> dict:
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": f"2026-06-{day:02d}T10:00:00Z",
        "odometer_km": 40_000 + 100 * day,
        "dealer": "bay-auto",
        "price": {"amount": amount, "currency": "EUR"},
        "referral_code": "AMY-26",
        **extra,
    }


def submit(ledger, partner, record: dict) -> int:
    with filed_when_dated(ledger, record):
        (outcome,) = ledger.submit_now([partner.envelope(record)])
    assert isinstance(outcome, Appended), outcome
    return outcome.index


@pytest.fixture
def month(sqlite_ledger):
    """A sale recorded again after a dispute (replaced, and its new record), and a sale
    returned: (old, new, returned, the return's decision)."""
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
    bay = onboard(ledger, "bay-auto", "dealer")
    old = submit(ledger, bay, sale(1))
    dispute(ledger, old, day="2026-06-02")
    new = submit(ledger, bay, sale(1, amount="14900.00"))  # the price typo fixed
    policies = [{"id": "return-7d", "params": {"max_km": 300}}]
    returned = submit(ledger, bay, sale(20, policies=policies))
    back = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": "2026-06-22T09:00:00Z",
        "odometer_km": 42_050,
        "sale": returned,
        "policy": "return-7d",
    }
    decision = submit(ledger, bay, back) + 1
    return old, new, returned, decision


def get(client, ledger, **params):
    token = ledger.settings.admin_token()
    return client.get("/commissions", params=params, headers={"Authorization": f"Bearer {token}"})


def test_rows_name_the_sale_and_the_entry_behind_them(client, sqlite_ledger, month):
    old, new, returned, decision = month
    answer = get(client, sqlite_ledger, as_of="2026-07-31").json()
    assert answer["as_of"] == "2026-07-31"
    rows = {c["sale"]: c for c in answer["commissions"]}
    assert {c["vin"] for c in rows.values()} == {VIN}
    assert [rows[i]["sold_on"] for i in (old, new, returned)] == ["2026-06-01"] * 2 + ["2026-06-20"]
    assert rows[old]["status"] == "replaced" and f"sale entry {new}" in rows[old]["reason"]
    assert rows[new]["status"] == "payable" and rows[new]["reason"] is None
    assert rows[returned]["status"] == "voided"
    assert f"claim decision entry {decision}" in rows[returned]["reason"]
    assert answer["totals"] == [
        {
            "beneficiary": "amy",
            "currency": "EUR",
            "payable": "200.00",
            "held": "0.00",
            "disputed": "0.00",
            "voided": "200.00",
            "replaced": "200.00",
        }
    ]


def test_a_disputed_row_names_the_open_dispute(client, sqlite_ledger, month):
    *_, returned, _ = month
    opened = dispute(sqlite_ledger, returned, day="2026-06-23")
    rows = get(client, sqlite_ledger, as_of="2026-06-21").json()["commissions"]
    (row,) = [c for c in rows if c["sale"] == returned]
    assert row["status"] == "held" and row["reason"] is None  # the return came later
    rows = get(client, sqlite_ledger, as_of="2026-06-24").json()["commissions"]
    (row,) = [c for c in rows if c["sale"] == returned]
    assert row["status"] == "voided"  # returned outweighs the later dispute
    assert opened > returned


def test_sales_are_chosen_by_their_day(client, sqlite_ledger, month):
    old, new, returned, _ = month
    june = get(client, sqlite_ledger, **{"from": "2026-06-01", "to": "2026-06-01"}).json()
    assert [c["sale"] for c in june["commissions"]] == [old, new]
    assert [t["replaced"] for t in june["totals"]] == ["200.00"]
    later = get(client, sqlite_ledger, **{"from": "2026-06-02"}).json()
    assert [c["sale"] for c in later["commissions"]] == [returned]
    refused = get(client, sqlite_ledger, **{"from": "2026-06-30", "to": "2026-06-01"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["field"] == "from"


@pytest.mark.parametrize("how", ["query", "accept"])
def test_the_rows_as_csv_with_amounts_as_text(client, sqlite_ledger, month, how):
    old, new, returned, _ = month
    token = sqlite_ledger.settings.admin_token()
    headers = {"Authorization": f"Bearer {token}"}
    params = {"as_of": "2026-07-31"}
    if how == "query":
        params["format"] = "csv"
    else:
        headers["Accept"] = "text/csv"
    answer = client.get("/commissions", params=params, headers=headers)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["cache-control"] == "no-store"
    lines = answer.text.splitlines()
    assert lines[0].startswith('"sale","vin","sold_on",')
    assert f'{new},"{VIN}","2026-06-01","AMY-26"' in lines[2]
    assert ',"200.00","EUR",' in lines[2]  # quoted: a spreadsheet keeps it as written
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(int(r["sale"]), r["status"]) for r in rows] == [
        (old, "replaced"),
        (new, "payable"),
        (returned, "voided"),
    ]
    assert rows[1]["reason"] == ""
