"""Claims through the ledger (``plugins.claims``): what is a filing mistake, refused
with a 4xx and nothing appended, and what the policy decides from which facts."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from api.app import create_app
from plugins.commission_settling import CommissionRecorder
from tests.conftest import VIN, VIN2, inspection, onboard

SOLD_AT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)


class Clock:
    """The ledger's clock in these tests: it reads ``at``."""

    def __init__(self, at: datetime):
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def sale(policies=None, km=48_000, at="2026-06-01T10:00:00Z"):
    return {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": at,
        "odometer_km": km,
        "dealer": "bay-auto",
        "price": {"amount": "18500.00", "currency": "EUR"},
        "policies": policies
        if policies is not None
        else [
            {"id": "return-7d", "params": {"max_km": 300}},
            {"id": "powertrain-30d"},
            {"id": "reinspection-lifetime"},
        ],
    }


def returned(sale_index, at, km=48_100, policy="return-7d"):
    record = {
        "kind": "return_request",
        "vin": VIN,
        "occurred_at": at,
        "sale": sale_index,
        "policy": policy,
    }
    return record if km is None else {**record, "odometer_km": km}


def warranty(sale_index, at, km=48_100, policy="powertrain-30d", component="engine"):
    record = {
        "kind": "warranty_claim",
        "vin": VIN,
        "occurred_at": at,
        "sale": sale_index,
        "policy": policy,
        "component": component,
        "description": "oil leak at the rear main seal",
    }
    return record if km is None else {**record, "odometer_km": km}


@pytest.fixture
def clock():
    return Clock(datetime(2026, 6, 5, 12, 0, tzinfo=UTC))


@pytest.fixture
def ledger(sqlite_ledger, clock):
    sqlite_ledger.clock = clock
    return sqlite_ledger


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


@pytest.fixture
def dealer(ledger):
    return onboard(ledger, "bay-auto", "dealer")


@pytest.fixture
def sold(client, dealer):
    r = post(client, dealer, sale())
    assert r.status_code == 201, r.text
    return r.json()["index"]


def post(client, partner, record):
    return client.post("/records", content=partner.envelope(record))


@contextlib.contextmanager
def logged_before_sales_were_ordered(ledger):
    """Within the block a sale dated at or before a standing one is logged, as on a log
    written before the sequencer refused it (plugins/sale_order.py): claims on such
    logs are still judged as before."""
    follows = ledger.sequencer.follows
    ledger.sequencer.follows = tuple(f for f in follows if not isinstance(f, CommissionRecorder))
    try:
        yield
    finally:
        ledger.sequencer.follows = follows


def admin(client, ledger, record):
    token = ledger.settings.admin_token()
    r = client.post(
        "/admin/records",
        content=json.dumps(record),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 201, r.text
    return r.json()["index"]


def size(client) -> int:
    return int(client.get("/log/checkpoint").text.splitlines()[1])


def last_decision(client) -> dict:
    entry = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]
    assert entry["kind"] == "claim_decision"
    return entry["record"]


def refused(client, partner, record, status=422):
    """Posts a claim that must be refused with ``status``, appending nothing."""
    before = size(client)
    r = post(client, partner, record)
    assert r.status_code == status, r.text
    assert size(client) == before
    return r.json()


# ---- 1. any spelling of a record's time ---------------------------------------------


@pytest.mark.parametrize(
    "spelling", ["2026-06-03t08:00:00z", "2026-06-03 08:00:00Z", "2026-06-03T08:00:00z"]
)
def test_any_rfc3339_spelling_in_the_history_is_read_and_the_batch_goes_through(
    client, dealer, ledger, sold, spelling
):
    inspector = onboard(ledger, "acme", "inspector")
    assert post(client, inspector, {**inspection(km=48_200), "occurred_at": spelling}).is_success
    others = inspector.envelope(inspection(vin=VIN2, km=9_000))
    claim = dealer.envelope(returned(sold, "2026-06-04T09:00:00Z", km=None))
    r = client.post("/records/batch", content=b'{"envelopes":[' + others + b"," + claim + b"]}")
    assert r.status_code == 200, r.text
    assert [x["status"] for x in r.json()["results"]] == [201, 201]
    decision = last_decision(client)
    assert decision["approved"] is True
    assert (decision["odometer_km"], decision["km_since_sale"]) == (48_200, 200)


# ---- 2, 9. filing mistakes are refused, not decided -----------------------------------


@pytest.mark.parametrize(
    "make, field, words",
    [
        (
            lambda s: warranty(s, "2026-06-04T09:00:00Z", policy="return-7d"),
            "$.kind",
            "return-7d is a return policy; file a return_request",
        ),
        (
            lambda s: returned(s, "2026-06-04T09:00:00Z", policy="powertrain-30d"),
            "$.kind",
            "file a warranty_claim",
        ),
        (lambda s: returned(s, "2026-05-31T09:00:00Z"), "$.occurred_at", "before sale"),
        # The sale's own day, but earlier than the sale: still before it.
        (lambda s: returned(s, "2026-06-01T09:59:59Z"), "$.occurred_at", "before sale"),
        (
            lambda s: warranty(
                s, "2023-06-01T09:00:00Z", policy="reinspection-lifetime", component="reinspection"
            ),
            "$.occurred_at",
            "before sale",
        ),
    ],
)
def test_filing_mistakes_are_refused_and_do_not_count_against_the_dealer(
    client, dealer, sold, make, field, words
):
    problem = refused(client, dealer, make(sold))
    assert problem["field"] == field and words in problem["detail"]
    record = client.get("/dealers/bay-auto").json()
    assert record["returns"]["refused"] == record["warranty_claims"]["refused"] == []


def test_a_claim_at_the_very_time_of_the_sale_is_decided(client, dealer, clock, sold):
    clock.at = SOLD_AT
    assert post(client, dealer, returned(sold, stamp(SOLD_AT), km=48_000)).status_code == 201
    assert last_decision(client)["approved"] is True


# ---- 3. corrected, undisputed readings, from the kinds history reads ------------------


def test_a_corrected_reading_is_the_one_claims_use(client, dealer, ledger, sold):
    inspector = onboard(ledger, "acme", "inspector")
    at = "2026-06-03T08:00:00Z"
    typo = post(client, inspector, {**inspection(km=48_900), "occurred_at": at}).json()["index"]
    fix = {
        "kind": "correction",
        "vin": VIN,
        "occurred_at": "2026-06-03T12:00:00Z",
        "corrects": typo,
        "reason": "typed 48,900 for 48,200",
        "fields": {"odometer_km": 48_200},
    }
    assert post(client, inspector, fix).status_code == 201
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=None)).is_success
    decision = last_decision(client)
    assert decision["approved"] is True, decision["reason"]
    assert (decision["odometer_km"], decision["km_since_sale"]) == (48_200, 200)


def test_a_disputed_reading_is_left_out(client, dealer, ledger, sold):
    inspector = onboard(ledger, "acme", "inspector")
    at = "2026-06-03T08:00:00Z"
    odd = post(client, inspector, {**inspection(km=49_000), "occurred_at": at}).json()["index"]
    admin(
        client,
        ledger,
        {
            "kind": "dispute",
            "vin": VIN,
            "occurred_at": "2026-06-03T12:00:00Z",
            "disputes": odd,
            "reason": "the buyer's photo of the dashboard reads 48,150",
        },
    )
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=None)).is_success
    decision = last_decision(client)
    assert decision["approved"] is True and decision["odometer_km"] == 48_000


def test_kinds_whose_odometer_is_not_a_reading_are_left_out(client, dealer, ledger, sold):
    # A complaint (like a correction, dispute or decision) may carry odometer_km, but
    # the history view does not read it as the car's reading; nor do claims.
    admin(
        client,
        ledger,
        {
            "kind": "complaint",
            "vin": VIN,
            "occurred_at": "2026-06-03T08:00:00Z",
            "odometer_km": 60_000,
            "dealer": "bay-auto",
            "sale": sold,
            "summary": "buyer says the car was driven 12,000 km by the dealer",
        },
    )
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=None)).is_success
    decision = last_decision(client)
    assert decision["approved"] is True and decision["odometer_km"] == 48_000


# ---- 4. a reading below the sale's ------------------------------------------------------


def test_a_claim_reading_below_the_sale_is_refused_naming_both(client, dealer, sold):
    problem = refused(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=47_000))
    assert problem["field"] == "$.odometer_km"
    assert "47,000 km" in problem["detail"] and "48,000 km" in problem["detail"]


def test_a_ledger_reading_below_the_sale_is_refused_naming_its_entry(client, dealer, ledger, sold):
    inspector = onboard(ledger, "acme", "inspector")
    at = "2026-06-03T08:00:00Z"
    low = post(client, inspector, {**inspection(km=47_500), "occurred_at": at}).json()["index"]
    problem = refused(client, dealer, warranty(sold, "2026-06-04T09:00:00Z", km=None))
    assert f"entry {low}" in problem["detail"] and "48,000 km" in problem["detail"]
    # The dealer's own reading at the claim is the latest, and decides it.
    assert post(client, dealer, warranty(sold, "2026-06-04T09:00:00Z", km=48_050)).is_success
    assert last_decision(client)["km_since_sale"] == 50


# ---- 5. a claim is dated when it happened ----------------------------------------------


def test_a_backdated_return_is_refused(client, dealer, clock, sold):
    clock.at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    problem = refused(client, dealer, returned(sold, "2026-06-03T09:00:00Z"))
    assert problem["field"] == "$.occurred_at"
    assert "72 hours" in problem["detail"] and "brought back" in problem["detail"]


@pytest.mark.parametrize(
    "offset, ok",
    [
        (timedelta(hours=-72), True),
        (timedelta(hours=-72, seconds=-1), False),
        (timedelta(minutes=5), True),  # the filer's clock may run a little ahead
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_a_claim_is_filed_within_72_hours_of_its_date(client, dealer, clock, sold, offset, ok):
    clock.at = datetime(2026, 6, 5, 12, 0, tzinfo=UTC)
    claim = warranty(sold, stamp(clock.at + offset))
    if ok:
        assert post(client, dealer, claim).status_code == 201
    else:
        problem = refused(client, dealer, claim)
        assert problem["field"] == "$.occurred_at" and "fault was reported" in problem["detail"]


def test_the_window_is_judged_by_the_time_the_entry_is_logged(client, dealer, clock, sold):
    """The claim's sequenced_at is the ledger time it was judged by, so anyone can check
    the window from the log alone."""
    clock.at = datetime(2026, 6, 5, 12, 0, 0, 123_456, tzinfo=UTC)
    r = post(client, dealer, warranty(sold, "2026-06-02T12:00:01Z"))
    assert r.status_code == 201, r.text
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    claim, decision = entries[-2:]
    assert claim["sequenced_at"] == decision["sequenced_at"] == "2026-06-05T12:00:00.123Z"


# ---- 6. a returned sale admits no further claims ---------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda s: warranty(s, "2026-06-05T09:00:00Z"),
        lambda s: warranty(
            s, "2026-06-05T09:00:00Z", policy="reinspection-lifetime", component="reinspection"
        ),
        lambda s: returned(s, "2026-06-05T09:00:00Z"),
    ],
)
def test_after_an_approved_return_no_policy_of_the_sale_pays(client, dealer, sold, make):
    back = post(client, dealer, returned(sold, "2026-06-04T09:00:00Z")).json()["index"]
    assert last_decision(client)["approved"] is True
    problem = refused(client, dealer, make(sold), status=409)
    assert f"sale {sold} was returned (entry {back + 1} approved its return)" in problem["detail"]


def test_a_refused_return_leaves_the_other_policies_in_force(client, dealer, sold):
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=48_301)).is_success
    assert last_decision(client)["approved"] is False  # one km over the return's limit
    assert post(client, dealer, warranty(sold, "2026-06-05T09:00:00Z", km=48_400)).is_success
    assert last_decision(client)["approved"] is True


# ---- 9. the km limit is the last reading covered ------------------------------------------


@pytest.mark.parametrize("km, approved", [(48_300, True), (48_301, False)])
def test_the_return_covers_readings_up_to_its_km_limit(client, dealer, sold, km, approved):
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=km)).is_success
    decision = last_decision(client)
    assert decision["approved"] is approved
    if not approved:
        assert "up to 48,300 km" in decision["reason"]


def test_a_claim_under_a_policy_the_operator_disabled_since_the_sale_is_unavailable(
    ledger, dealer, clock, sold
):
    """The sale's guarantee stands, but no plugin can decide it now: a 503 that says
    so (not "no such policy"), and nothing logged, so the dealer files again later."""
    from api.service import Ledger

    ledger.settings.disabled_plugins = ["plugins.builtin.policies"]
    without = Ledger(ledger.settings, ledger.store, clock=clock)
    with TestClient(create_app(without)) as client:
        body = refused(client, dealer, returned(sold, stamp(clock.at)), status=503)
    assert body["type"].endswith("/policy-unavailable") and body["field"] == "$.policy"
    assert "states policy 'return-7d'" in body["detail"] and "operator" in body["detail"]


# ---- 10. a sale disputed and recorded again; readings of earlier claims -------------------


def _dispute(client, ledger, index, status="open"):
    return admin(
        client,
        ledger,
        {
            "kind": "dispute",
            "vin": VIN,
            "occurred_at": "2026-06-02T09:00:00Z",
            "disputes": index,
            "reason": "the sale was dated wrongly; the dealer records it again",
            "status": status,
        },
    )


def test_a_sale_disputed_and_recorded_again_takes_no_claims_its_new_sale_does(
    client, dealer, ledger, sold
):
    """The documented way to fix a sale recorded wrongly: the operator disputes it and
    the dealer records it again. The old sale's guarantees must not stay claimable
    beside the new one's (a return of the new sale left the old warranty open)."""
    dispute = _dispute(client, ledger, sold)
    # Dated no later than the dispute (06-02 09:00): a sale dated after it is a resale.
    again = post(client, dealer, sale(at="2026-06-02T08:00:00Z")).json()["index"]
    problem = refused(client, dealer, warranty(sold, "2026-06-04T09:00:00Z"), status=409)
    assert f"sale {sold} was disputed (entry {dispute})" in problem["detail"]
    assert f"file the claim on sale {again}" in problem["detail"]
    assert problem["field"] == "$.sale"
    assert post(client, dealer, warranty(again, "2026-06-04T09:00:00Z")).status_code == 201


def test_a_disputed_sale_not_recorded_again_keeps_the_buyers_guarantees(
    client, dealer, ledger, sold
):
    """A buyer who contests a sale's facts must not lose the warranty by doing so."""
    _dispute(client, ledger, sold)
    assert post(client, dealer, warranty(sold, "2026-06-04T09:00:00Z")).status_code == 201
    assert last_decision(client)["approved"] is True


def test_a_resolved_dispute_leaves_the_sale_as_it_was(client, dealer, ledger, sold):
    _dispute(client, ledger, sold)
    _dispute(client, ledger, sold, status="resolved")
    post(client, dealer, sale(at="2026-06-02T10:00:00Z"))  # a second sale, not a re-record
    assert post(client, dealer, warranty(sold, "2026-06-04T09:00:00Z")).status_code == 201


def test_a_refused_return_is_not_approved_by_filing_again_with_a_lower_reading(
    client, dealer, sold
):
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=48_301)).is_success
    assert last_decision(client)["approved"] is False
    problem = refused(client, dealer, returned(sold, "2026-06-04T09:01:00Z", km=48_300))
    assert "an earlier claim on sale" in problem["detail"] and "48,301 km" in problem["detail"]
    assert problem["field"] == "$.odometer_km"
    # Driven on, the car can still be claimed on (and judged on its new reading).
    assert post(client, dealer, returned(sold, "2026-06-04T10:00:00Z", km=48_302)).is_success
    assert last_decision(client)["approved"] is False


def test_a_car_sold_again_is_not_returned_under_the_earlier_sale(client, dealer, ledger, sold):
    other = onboard(ledger, "city-cars", "dealer")
    resale = {**sale(at="2026-06-03T10:00:00Z"), "dealer": "city-cars", "odometer_km": 48_050}
    again = post(client, other, resale).json()["index"]
    problem = refused(client, dealer, returned(sold, "2026-06-04T09:00:00Z"), status=409)
    assert f"sold again after sale {sold} (entry {again})" in problem["detail"]
    # The earlier warranty stays with the car, and the new sale can be returned.
    assert post(client, dealer, warranty(sold, "2026-06-04T09:00:00Z")).status_code == 201
    back = returned(again, "2026-06-04T10:00:00Z", km=48_100)
    assert post(client, other, back).status_code == 201


def test_a_refused_claim_is_not_approved_by_dating_the_next_a_second_earlier(client, dealer, sold):
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=48_301)).is_success
    problem = refused(client, dealer, returned(sold, "2026-06-04T08:59:59Z", km=48_300))
    assert "an earlier claim on sale" in problem["detail"]


def test_an_older_sale_filed_late_does_not_end_the_return(client, dealer, ledger, sold):
    other = onboard(ledger, "city-cars", "dealer")
    older = {**sale(at="2019-03-01T10:00:00Z"), "dealer": "city-cars", "odometer_km": 10_000}
    refused(client, other, older, status=409)  # dated before a standing sale: refused now
    with logged_before_sales_were_ordered(ledger):
        assert post(client, other, older).status_code == 201  # history filled in late
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z")).status_code == 201
    assert last_decision(client)["approved"] is True


def test_a_disputed_resale_still_ends_the_return_but_the_operator_may_file_past_it(
    client, dealer, ledger, sold
):
    """A dispute of a resale (its price, say) does not undo it: the first buyer cannot
    return a car sold on (both returns were approved). The operator, who judged the
    dispute, may file the return past a resale put on the wrong car."""
    other = onboard(ledger, "city-cars", "dealer")
    resale = {**sale(at="2026-06-02T10:00:00Z"), "dealer": "city-cars", "odometer_km": 48_010}
    disputed = post(client, other, resale).json()["index"]
    _dispute(client, ledger, disputed)
    refused(client, dealer, returned(sold, "2026-06-04T09:00:00Z"), status=409)
    admin(client, ledger, returned(sold, "2026-06-04T09:00:00Z"))
    assert last_decision(client)["approved"] is True


def test_a_refused_return_is_not_approved_by_leaving_the_reading_out_and_dating_it_earlier(
    client, dealer, sold
):
    assert post(client, dealer, returned(sold, "2026-06-04T09:00:00Z", km=48_301)).is_success
    problem = refused(client, dealer, returned(sold, "2026-06-04T08:00:00Z", km=None))
    assert "give this claim's odometer_km" in problem["detail"]
    # Dated after the refused one, with no reading, it is judged on that claim's reading.
    assert post(client, dealer, returned(sold, "2026-06-04T10:00:00Z", km=None)).is_success
    assert last_decision(client)["approved"] is False


def test_a_resale_before_a_dispute_is_not_taken_for_the_sale_recorded_again(
    client, dealer, ledger, sold
):
    resale = post(client, dealer, sale(at="2026-06-02T10:00:00Z", km=48_050)).json()["index"]
    _dispute(client, ledger, sold)  # disputed after the dealer sold the car on
    assert resale < size(client)
    assert post(client, dealer, warranty(sold, "2026-06-04T09:00:00Z")).status_code == 201


def test_a_claim_under_another_policy_may_be_dated_earlier_with_the_reading_of_then(
    client, dealer, sold
):
    assert post(client, dealer, warranty(sold, "2026-06-05T09:00:00Z", km=48_900)).is_success
    back = returned(sold, "2026-06-03T09:00:00Z", km=48_100)  # brought back two days before
    assert post(client, dealer, back).status_code == 201


def test_a_sale_recorded_again_before_its_dispute_is_still_its_replacement(
    client, dealer, ledger, sold
):
    """The dealer records the sale again (dated as the first, or earlier), then the
    operator disputes the first: claims go to the new record, not to both."""
    refused(client, dealer, sale(at="2026-06-01T09:00:00Z"), status=409)  # refused now
    with logged_before_sales_were_ordered(ledger):
        again = post(client, dealer, sale(at="2026-06-01T09:00:00Z")).json()["index"]
    _dispute(client, ledger, sold)
    problem = refused(client, dealer, returned(sold, "2026-06-04T09:00:00Z"), status=409)
    assert f"file the claim on sale {again}" in problem["detail"]


def test_a_sale_dated_earlier_but_filed_later_does_not_open_a_return_after_a_resale(
    client, dealer, ledger, sold
):
    """city-cars files its sale dated before bay-auto's 06-01 sale, then a return on it:
    the car was sold again on 06-01, whatever order the two were filed in."""
    other = onboard(ledger, "city-cars", "dealer")
    earlier = {**sale(at="2026-05-30T10:00:00Z", km=47_900), "dealer": "city-cars"}
    refused(client, other, earlier, status=409)  # refused now
    with logged_before_sales_were_ordered(ledger):
        first = post(client, other, earlier).json()["index"]
    problem = refused(client, other, returned(first, "2026-06-04T09:00:00Z"), status=409)
    assert f"sold again after sale {first} (entry {sold})" in problem["detail"]


def test_a_dispute_of_a_dispute_is_refused_saying_how_to_resolve_one(client, ledger, sold):
    first = _dispute(client, ledger, sold)
    token = ledger.settings.admin_token()
    again = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-06-03T09:00:00Z",
        "disputes": first,
        "reason": "settled",
        "status": "resolved",
    }
    r = client.post(
        "/admin/records", content=json.dumps(again), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 422 and r.json()["field"] == "$.disputes", r.text
    assert "dispute of the entry it disputes" in r.json()["detail"]


def test_a_disputed_resale_ends_the_return_for_the_dealer_not_the_operator_and_says_so(
    client, dealer, ledger, sold
):
    """Another dealer's sale of the car that never happened ends the first buyer's return
    for the dealer; once the operator disputes it, the page says so, and the operator
    may still file the return past it."""
    other = onboard(ledger, "city-cars", "dealer")
    bogus = {**sale(at="2026-06-03T10:00:00Z"), "dealer": "city-cars", "odometer_km": 48_050}
    again = post(client, other, bogus).json()["index"]
    page = client.get(f"/vehicles/{VIN}?lang=en", headers={"Accept": "text/html"}).text
    assert "(ended: the car was sold again)" in page
    _dispute(client, ledger, again)
    page = client.get(f"/vehicles/{VIN}?lang=en", headers={"Accept": "text/html"}).text
    assert "by a sale the operator disputes; the operator may still file a return" in page
    refused(client, dealer, returned(sold, "2026-06-04T09:00:00Z"), status=409)
    assert admin(client, ledger, returned(sold, "2026-06-04T09:00:00Z"))


def test_a_rotated_operator_key_signs_decisions_without_a_restart(client, dealer, ledger, sold):
    # The operator grants a new key, replaces operator.key and revokes the old one while
    # the server runs: the next decision is signed with the new key (it was a 500 "key
    # revoked" telling the dealer to retry, until every server was restarted).
    from core.keys import generate_private_key, key_id, private_key_to_pem, public_key_pem

    old = key_id(ledger.settings.operator_key().public_key())
    new = generate_private_key()
    ledger.add_actor("operator", "Ledger operator", "operator", public_key_pem(new.public_key()))
    path = ledger.settings.operator_key_path
    path.unlink()
    path.write_bytes(private_key_to_pem(new))
    ledger.revoke_key(old, "rotated")
    assert post(client, dealer, returned(sold, "2026-06-05T11:00:00Z")).status_code == 201
    from ledger.entry import decode_entry
    from ledger.storage import entry_by_index

    index = client.get(f"/vehicles/{VIN}/history").json()["entries"][-1]["index"]
    with ledger.store.reader() as s:
        decision = decode_entry(entry_by_index(s, index).data)
    assert decision.kind == "claim_decision"
    assert decision.signer.keyid == key_id(new.public_key())


@pytest.mark.parametrize("key", ["missing", "not-granted"])
def test_a_claim_the_ledger_cannot_sign_a_decision_for_waits_without_telling_secrets(
    client, dealer, ledger, sold, key
):
    # operator.key lost, or replaced by one the log never granted: the dealer gets a
    # 503 to retry, not a 404 with the server's path (nor a failed batch), and the
    # operator reads why in the server's log.
    from core.keys import generate_private_key, private_key_to_pem

    path = ledger.settings.operator_key_path
    kept = path.read_bytes()
    path.unlink()
    if key == "not-granted":
        path.write_bytes(private_key_to_pem(generate_private_key()))
    before = size(client)
    r = post(client, dealer, returned(sold, "2026-06-05T11:00:00Z"))
    assert r.status_code == 503, r.text
    assert "cannot sign claim decisions" in r.json()["detail"]
    assert str(path) not in r.text and "operator.key" not in r.text
    assert size(client) == before
    path.unlink(missing_ok=True)
    path.write_bytes(kept)
    assert post(client, dealer, returned(sold, "2026-06-05T11:00:00Z")).status_code == 201
