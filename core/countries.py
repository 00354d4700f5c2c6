"""ISO 3166-1 alpha-2 country codes: where a car is registered (``registration``).

The 249 officially assigned codes, frozen here (as Debian's iso-codes 3166-1 lists
them) rather than read from a package at run time: a record accepted today must parse
the same everywhere, whatever is installed. A code ISO assigns later is added here.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

COUNTRY_HINT = (
    'a country is an ISO 3166-1 alpha-2 code in capitals, e.g. "DE" for Germany, "CN" for China'
)

_TABLE = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM
    BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX
    CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG
    GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR
    IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV
    LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE
    NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO
    RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF
    TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF
    WS YE YT ZA ZM ZW
"""
ALPHA_2: frozenset[str] = frozenset(_TABLE.split())

# Codes used for a country that are not its ISO 3166-1 code, and the code to write.
_NOT_ISO = {"UK": "GB", "EL": "GR", "FX": "FR"}

Country = Annotated[str, Meta(pattern=r"^[A-Z]{2}\Z", description=COUNTRY_HINT)]


def country_problem(code: str) -> str | None:
    """What is wrong with ``code`` as an ISO 3166-1 alpha-2 country, or None."""
    if code in ALPHA_2:
        return None
    if instead := _NOT_ISO.get(code):
        return f'is "{code}", which is not an ISO 3166-1 code; write "{instead}"'
    return f'is "{code}", which is no ISO 3166-1 alpha-2 country code; {COUNTRY_HINT}'
