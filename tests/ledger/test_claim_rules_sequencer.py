"""What the sequencer appends at the edges of its claim rules, every checker accepts.

Claims filed through the ledger at both edges of their window (dated five minutes
after the ledger's clock, and 72 hours before it), after a refused return and then an
approved one: the audit, the offline verifier and the monitor pass the log, and the
ledger refused a claim a microsecond past either edge, or on the returned sale.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import TestClient

from api.app import create_app
from core.errors import Conflict, InvalidInput, InvalidRecord, VinledgerError
from core.records import parse_record
from ledger.audit import audit
from ledger.bundle import build_bundle
from ledger.entry import decode_entry, record_bytes
from ledger.monitor import Monitor
from ledger.storage import entry_leaf_and_data
from ledger.verify import verify_bundle
from plugins.claims import CLOCK_SKEW, MAX_CLAIM_AGE
from tests.conftest import VIN, onboard

SOLD = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def stamp(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def claim(kind: str, sale: int, at: datetime, policy: str) -> dict:
    record = {"kind": kind, "vin": VIN, "occurred_at": stamp(at), "sale": sale, "policy": policy}
    if kind == "warranty_claim":
        record.update(component="engine", description="oil leak at the rear main seal")
    return record


def file(ledger, dealer, record: dict, now: datetime, km: int = 48_100) -> int:
    """``record`` sequenced with the ledger's clock reading ``now``: its index."""
    ledger.clock = lambda: now
    (outcome,) = ledger.submit_now([dealer.envelope({**record, "odometer_km": km})])
    if isinstance(outcome, VinledgerError):
        raise outcome
    return outcome.index


def approved(ledger, claim_index: int) -> bool:
    with ledger.store.reader() as s:
        data = entry_leaf_and_data(s, claim_index + 1)[1]
    return parse_record(record_bytes(decode_entry(data))).approved


def test_claims_at_the_edges_pass_every_checker(tmp_path, sqlite_ledger):
    ledger = sqlite_ledger
    dealer = onboard(ledger, "bay-auto", "dealer")
    sale = {
        "kind": "sale",
        "vin": VIN,
        "occurred_at": stamp(SOLD),
        "dealer": "bay-auto",
        "policies": [{"id": "return-7d", "params": {"max_km": 300}}, {"id": "powertrain-30d"}],
    }
    sold = file(ledger, dealer, sale, SOLD, km=48_000)
    # The ledger's clock reads microseconds; a batch is judged by its sequenced_at (ms).
    now = SOLD + timedelta(hours=1, microseconds=123_456)
    logged = now.replace(microsecond=123_000)
    early = claim("return_request", sold, logged + CLOCK_SKEW + MICROSECOND, "return-7d")
    with pytest.raises(InvalidRecord, match="after the ledger's time"):
        file(ledger, dealer, early, now)
    early = claim("warranty_claim", sold, logged + CLOCK_SKEW, "powertrain-30d")
    early["component"] = "brakes"  # refused: not powertrain, so the sale stays open
    assert not approved(ledger, file(ledger, dealer, early, now))
    # 72 hours after the sale, to the millisecond.
    now = SOLD + MAX_CLAIM_AGE + timedelta(milliseconds=7)
    late = claim("warranty_claim", sold, SOLD + timedelta(microseconds=6_999), "powertrain-30d")
    with pytest.raises(InvalidRecord, match="more than 72 hours"):
        file(ledger, dealer, late, now)
    late = claim("warranty_claim", sold, SOLD + timedelta(milliseconds=7), "powertrain-30d")
    assert approved(ledger, file(ledger, dealer, late, now))
    back = claim("return_request", sold, now, "return-7d")
    assert approved(ledger, file(ledger, dealer, back, now))
    with pytest.raises(Conflict, match="a returned sale admits no further claims"):
        file(ledger, dealer, claim("warranty_claim", sold, now, "powertrain-30d"), now)

    size = audit(ledger.store, ledger.vkey).size
    assert size == sold + 7  # the sale, and three claims with their decisions
    report = verify_bundle(build_bundle(ledger.store, VIN), ledger.vkey)
    assert report.ok, report.failures
    monitor = Monitor(tmp_path / "monitor", ledger.vkey)
    with TestClient(create_app(ledger)) as client:
        assert monitor.poll(lambda path: _get(client, path)).size == size
    monitor.close()


def _get(client, path: str) -> bytes:
    r = client.get(path)
    if r.status_code != 200:
        raise InvalidInput(f"{path} answered {r.status_code}")
    return r.content


@pytest.fixture(autouse=True)
def _real_clock_afterwards(sqlite_ledger):
    clock = sqlite_ledger.clock
    yield
    sqlite_ledger.clock = clock
