"""Personal data the ledger can recognise in a record's free text, refused before it
becomes public for good.

Everything in an entry is public and can never be erased (docs/formats.md, "What is
public"); a correction leaves the original in the log. So a new record whose free text
(a note, a description, a name…) holds what is almost always a person's detail is
refused, saying which field and what was found: an e-mail address, a phone number
written internationally (+49 …, +86 …), a Chinese mobile number, a Chinese resident
identity number (its check digit must hold) or an IBAN (its check digits must hold).
Names and addresses cannot be told apart from a workshop's or a street's; the docs say
to leave them out. Structured fields (VIN, hashes, commitments, codes, an insurer's
claim reference, part numbers) are not free text and are not searched.
"""

from __future__ import annotations

import re

import msgspec

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

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?<![\w+])\+[1-9][0-9 ().-]{6,22}[0-9]")
_CN_MOBILE = re.compile(r"(?<![0-9A-Za-z])1[3-9][0-9]{9}(?![0-9A-Za-z])")
_CN_ID = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b")
# Only a payload that may hold one is decoded and searched, and most records cannot:
# it is mapped to a few classes of bytes (a digit to 0, a capital to A, @ and + kept,
# a space or quote to a space, the rest to x) and searched for an @, a +, eleven digits
# or two capitals and two digits after a space (an IBAN's start): memory searches,
# about 3 µs for a 1 KB record (Python's re would try a pattern at every byte, ~30).
_CLASSES = bytes(
    ord("0")
    if 48 <= b <= 57
    else ord("A")
    if 65 <= b <= 90
    else b
    if b in b"@+"
    else ord(" ")
    if b in b' "'
    else ord("x")
    for b in range(256)
)
_DIGITS = b"0" * 11

_CN_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _cn_id_valid(text: str) -> bool:
    """GB 11643: the 18th character is the ISO 7064 MOD 11-2 check of the first 17."""
    total = sum(int(c) * w for c, w in zip(text[:17], _CN_ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == text[17].upper()


def _iban_valid(text: str) -> bool:
    """ISO 13616: moved four characters on, letters as numbers, mod 97 is 1."""
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def found_in(text: str) -> str | None:
    """What kind of personal detail ``text`` holds, or None."""
    if _EMAIL.search(text):
        return "an e-mail address"
    for m in _PHONE.finditer(text):
        if 8 <= sum(c.isdigit() for c in m[0]) <= 15:
            return "a phone number"
    if _CN_MOBILE.search(text):
        return "a mobile phone number"
    if any(_cn_id_valid(m[0]) for m in _CN_ID.finditer(text)):
        return "a resident identity card number"
    if any(_iban_valid(m[0]) for m in _IBAN.finditer(text)):
        return "a bank account number (IBAN)"
    return None


def personal_data(payload: bytes) -> tuple[str, str] | None:
    """``(JSON path, what)`` of the first free-text field of a record's JSON ``payload``
    that holds a personal detail, or None (also for a payload that does not parse:
    its parser says why)."""
    classes = payload.translate(_CLASSES)
    if not (b"@" in classes or b"+" in classes or _DIGITS in classes or b" AA00" in classes):
        return None
    try:
        doc = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        return None
    stack: list[tuple[str, object, bool]] = [("$", doc, False)]
    while stack:
        path, value, free = stack.pop()
        if isinstance(value, str):
            if free and (what := found_in(value)):
                return path, what
        elif isinstance(value, dict):
            for key, item in reversed(list(value.items())):
                stack.append((f"{path}.{key}", item, key in FREE_TEXT))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v, free) for i, v in reversed(list(enumerate(value))))
    return None
