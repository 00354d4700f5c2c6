"""core.vin against published VINs, and the check digit's properties over random VINs."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidVIN
from core.vin import VinInfo, check_digit, decode_vin, normalize_vin, validate_vin

# Published examples whose check digits were computed outside this code base: a 2003
# Honda Accord, a SAIC Volkswagen built in China, and the worked example of the
# North American check digit (Wikipedia, "Vehicle identification number").
HONDA = "1HGCM82633A004352"
SAIC_VW = "LSVAU218XN2183294"
WORKED_EXAMPLE = "1M8GDM9AXKP042788"
# A real Volkswagen pattern: European makers fill position 9 with "Z", no check digit.
GOLF = "WVWZZZ1KZ6W000001"

VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"
TODAY = date(2026, 5, 4)


def with_check_digit(vin: str) -> str:
    return vin[:8] + check_digit(vin) + vin[9:]


vins = st.text(alphabet=VIN_CHARS, min_size=17, max_size=17).map(with_check_digit)
north_american_vins = st.tuples(st.sampled_from("12345"), vins).map(
    lambda t: with_check_digit(t[0] + t[1][1:])
)


# ---- check digit ----------------------------------------------------------------


@pytest.mark.parametrize(
    "vin, digit", [(HONDA, "3"), (SAIC_VW, "X"), (WORKED_EXAMPLE, "X"), (GOLF, "1")]
)
def test_check_digit_of_published_vins(vin, digit):
    assert check_digit(vin) == digit


def test_check_digit_ignores_position_9():
    assert check_digit(HONDA[:8] + "0" + HONDA[9:]) == "3"


@pytest.mark.parametrize("vin", ["1HGCM82633A00435", "1HGCM82633A00435O", "1HGCM8263#A004352"])
def test_check_digit_of_a_non_vin_is_refused(vin):
    with pytest.raises(InvalidVIN):
        check_digit(vin)


@given(vins)
def test_a_vin_with_its_computed_check_digit_is_valid(vin):
    assert validate_vin(vin) == []


@given(north_american_vins, st.sampled_from(VIN_CHARS))
def test_any_other_check_digit_on_a_north_american_vin_is_refused(vin, wrong):
    expected = vin[8]
    if wrong == expected:
        return
    with pytest.raises(InvalidVIN) as err:
        validate_vin(vin[:8] + wrong + vin[9:])
    assert f"give {expected!r}" in str(err.value)
    assert err.value.field == "vin"


# ---- validation -----------------------------------------------------------------


@pytest.mark.parametrize("vin", [HONDA, SAIC_VW, WORKED_EXAMPLE, "11111111111111111"])
def test_published_vins_are_valid(vin):
    assert validate_vin(vin) == []


def test_chinese_vin_with_wrong_check_digit_is_refused():
    with pytest.raises(InvalidVIN, match=r"give 'X'.*Chinese") as err:
        validate_vin(SAIC_VW[:8] + "7" + SAIC_VW[9:])
    # Where to read the VIN: a "plate" reads as the licence plate, which carries none.
    assert "plate" not in str(err.value)
    assert "door pillar" in str(err.value) and "registration papers" in str(err.value)


def test_european_vin_with_wrong_check_digit_only_warns():
    warnings = validate_vin(GOLF)
    assert len(warnings) == 1
    assert "'Z'" in warnings[0] and "'1'" in warnings[0]
    assert validate_vin(with_check_digit(GOLF)) == []


@pytest.mark.parametrize("letter, meant", [("I", "1"), ("O", "0"), ("Q", "0")])
def test_i_o_and_q_are_refused_with_what_was_meant(letter, meant):
    vin = HONDA[:16] + letter
    with pytest.raises(InvalidVIN, match="never contain I, O or Q") as err:
        validate_vin(vin)
    assert f"position 17 is {letter!r}" in str(err.value)
    assert f"probably {meant!r}" in str(err.value)


@pytest.mark.parametrize(
    "written, what",
    [
        (HONDA.lower(), "lowercase letters"),
        ("1HG-CM82633A004352", "dashes"),
        ("1HGCM826 33A004352", "spaces"),
        (f" {HONDA}\n", "surrounding whitespace"),
    ],
)
def test_unnormalised_vin_is_refused_with_its_normal_form(written, what):
    with pytest.raises(InvalidVIN) as err:
        validate_vin(written)
    assert what in str(err.value)
    assert f"send it as {HONDA!r}" in str(err.value)
    assert err.value.field == "vin"


@pytest.mark.parametrize(
    "vin, words",
    [
        ("1HGCM82633A00435", "exactly 17 characters, this one has 16"),
        (HONDA + "1", "this one has 18"),
        ("", "this one has 0"),
        ("1HGCM82633A00435*", "position 17 is '*'"),
        ("1HGCM82633A00435É", "position 17 is 'É'"),
    ],
)
def test_malformed_vins_say_what_is_wrong(vin, words):
    with pytest.raises(InvalidVIN) as err:
        validate_vin(vin)
    assert words in str(err.value)


def test_lowercase_i_is_refused_as_i_not_as_case():
    with pytest.raises(InvalidVIN, match="never contain I, O or Q"):
        validate_vin(HONDA[:16] + "i")


def test_normalize_vin():
    assert normalize_vin(" 1hg-cm826 33a004352\n") == HONDA
    assert normalize_vin(HONDA) == HONDA


@given(vins, st.lists(st.sampled_from([" ", "-", "lower"]), min_size=1, max_size=4), st.data())
def test_any_way_of_writing_a_vin_normalises_back_or_is_refused_with_a_hint(vin, marks, data):
    written = vin
    for mark in marks:
        at = data.draw(st.integers(0, len(written)))
        written = written.lower() if mark == "lower" else written[:at] + mark + written[at:]
    assert normalize_vin(written) == vin
    if written == vin:  # lowercasing a VIN of digits changes nothing
        return
    with pytest.raises(InvalidVIN, match=f"send it as '{vin}'"):
        validate_vin(written)


# What a phone or a Chinese input method puts into a VIN as it is typed or pasted:
# full-width forms (U+FF01..U+FF5E are ASCII + 0xFEE0), dashes of every kind, spaces
# (ideographic, no-break) and invisible format characters.
DASHES = ["-", "\uff0d", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\ufe63"]
SPACES = [" ", "\t", "\n", "\u3000", "\u00a0", "\u2009"]
INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200e"]


def full_width(c: str) -> str:
    return chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c


@st.composite
def written_as_on_a_phone(draw, vin: str) -> str:
    """``vin`` with each character in any mix of full width and case, and dashes, spaces
    and invisible characters anywhere."""
    chars = []
    for c in vin:
        if draw(st.booleans()):
            c = c.lower()
        if draw(st.booleans()):
            c = full_width(c)
        chars.append(c)
    for extra in draw(st.lists(st.sampled_from(DASHES + SPACES + INVISIBLE), max_size=6)):
        at = draw(st.integers(0, len(chars)))
        chars.insert(at, extra)
    return "".join(chars)


@pytest.mark.parametrize(
    "written, what",
    [
        ("ＬＧＢＨ５２Ｅ０５ＭＹ０００７７７", "full-width characters"),
        ("ｌｇｂｈ５２ｅ０５ｍｙ０００７７７", "full-width characters, lowercase letters"),
        ("LGBH52－E05－MY000777", "dashes"),
        ("LGBH52–E05—MY000777", "dashes"),
        ("LGBH52E05\u200bMY000777", "invisible characters"),
        ("\ufeffLGBH52E05MY000777", "invisible characters"),
        ("LGBH52E05\u3000MY000777", "spaces"),
    ],
)
def test_a_vin_typed_on_a_chinese_phone_normalises_and_is_refused_with_what_to_send(written, what):
    vin = "LGBH52E05MY000777"
    assert normalize_vin(written) == vin
    with pytest.raises(InvalidVIN) as err:
        validate_vin(written)
    assert f"({what})" in str(err.value)
    assert f"send it as {vin!r}" in str(err.value)


@given(vins.flatmap(lambda vin: st.tuples(st.just(vin), written_as_on_a_phone(vin))))
def test_any_full_width_dashed_spaced_or_invisibly_marked_vin_normalises_back(pair):
    vin, written = pair
    assert normalize_vin(written) == vin
    assert normalize_vin(vin) == vin
    if written != vin:
        with pytest.raises(InvalidVIN, match=f"send it as '{vin}'"):
            validate_vin(written)


# Anything a buyer might paste: VIN characters in both widths, letters no VIN has, and
# what normalising drops.
_PASTED = st.text(
    alphabet=st.sampled_from(
        [
            *VIN_CHARS,
            *VIN_CHARS.lower(),
            *map(full_width, VIN_CHARS),
            *("I", "Ｏ", "é", "车"),
            *DASHES,
            *SPACES,
            *INVISIBLE,
        ]
    ),
    max_size=30,
)


@given(_PASTED)
def test_nothing_that_normalises_to_another_length_is_accepted(written):
    normal = normalize_vin(written)
    if len(normal) == 17:
        return
    for text in (written, normal):
        with pytest.raises(InvalidVIN) as err:
            validate_vin(text)
        assert f"this one has {len(normal)}" in str(err.value)


# ---- decoding -----------------------------------------------------------------


def test_decode_honda():
    info = decode_vin(HONDA, today=TODAY)
    assert info == VinInfo(
        vin=HONDA,
        manufacturer="Honda",
        country="United States",
        region="North America",
        model_year=2003,
        check_digit_ok=True,
        warnings=[],
    )


def test_decode_chinese_vin():
    info = decode_vin(SAIC_VW, today=TODAY)
    assert (info.country, info.model_year, info.check_digit_ok) == ("China", 2022, True)
    assert "Volkswagen" in info.manufacturer


def test_decode_european_vin_keeps_the_warning():
    info = decode_vin(GOLF, today=TODAY)
    assert (info.manufacturer, info.country, info.model_year) == ("Volkswagen", "Germany", 2006)
    assert info.check_digit_ok is False
    assert info.warnings == validate_vin(GOLF)


@pytest.mark.parametrize(
    "today, year",
    [
        (date(2026, 5, 4), 2003),  # 2033 is later than next year's models
        (date(2032, 1, 1), 2033),  # next year's models are already on sale
        (date(2031, 12, 31), 2003),
        (date(2064, 1, 1), 2063),
    ],
)
def test_model_year_is_the_latest_of_the_cycle_not_after_next_year(today, year):
    assert decode_vin(HONDA, today=today).model_year == year


def test_model_year_defaults_to_todays_clock():
    assert decode_vin(HONDA) == decode_vin(HONDA, today=date.today())


def test_position_10_that_is_no_year_code_gives_no_year():
    vin = with_check_digit(HONDA[:9] + "U" + HONDA[10:])  # U, Z and 0 are never years
    assert decode_vin(vin, today=TODAY).model_year is None


@given(vins)
def test_decode_never_fails_on_a_valid_vin(vin):
    info = decode_vin(vin, today=TODAY)
    assert info.vin == vin
    assert info.check_digit_ok
    for name in (info.manufacturer, info.country, info.region):
        assert name is None or (isinstance(name, str) and name != "UnsupportedBrand")
    assert info.model_year is None or 1980 <= info.model_year <= TODAY.year + 1


def test_unknown_maker_is_none_not_a_placeholder():
    info = decode_vin(with_check_digit("9ZZZZZZZZZZZZZZZZ"), today=TODAY)
    assert info.manufacturer is None


def test_decode_refuses_an_invalid_vin():
    with pytest.raises(InvalidVIN):
        decode_vin(HONDA.lower(), today=TODAY)
