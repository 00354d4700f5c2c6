"""Corrections over generated histories: only the original signer or the operator."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import Forbidden
from tests.conftest import VIN, inspection, maintenance, make_ledger, onboard

PARTNERS = [
    ("acme", "inspector"),
    ("huacheng", "inspector"),
    ("quicklane", "workshop"),
    ("pudong", "workshop"),
]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=st.lists(st.sampled_from(range(len(PARTNERS))), min_size=1, max_size=6),
    data=st.data(),
)
def test_only_the_signer_or_the_operator_may_correct(history, data):
    with tempfile.TemporaryDirectory() as d:
        ledger = make_ledger(Path(d) / "data", f"sqlite:///{Path(d) / 'ledger.db'}")
        try:
            partners = [onboard(ledger, name, role) for name, role in PARTNERS]
            placed = []  # (index, signer number)
            for day, who in enumerate(history, 1):
                p = partners[who]
                record = (inspection if p.role == "inspector" else maintenance)(
                    km=1_000 * day, day=day
                )
                (out,) = ledger.submit_now([p.envelope(record)])
                placed.append((out.index, who))
            target, author = data.draw(st.sampled_from(placed), label="corrected entry")
            corrector = data.draw(
                st.sampled_from([*range(len(PARTNERS)), "operator"]), label="corrector"
            )
            fix = {
                "kind": "correction",
                "vin": VIN,
                "occurred_at": "2026-05-30T09:00:00Z",
                "corrects": target,
                "reason": "reading typed wrong",
                "fields": {"odometer_km": 123},
            }
            if corrector == "operator":
                outcome = ledger.operator_submit(json.dumps(fix).encode())
            else:
                (outcome,) = ledger.submit_now([partners[corrector].envelope(fix)])
            allowed = corrector in ("operator", author)
            if allowed:
                assert not isinstance(outcome, Exception), outcome
                view = ledger.history(VIN)["view"]
                reading = next(r for r in view["odometer"]["readings"] if r["index"] == target)
                assert reading["km"] == 123 and reading["corrected"]
            else:
                assert isinstance(outcome, Forbidden)
                assert f"signed by {PARTNERS[author][0]!r}" in str(outcome)
        finally:
            ledger.close()
