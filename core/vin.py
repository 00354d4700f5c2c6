"""Vehicle Identification Numbers: normal form, validation, check digit and decoding.

A VIN is 17 characters of ISO 3779: digits and the letters A–Z without I, O and Q.
Position 9 is the check digit of the North American scheme (49 CFR §565.15): each
character is transliterated to a number, weighted by its position, and the sum
taken modulo 11 (remainder 10 is written "X"). North America (first character 1–5)
and China (GB 16735, first character L) require it; elsewhere it is optional, so a
mismatch there is only a warning.

``decode_vin`` asks the ``vininfo`` package for the maker, country and region; it
reads position 10 (the model-year code) itself, because ``vininfo`` consults the
system clock and the answer must not change with the machine it runs on.
"""

from __future__ import annotations

import operator
import re
import unicodedata
from datetime import date

import msgspec
from vininfo import Vin

from core.errors import InvalidVIN

VIN_LENGTH = 17
CHECK_DIGIT_POSITION = 9  # 1-based, as the standards count

_TRANSLITERATION = {
    **{str(d): d for d in range(10)},
    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
    **dict(zip("JKLMN", range(1, 6), strict=True)),
    "P": 7,
    "R": 9,
    **dict(zip("STUVWXYZ", range(2, 10), strict=True)),
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)

# Easily misread as 1, 0 and 0, so ISO 3779 leaves them out.
LOOKALIKES = {"I": "1", "O": "0", "Q": "0"}
_MANDATORY_CHECK_DIGIT = frozenset("12345L")

# Position 10 cycles through these every 30 years, starting with A = 1980.
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"
_FIRST_YEAR = 1980

# What vininfo answers, instead of None, for a manufacturer it does not know.
_UNKNOWN_NAMES = frozenset({"", "UnsupportedBrand"})


class VinInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What a VIN itself says about a vehicle; every field but ``vin`` may be unknown."""

    vin: str
    manufacturer: str | None
    country: str | None
    region: str | None
    model_year: int | None
    check_digit_ok: bool
    warnings: list[str]


# What a VIN never holds but people write into one: format characters (invisible, such
# as U+200B) and dash punctuation (- － – —). Unicode general categories.
_DROPPED = frozenset({"Cf", "Pd"})


def normalize_vin(text: str) -> str:
    """The VIN as people write it (spaces, dashes, lowercase) in its one normal form.

    Also as a phone or a Chinese input method writes it: full-width letters and digits
    (ＬＧＢ０, folded by Unicode NFKC), any dash (－ – —, category Pd) and the invisible
    format characters that copying from a chat or a PDF brings along (U+200B, U+FEFF,
    category Cf). Whatever else is left is the VIN to check, or what is wrong with it.
    """
    if _WELL_FORMED.fullmatch(text):  # already normal: what partners send (~1 µs)
        return text
    folded = unicodedata.normalize("NFKC", text)
    kept = "".join(c for c in folded if not c.isspace() and unicodedata.category(c) not in _DROPPED)
    return kept.upper()


def check_digit(vin: str) -> str:
    """The check digit position 9 should hold; position 9 itself is not read."""
    problem = _character_problem(vin)
    if problem:
        raise InvalidVIN(f"cannot compute the check digit of {vin!r}: {problem}", field="vin")
    return _check_digit(vin)


def _check_digit(vin: str) -> str:
    """``check_digit`` of 17 VIN characters, already checked."""
    remainder = sum(map(operator.mul, map(_TRANSLITERATION.__getitem__, vin), _WEIGHTS)) % 11
    return "X" if remainder == 10 else str(remainder)


def validate_vin(vin: str) -> list[str]:
    """Warnings about a VIN that is acceptable; InvalidVIN says what is wrong with any other."""
    normal = normalize_vin(vin)
    problem = _character_problem(normal)
    if problem:
        raise InvalidVIN(f"{vin!r} is not a valid VIN: {problem}", field="vin")
    if normal != vin:
        raise InvalidVIN(
            f"VIN {vin!r} is not in normal form ({_denormalised(vin)}); send it as {normal!r}",
            field="vin",
        )

    expected = _check_digit(vin)
    found = vin[CHECK_DIGIT_POSITION - 1]
    if found == expected:
        return []
    mismatch = (
        f"VIN {vin} has check digit {found!r} at position {CHECK_DIGIT_POSITION}, but its "
        f"other characters give {expected!r}"
    )
    if vin[0] in _MANDATORY_CHECK_DIGIT:
        raise InvalidVIN(
            f"{mismatch}; North American and Chinese VINs must carry the right one, so the "
            "VIN most likely has a typo: compare it with the VIN on the car (at the base of the "
            "windscreen, on the door pillar) or on its registration papers",
            field="vin",
        )
    return [f"{mismatch}; the check digit is optional in this region, but look for a typo"]


def decode_vin(vin: str, today: date | None = None) -> VinInfo:
    """Maker, country, region and model year of a valid VIN (InvalidVIN otherwise).

    ``today`` bounds the model year (at most next year); pass it to be deterministic.
    """
    warnings = validate_vin(vin)
    manufacturer = country = region = year_code = None
    try:
        info = Vin(vin)
        manufacturer = _known(info.manufacturer)
        country = _known(info.country)
        region = _known(info.region)
        year_code = info.years_code  # position 10, or 11 for makers that put it there
    except Exception:  # vininfo fails in many ways on WMIs it does not know
        pass
    return VinInfo(
        vin=vin,
        manufacturer=manufacturer,
        country=country,
        region=region,
        model_year=_model_year(year_code, today or date.today()),
        check_digit_ok=check_digit(vin) == vin[CHECK_DIGIT_POSITION - 1],
        warnings=warnings,
    )


_WELL_FORMED = re.compile(r"[0-9A-HJ-NPR-Z]{17}", re.ASCII)


def _character_problem(vin: str) -> str | None:
    """What keeps ``vin`` from being 17 VIN characters, or None."""
    if _WELL_FORMED.fullmatch(vin):  # the common case, without a loop in Python
        return None
    if len(vin) != VIN_LENGTH:
        return f"a VIN has exactly {VIN_LENGTH} characters, this one has {len(vin)}"
    for position, char in enumerate(vin, start=1):
        if char in LOOKALIKES:
            return (
                f"position {position} is {char!r}, but VINs never contain I, O or Q; "
                f"it is probably {LOOKALIKES[char]!r}"
            )
        if char not in _TRANSLITERATION:
            return (
                f"position {position} is {char!r}; a VIN has only digits and the capital "
                "letters A–Z except I, O and Q"
            )
    return None


def _denormalised(vin: str) -> str:
    """Names what normalising changes in ``vin``, for the error message."""
    found = []
    if vin != vin.strip():
        found.append("surrounding whitespace")
    if any(c.isspace() for c in vin.strip()):
        found.append("spaces")
    if any(unicodedata.category(c) == "Pd" for c in vin):
        found.append("dashes")
    if any(unicodedata.category(c) == "Cf" for c in vin):
        found.append("invisible characters")
    if any(
        unicodedata.normalize("NFKC", c) != c
        for c in vin
        if not c.isspace() and unicodedata.category(c) not in _DROPPED
    ):
        found.append("full-width characters")
    if vin != vin.upper():
        found.append("lowercase letters")
    return ", ".join(found)


def _known(value: object) -> str | None:
    return value if isinstance(value, str) and value not in _UNKNOWN_NAMES else None


def _model_year(code: object, today: date) -> int | None:
    """The latest year the code stands for that is not after next year's models."""
    if not isinstance(code, str) or len(code) != 1 or code not in _YEAR_CODES:
        return None
    cycle = len(_YEAR_CODES)
    first = _FIRST_YEAR + _YEAR_CODES.index(code)
    latest = today.year + 1
    if first > latest:
        return None
    return first + (latest - first) // cycle * cycle
