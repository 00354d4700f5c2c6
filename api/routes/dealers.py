"""Dealer reputation: figures from the ledger, each with the entries behind it."""

from __future__ import annotations

from litestar import Controller, get

from api.service import Ledger


class DealersController(Controller):
    path = "/dealers"
    tags = ["dealers"]

    @get("/", sync_to_thread=True, summary="Every dealer, ranked by the stated rule")
    def dealers(self, ledger: Ledger) -> dict:
        """Sales (a sale its dealer recorded again after the operator disputed it counts
        once, as the new sale; the old ones are in ``sales_recorded_again``), returns and
        warranty claims honoured or refused, corrections of its entries and upheld
        complaints, with the ranking rule in plain words."""
        return ledger.dealers()

    @get("/{dealer_id:str}", sync_to_thread=True, summary="One dealer's record")
    def dealer(self, ledger: Ledger, dealer_id: str) -> dict:
        """One dealer's figures and rank; every figure lists the log indexes behind it."""
        return ledger.dealer(dealer_id)
