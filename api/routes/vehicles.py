"""A vehicle's history: JSON with the derived view, and the offline bundle."""

from __future__ import annotations

from litestar import Controller, Response, get

from api.service import Ledger
from ledger.bundle import encode_bundle


class VehiclesController(Controller):
    path = "/vehicles"
    tags = ["vehicles"]

    @get("/{vin:str}/history", sync_to_thread=True, summary="History as JSON")
    def history(self, ledger: Ledger, vin: str) -> dict:
        """Every entry of the VIN's chain with its record and signer, and the derived view."""
        return ledger.history(vin)

    @get(
        "/{vin:str}/bundle",
        sync_to_thread=True,
        summary="Bundle for offline verification",
        media_type="application/json",
    )
    def bundle(self, ledger: Ledger, vin: str) -> Response[bytes]:
        """Signed checkpoint, the VIN's entries and their signers' key grants, with proofs.

        Check it with `vinledger verify FILE --vkey VKEY`.
        """
        return Response(encode_bundle(ledger.bundle(vin)), media_type="application/json")
