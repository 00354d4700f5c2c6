"""Personal data the ledger can recognise in a record's free text, refused before it
becomes public for good.

Everything in an entry is public and can never be erased (docs/formats.md, "What is
public"); a correction leaves the original in the log. So a new record whose free text
(a note, a description, a name…) holds what is almost always a person's detail is
refused, saying which field and what was found: an e-mail address, a phone number
written internationally (+49 …, +86 …, 10 to 15 digits), a Chinese mobile number
(written 3-4-4, or after a word such as 手机 or tel: eleven digits alone are as often a
part number), a Chinese resident identity number (a birth date and its check digit
must hold) or an IBAN (its check digits must hold). Full-width forms count as their
ASCII selves.
Names and addresses cannot be told apart from a workshop's or a street's; the docs say
to leave them out. A reference a partner writes as it likes (an insurer's claim
reference, a recall campaign) is searched for what no reference is: an e-mail address,
an international phone number, a Chinese mobile number after a word that says it is
one ("HM-2026-00017", "CLM/2024/0001234" and "2024-555-0123" pass; a reference's groups
of digits may look like a Chinese mobile number, an identity card number or an IBAN by
chance). Structured fields (VIN, hashes, commitments, codes, part numbers) are not free
text and are not searched.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import msgspec

from core.strict_json import json_strings

# The record fields that hold free text, in every kind (and as a correction's `fields`
# name them).
FREE_TEXT = frozenset(
    {
        "note",
        "name",
        "description",
        "provider",
        "inspector",
        "shop",
        "jurisdiction",
        "component",
        "reason",
        "summary",
    }
)

# An e-mail address, found from its "@" (a pattern starting with a class of characters
# would be tried at every character): at most 64 characters before it, a domain after.
_LOCAL = re.compile(r"[A-Za-z0-9._%+-]{1,64}\Z")
_DOMAIN = re.compile(r"[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}")


def _email(text: str) -> bool:
    at = text.find("@")
    while at > 0:
        if _LOCAL.search(text, max(0, at - 64), at) and _DOMAIN.match(text, at + 1):
            return True
        at = text.find("@", at + 1)
    return False


# "+", a country code, then digits in groups: 10 to 15 digits in all (E.164), not an
# amount ("+125 000.00") nor a clock offset ("GMT +8 2026-06-04").
_PHONE = re.compile(r"\+[1-9][0-9 ()-]{8,22}[0-9](?![0-9]|[.,][0-9])")
# A Chinese mobile number: written 3-4-4, or as eleven digits (3-4-4 or not) after a
# word that says it is one (a part number such as BMW's 13717532754 is eleven digits
# too). An English word starts a word of its own, "phone" also after what makes a phone
# of it ("Telephone", "cellphone", "Handphone", "smartphone", "mobilephone"):
# "HOTEL13912345678" and "RECALL-15012345678" say nothing. In a reference
# (``_CN_MOBILE_SAID``) one form is a reference's prefix, not a phone's: "TEL" joined to
# its number by a single "-" ("TEL-13812345678" passes there; in a note it is refused);
# every other ("phone13812345678", "Tel/139…", "Mobile#139…", "TEL.139…", "telno139…",
# "Tel.: 139…") is refused as in a note.
_SAID_NUMBER = r"(?<![0-9])1[3-9][0-9][ -]?[0-9]{4}[ -]?[0-9]{4}(?![0-9])"
_ZH_WORDS = r"(?:手机|电话|联系|微信|致电)\D{0,6}"
_EN_WORD = (
    r"(?<![A-Za-z0-9])(?:(?:tele|cell|hand|smart|mobile|mob)?phone|tel(?:ephone)?|mobile|mob|call)"
)
_CN_MOBILE = re.compile(
    r"(?<![0-9])1[3-9][0-9][ -][0-9]{4}[ -][0-9]{4}(?![0-9])"
    rf"|(?:{_ZH_WORDS}|{_EN_WORD}\D{{0,6}}){_SAID_NUMBER}",
    re.IGNORECASE,
)
_CN_MOBILE_SAID = re.compile(
    rf"(?:{_ZH_WORDS}|(?!tel-[0-9]){_EN_WORD}\D{{0,6}}){_SAID_NUMBER}",
    re.IGNORECASE,
)
_CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")

# Only a payload that may hold one is decoded and searched, and most records cannot:
# it is mapped to a few classes of bytes (a digit to 0, a capital to A, @ and + kept; a
# space, quote, dash or parenthesis to a space; the rest to x) and searched for what
# each kind needs (memory searches, a few µs for a 1 KB record; Python's re would try a
# pattern at every byte, ~30); only the kinds found so are searched for, and in a text
# only after a quick test of what the kind needs ("@", "+", eleven digits…).
_CLASSES = bytes(
    ord("0")
    if 48 <= b <= 57
    else ord("A")
    if 65 <= b <= 90
    else b
    if b in b"@+\\"
    else ord(" ")
    if b in b' "-('
    else ord("x")
    for b in range(256)
)
_DIGITS = b"0" * 11
_ELEVEN = re.compile(r"[0-9](?:[ -]?[0-9]){10}")
_IBAN_START = re.compile(r"[A-Z]{2}[0-9]{2}")
_FULL_WIDTH = b"\xef\xbc"  # UTF-8 of U+FF00-FF3F: full-width digits, letters, @ and +

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _cn_id_valid(text: str) -> bool:
    """GB 11643: a birth date at characters 7-14, and the 18th character the ISO 7064
    MOD 11-2 check of the first 17."""
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return False
    if not date(1900, 1, 1) <= born <= date.today():
        return False
    total = sum(int(c) * w for c, w in zip(text[:17], _CN_ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == text[17].upper()


def _iban_valid(text: str) -> bool:
    """ISO 13616: moved four characters on, letters as numbers, mod 97 is 1."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _phone(text: str) -> bool:
    for m in _PHONE.finditer(text):  # the "+" first: the pattern skips to each one
        before = text[max(0, m.start() - 4) : m.start()]
        if before[-1:].isalnum() or before[-1:] == "+" or before in ("GMT ", "UTC "):
            continue
        if 10 <= sum(c.isdigit() for c in m[0]) <= 15:
            return True
    return False


# Each kind: what it is called, what a text must hold for its pattern to be worth
# running (a quick test), the check itself, and the byte classes of a payload that may
# hold one.
_KINDS = (
    ("an e-mail address", lambda t: "@" in t, _email, (b"@",)),
    ("a phone number", lambda t: "+" in t, _phone, (b"+",)),
    (
        "a mobile phone number",
        lambda t: _ELEVEN.search(t) is not None,
        _CN_MOBILE.search,
        (_DIGITS, b"000 0000 0000"),
    ),
    (
        "a resident identity card number",
        lambda t: _ELEVEN.search(t) is not None,
        lambda t: any(_cn_id_valid(m[0]) for m in _CN_ID.finditer(t)),
        (_DIGITS,),
    ),
    (
        "a bank account number (IBAN)",
        lambda t: _IBAN_START.search(t) is not None,
        lambda t: any(_iban_valid(m[0]) for m in _IBAN.finditer(t)),
        (b" AA00",),
    ),
)


_SIGNS = {sign for kind in _KINDS for sign in kind[3]}

# The record fields that hold a reference a partner writes as it likes, and what each
# kind above is searched for as in one of them (None: not searched).
REFERENCES = frozenset({"claim_ref", "campaign"})
_IN_REFERENCES = {
    _KINDS[0]: _KINDS[0],
    _KINDS[1]: _KINDS[1],
    _KINDS[2]: (*_KINDS[2][:2], _CN_MOBILE_SAID.search, _KINDS[2][3]),
}


def _searched(field: object, kinds) -> tuple:
    """The kinds a string under ``field`` is searched for: all in free text, those a
    reference cannot hold by chance in a reference, none elsewhere."""
    if field in FREE_TEXT:
        return kinds
    if field in REFERENCES:
        return tuple(_IN_REFERENCES[k] for k in kinds if k in _IN_REFERENCES)
    return ()


def found_in(text: str, kinds=_KINDS) -> str | None:
    """What kind of personal detail ``text`` holds, or None."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)  # full-width digits, letters, @ and +
    for what, worth, check, _ in kinds:
        if worth(text) and check(text):
            return what
    return None


def _named(doc: object, kinds) -> tuple[str, str] | None:
    """The path and kind of the first free-text string in ``doc`` holding one."""
    for path, text, field in json_strings(doc):
        if (searched := _searched(field, kinds)) and (what := found_in(text, searched)):
            return path, what
    return None


def _free_texts(doc: object, kinds) -> list[tuple[str, tuple]]:
    """Every free-text or reference string in a decoded record with the kinds it is
    searched for, in no particular order: the quick first pass (``json_strings`` builds
    every path, wanted only once one is found)."""
    texts, stack = [], [(doc, ())]
    while stack:
        value, searched = stack.pop()
        if type(value) is str:
            if searched:
                texts.append((value, searched))
        elif type(value) is dict:
            stack.extend((item, _searched(key, kinds)) for key, item in value.items())
        elif type(value) is list:
            stack.extend((item, searched) for item in value)
    return texts


def personal_data(payload: bytes) -> tuple[str, str] | None:
    """``(JSON path, what)`` of the first free-text field of a record's JSON ``payload``
    that holds a personal detail, or None (also for a payload that does not parse:
    its parser says why)."""
    if (b"\\" in payload and b"\\u" in payload) or (b"\xef" in payload and _FULL_WIDTH in payload):
        kinds = _KINDS  # escaped or full-width characters: the classes cannot tell
    else:
        classes = payload.translate(_CLASSES)
        seen = {sign: sign in classes for sign in _SIGNS}
        kinds = tuple(k for k in _KINDS if any(seen[sign] for sign in k[3]))
    if not kinds:
        return None
    try:
        doc = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    if not any(found_in(text, searched) for text, searched in _free_texts(doc, kinds)):
        return None
    return _named(doc, kinds)  # only now the paths, to name the field
