"""``autoscope-reinspection-14d``: one free AutoScope re-inspection within 14 days of a sale.

A dealer that sells a car with an AutoScope report attaches this policy to the sale;
the buyer may have the car inspected again, free, at any AutoScope station. Like the
built-in policies, days are calendar days where the ledger counts them (its
``time_zone``: a car sold at 20:00 UTC is sold the next day in Tokyo) with the sale's
day as day 0, so a claim on day 14 is in time and on day 15 is not. The buyer files a
``warranty_claim`` with component ``reinspection``; one re-inspection per sale is free.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.errors import InvalidRecord
from plugins.interfaces import ClaimFacts, Decision, Policy, SaleFacts, Terms

DAYS = 14
COMPONENT = "reinspection"


class FreeReinspection(Policy):
    id = "autoscope-reinspection-14d"
    version = "1"
    kind = "reinspection"
    description = "One free AutoScope re-inspection within 14 days of the sale"

    def terms(self, params: dict[str, Any], sale: SaleFacts) -> Terms:
        if params:
            name = sorted(params)[0]
            raise InvalidRecord(
                f"unknown parameter {name!r}; {self.id} takes no parameters",
                field=f"params.{name}",
            )
        start = sale.sale_day  # the sale's day where the ledger counts days, not UTC's
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=start.isoformat(),
            ends=(start + timedelta(days=DAYS)).isoformat(),
            km_limit=None,
            components=[COMPONENT],
            summary=f"One free re-inspection at any AutoScope station within {DAYS} days.",
            time_zone=sale.time_zone,
        )

    def decide(self, terms: Terms, claim: ClaimFacts) -> Decision:
        if claim.kind != "warranty_claim" or claim.component != COMPONENT:
            return Decision(
                False, f"{self.id} covers re-inspections only (component {COMPONENT!r})"
            )
        if claim.days_since_sale < 0:
            return Decision(False, "the claim is dated before the sale")
        # The terms stated at the sale govern, not this module's DAYS: a later version
        # with another window must not change what an earlier buyer was promised.
        if terms.day_of(claim.filed_at) > terms.ends_on():  # a day where the terms count
            return Decision(
                False,
                f"asked on day {claim.days_since_sale} after the sale; the free re-inspection "
                f"ended on {terms.ends}",
            )
        if any(p.approved and p.policy == self.id for p in claim.prior_claims):
            return Decision(False, "the free re-inspection for this sale was already used")
        return Decision(
            True,
            f"free re-inspection on day {claim.days_since_sale} after the sale, "
            f"within AutoScope's {DAYS} days",
        )
