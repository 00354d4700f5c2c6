"""Amounts in a currency's minor unit (ISO 4217): yen and won have none, the Bahraini
and Kuwaiti dinar three, most currencies two. A commission is an amount someone is
paid, so it is rounded (half up) to what the currency can pay: 4,999.50 yen is not
an amount, 5,000 yen is.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# The table is core's (``core.fields.MINOR_UNITS``): a sale's price is held to the same
# minor units as a commission is rounded to.
from core.fields import MINOR_UNITS, minor_units

__all__ = ["MINOR_UNITS", "minor_units", "round_to_minor_unit"]


def round_to_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to ``currency``'s minor unit: 4999.5 JPY is 5000."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)
