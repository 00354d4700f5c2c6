"""Amounts in a currency's minor unit (ISO 4217): yen and won have none, the Bahraini
and Kuwaiti dinar three, most currencies two. A commission is an amount someone is
paid, so it is rounded (half up) to what the currency can pay: 4,999.50 yen is not
an amount, 5,000 yen is.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# ISO 4217's minor units where they are not 2 (List One, as published by SIX).
_MINOR_UNITS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}


def minor_units(currency: str) -> int:
    """The digits after the decimal point that ``currency`` pays in (2 unless listed)."""
    return _MINOR_UNITS.get(currency, 2)


def round_to_minor_unit(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to ``currency``'s minor unit: 4999.5 JPY is 5000."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(currency)), rounding=ROUND_HALF_UP)
