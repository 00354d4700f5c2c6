"""Dealer reputation: figures from the ledger, each with the entries behind it."""

from __future__ import annotations

from litestar import Controller, get

from api.service import Ledger


class DealersController(Controller):
    path = "/dealers"
    tags = ["dealers"]

    @get("/", sync_to_thread=True, summary="Every dealer, ranked by the stated rule")
    def dealers(self, ledger: Ledger) -> dict:
        """Sales, returns and warranty claims honoured or refused, corrections of its
        entries and upheld complaints, with the ranking rule in plain words."""
        return ledger.dealers()

    @get("/{dealer_id:str}", sync_to_thread=True, summary="One dealer's record")
    def dealer(self, ledger: Ledger, dealer_id: str) -> dict:
        """One dealer's figures and rank; every figure lists the log indexes behind it."""
        return ledger.dealer(dealer_id)
