"""GET /commissions's query (api/routes/referrals.py, plugins/commission_status.py): a
bad ``from``, ``to`` or ``format`` is named as the client sent it, and the sales a
statement leaves out by their day cost no reading of their standing; those sold from
a day are narrowed by when they were logged, with a margin for the ledger's time zone
(in Auckland, 01:00 on 15 June is 13:00 on 14 June in UTC). On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core import dsse
from core.fields import parse_time
from core.keys import generate_private_key
from ledger.sequencer import Appended
from plugins import commission_status
from plugins.referrals import PAYLOAD_TYPE
from tests.conftest import VIN, Partner, onboard
from tests.plugins.test_time_zone import ledger_in

# Sold on 1, 15 (01:00 there, 14 June in UTC) and 20 June where the ledger counts days.
SOLD_AT = ("2026-06-01T10:00:00Z", "2026-06-14T13:00:00Z", "2026-06-20T10:00:00Z")


@pytest.fixture
def auckland(tmp_path, database_url):
    """A ledger in Auckland with three sales on amy's code, each logged an hour after it
    happened, as a real log would have: (ledger, client, the sales' indexes)."""
    ledger = ledger_in(tmp_path, database_url, "Pacific/Auckland")
    amy = Partner("amy", "referrer", generate_private_key())
    ledger.add_actor("amy", "Amy", "referrer", amy.public_pem)
    body = {
        "code": "AMY-NZ",
        "rule": "flat",
        "params": {"amount": "200", "currency": "NZD"},
        "model": "1HG/2003",
        "region": "NZ",
    }
    env = dsse.sign_envelope(json.dumps(body).encode(), amy.key, payload_type=PAYLOAD_TYPE)
    ledger.create_referral(dsse.encode_envelope(env))
    dealer = onboard(ledger, "akl-motors", "dealer")
    real, sales = ledger.clock, []
    for n, at in enumerate(SOLD_AT):
        sale = {
            "kind": "sale",
            "vin": VIN,
            "occurred_at": at,
            "odometer_km": 40_000 + 1_000 * n,
            "dealer": "akl-motors",
            "price": {"amount": "15000.00", "currency": "NZD"},
            "referral_code": "AMY-NZ",
        }
        ledger.clock = lambda at=at: parse_time(at) + timedelta(hours=1)
        (outcome,) = ledger.submit_now([dealer.envelope(sale)])
        assert isinstance(outcome, Appended), outcome
        sales.append(outcome.index)
    ledger.clock = real
    with TestClient(create_app(ledger)) as client:
        yield ledger, client, sales
    ledger.close()


def get(client, ledger, **params):
    token = ledger.settings.admin_token()
    return client.get("/commissions", params=params, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def read(monkeypatch):
    """The sales whose day (``days``) and standing (``standings``) were read."""
    seen: dict[str, list[int]] = {"days": [], "standings": []}
    sale_day, standing = commission_status.sale_day, commission_status.standing

    def day_of(sale_row, *args):
        seen["days"].append(sale_row.idx)
        return sale_day(sale_row, *args)

    def standing_of(s, sale_row, *args):
        seen["standings"].append(sale_row.idx)
        return standing(s, sale_row, *args)

    monkeypatch.setattr(commission_status, "sale_day", day_of)
    monkeypatch.setattr(commission_status, "standing", standing_of)
    return seen


def test_sales_sold_from_a_day_are_read_alone(auckland, read):
    ledger, client, (first, fifteenth, twentieth) = auckland
    answer = get(client, ledger, **{"from": "2026-06-15"}).json()
    assert [(c["sale"], c["sold_on"]) for c in answer["commissions"]] == [
        (fifteenth, "2026-06-15"),  # logged on 14 June in UTC: inside the margin
        (twentieth, "2026-06-20"),
    ]
    assert first not in read["days"]  # logged two weeks before: left out by the query
    assert sorted(set(read["standings"])) == [fifteenth, twentieth]


@pytest.mark.parametrize("since", ["0001-01-01", "0001-01-02", "9999-12-31"])
def test_sales_sold_from_the_first_or_last_day_of_the_calendar(auckland, since):
    ledger, client, sales = auckland
    answer = get(client, ledger, **{"from": since})
    assert answer.status_code == 200, answer.text
    assert [c["sale"] for c in answer.json()["commissions"]] == ([] if since > "2026" else sales)


def test_sales_sold_by_a_day_have_no_other_standing_read(auckland, read):
    ledger, client, (first, fifteenth, _) = auckland
    answer = get(client, ledger, to="2026-06-15").json()
    assert [c["sale"] for c in answer["commissions"]] == [first, fifteenth]
    assert sorted(set(read["standings"])) == [first, fifteenth]
    assert [c["sale"] for c in get(client, ledger, to="2026-06-14").json()["commissions"]] == [
        first
    ]


@pytest.mark.parametrize(
    ("query", "named"),
    [({"from": "June"}, "from"), ({"to": "2026-06-31"}, "to"), ({"format": "xml"}, "format")],
)
def test_a_bad_query_parameter_is_named_as_sent(auckland, query, named):
    ledger, client, _ = auckland
    answer = get(client, ledger, **query)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert problem["field"] == named
    assert f"query parameter `{named}`" in problem["detail"]
    assert not {"sold_from", "sold_to", "answer_format"} & set(problem["detail"].split("`"))
