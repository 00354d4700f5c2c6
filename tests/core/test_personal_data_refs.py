"""An insurer's claim reference and a recall's campaign are public for good, like a note:
an e-mail address or a phone number written there is refused as it is in a note, while
real references (letters, digits and separators) pass."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.service_checks import check_text
from core.errors import InvalidRecord
from core.personal_data import found_in, personal_data

VIN = "1HGCM82633A004352"


def claim(ref: str) -> bytes:
    record = {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": "2026-11-29T10:00:00Z",
        "claim_ref": ref,
        "severity": "minor",
    }
    return json.dumps(record).encode()


@pytest.mark.parametrize(
    ("ref", "what"),
    [
        ("john.smith@example.com", "an e-mail address"),
        ("Policyholder +1 415 555 0123", "a phone number"),
        ("HM-1 +44 20 7946 0958", "a phone number"),
        ("HM-1 tel 13912345678", "a mobile phone number"),
        ("HM-1 tel 138 1234 5678", "a mobile phone number"),
        ("HM-1 手机 138-1234-5678", "a mobile phone number"),
        ("HM-1 Tel.: 13912345678", "a mobile phone number"),
        ("phone13812345678", "a mobile phone number"),
        ("Tel/13812345678", "a mobile phone number"),
        ("Mobile#13812345678", "a mobile phone number"),
        ("TEL.13812345678", "a mobile phone number"),
        ("telno13812345678", "a mobile phone number"),
        ("Telephone 13812345678", "a mobile phone number"),
        ("owner telephone: 13812345678", "a mobile phone number"),
        ("Cellphone: 13812345678", "a mobile phone number"),
        ("Handphone 13812345678", "a mobile phone number"),
        ("smartphone 13812345678", "a mobile phone number"),
    ],
)
def test_a_person_s_detail_in_a_claim_reference_is_refused_naming_the_field(ref, what):
    assert personal_data(claim(ref)) == ("$.claim_ref", what)
    with pytest.raises(InvalidRecord) as refused:
        check_text(claim(ref))
    assert "`$.claim_ref` holds what looks like " + what in str(refused.value)


def test_a_correction_that_sets_one_is_refused_too():
    record = {"kind": "correction", "fields": {"claim_ref": "jane@example.org"}}
    assert personal_data(json.dumps(record).encode()) == ("$.fields.claim_ref", "an e-mail address")


def test_a_recall_campaign_is_searched_as_well():
    record = {"kind": "recall", "campaign": "call +49 30 1234 5678", "component": "brakes"}
    assert personal_data(json.dumps(record).encode()) == ("$.campaign", "a phone number")


@pytest.mark.parametrize(
    "ref",
    [
        "HM-2026-00017",
        "CLM/2024/0001234",
        "A1B2C3D4E5",
        "2024-555-0123",
        "24V-123.000",
        "RECALL-15012345678",  # "call" inside a word says nothing
        "HOTEL13912345678",
        "TEL-13812345678",  # a prefix joined to its number, as references are
    ],
)
def test_real_claim_references_pass(ref):
    assert personal_data(claim(ref)) is None


_REF_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/."
# A word of its own that says the number after it is a phone's.
_SAYS_PHONE = re.compile(r"(?<![a-z0-9])(?:tel|phone|mob|call|cell|hand|smart)", re.IGNORECASE)
_RANDOM = st.text(alphabet=_REF_CHARS, min_size=1, max_size=12).filter(
    lambda s: not _SAYS_PHONE.search(s)
)
_NUMBER = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
# A reference's pieces: random text, words that end in a word that says a number is a
# phone's, and numbers shaped as a Chinese mobile's, joined as references are; "TEL" is
# a reference's prefix only joined to its number by a "-".
_PIECES = st.one_of(_RANDOM, st.sampled_from(["RECALL", "HOTEL", "HM"]), _NUMBER)
_REFS = st.one_of(
    st.text(alphabet=_REF_CHARS, min_size=1, max_size=40).filter(
        lambda s: not _SAYS_PHONE.search(s)
    ),
    st.tuples(st.lists(_PIECES, min_size=1, max_size=4), st.sampled_from(["", "-", "/", "."])).map(
        lambda pieces: pieces[1].join(pieces[0])
    ),
    st.lists(
        st.one_of(_PIECES, st.tuples(st.sampled_from(["TEL", "tel"]), _NUMBER).map("-".join)),
        min_size=1,
        max_size=4,
    ).map("-".join),
)


@settings(max_examples=300)
@given(ref=_REFS)
def test_reference_like_strings_are_never_refused(ref):
    """Groups of letters and digits may look like a Chinese mobile or identity number or
    an IBAN by chance: in a reference only what no reference is counts."""
    assert personal_data(claim(ref)) is None
    assert personal_data(json.dumps({"kind": "recall", "campaign": ref}).encode()) is None


@settings(max_examples=100)
@given(before=_REFS, after=_REFS)
def test_an_e_mail_address_inside_a_reference_is_refused(before, after):
    ref = f"{before} john.smith@example.com {after}"
    assert personal_data(claim(ref)) == ("$.claim_ref", "an e-mail address")


_PHONE_WORDS = [
    "tel", "Tel", "TEL", "telephone", "Telephone", "phone", "Phone", "cellphone", "Cellphone",
    "Handphone", "smartphone", "mobilephone", "mobile", "Mobile", "mob", "call", "CALL",
]  # fmt: skip


@settings(max_examples=300)
@given(
    before=_REFS,
    word=st.sampled_from(_PHONE_WORDS),
    joint=st.sampled_from(["", "/", ".", "#", ":", " ", ": ", ". ", "no", "no. ", " No: "]),
    number=_NUMBER,
    after=_REFS,
)
def test_a_mobile_number_said_to_be_one_is_refused_in_a_reference_and_a_note(
    before, word, joint, number, after
):
    """A word that says what follows is a phone's, then a Chinese mobile number: refused
    in a reference as in a note, whatever joins them (but a "-" after "TEL", which a
    reference's prefix is)."""
    text = f"{before} {word}{joint}{number} {after}"
    assert personal_data(claim(text)) == ("$.claim_ref", "a mobile phone number")
    assert personal_data(json.dumps({"kind": "recall", "campaign": text}).encode()) is not None
    assert found_in(text) == "a mobile phone number"


@pytest.mark.parametrize("word", ["tel", "phone", "mobile", "call", "Telephone", "cellphone"])
def test_a_note_refuses_a_mobile_number_joined_to_its_word_by_a_dash(word):
    assert found_in(f"{word}-13812345678") == "a mobile phone number"
