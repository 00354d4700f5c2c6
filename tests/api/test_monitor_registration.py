"""`vinledger monitor --watch-vin`: a watched car's registrations say where it went."""

from __future__ import annotations

from api.cli_monitor import WATCHED_EXIT
from tests.api.test_monitor_watch import partners, run_monitor, signed, watched  # noqa: F401
from tests.conftest import VIN, maintenance


def test_a_watched_cars_export_and_registration_abroad_name_event_and_country(
    run_monitor,  # noqa: F811
    sqlite_ledger,
    partners,  # noqa: F811
):
    def registration(event: str, country: str, day: int) -> dict:
        return {
            "kind": "registration",
            "vin": VIN,
            "occurred_at": f"2026-07-{day:02d}T00:00:00Z",
            "event": event,
            "country": country,
        }

    signed(sqlite_ledger, partners["shop"], maintenance(km=40_000))
    assert run_monitor("--watch-vin", VIN).exit_code == WATCHED_EXIT  # the first catch-up
    [exported, registered] = signed(
        sqlite_ledger,
        partners["dmv"],
        registration("exported", "US", 1),
        registration("registered", "DE", 20),
    )
    r = run_monitor("--watch-vin", VIN)
    assert r.exit_code == WATCHED_EXIT, r.output
    assert watched(r) == [
        f"WATCHED entry {exported}: registration of {VIN} signed by dmv, occurred "
        "2026-07-01T00:00:00Z; event exported; country US",
        f"WATCHED entry {registered}: registration of {VIN} signed by dmv, occurred "
        "2026-07-20T00:00:00Z; event registered; country DE",
    ]
