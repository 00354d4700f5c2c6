"""The demo's guide: the vehicles worth a look, each with its link."""

from __future__ import annotations

from api.demo import FLOODED, ROLLED_BACK, demo_stories, guide, notable_vehicles, seed
from tests.conftest import maintenance, onboard

BASE = "http://127.0.0.1:8000"


def test_the_guide_names_the_rollback_first_then_the_flood_a_clean_car_and_a_sale(
    sqlite_ledger,
):
    featured = seed(sqlite_ledger)
    vins = [vin for vin, _ in demo_stories()]
    assert featured == vins[ROLLED_BACK]
    lines = guide(sqlite_ledger, BASE)
    links = [line.split()[0] for line in lines[1:]]
    assert links[0] == f"{BASE}/vehicles/{featured}"  # the link `vinledger demo` prints first
    assert f"{BASE}/vehicles/JTD86SDYXKJ003448" == links[1] == f"{BASE}/vehicles/{vins[FLOODED]}"
    notable = dict(notable_vehicles(sqlite_ledger))
    assert len(set(notable.values())) == 4
    clean = notable["no problems reported"]
    assert sqlite_ledger.history(clean)["view"]["alerts"] == []
    (sold,) = (vin for what, vin in notable.items() if what.startswith("sold with guarantees"))
    assert any(s["policies"] for s in sqlite_ledger.history(sold)["view"]["sales"])
    assert "flood" in lines[2] and "rolled back" in lines[1]


def test_a_ledger_the_demo_did_not_seed_has_no_guide(sqlite_ledger):
    shop = onboard(sqlite_ledger, "quicklane", "workshop")
    sqlite_ledger.submit_now([shop.envelope(maintenance())])
    assert guide(sqlite_ledger, BASE) == []
