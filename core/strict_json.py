"""JSON as the ledger reads it: one value per key, and what is wrong when it does not parse.

RFC 8259 §4 leaves an object that repeats a key to the reader: most keep the last
value, some the first. In a signed payload that would let the ledger and a verifier
read two different records from one signature, so a repeated key is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import msgspec

from core.errors import InvalidRecord
from core.record_text import show

_encoder = msgspec.json.Encoder()

_ANY_JSON = msgspec.json.Decoder()


def check_unique_keys(data: bytes, what: str = "the payload") -> None:
    """Raises InvalidRecord naming the first key ``data`` repeats within one object.

    JSON that does not parse passes: its parser says what is wrong with it.
    """
    found = duplicate_key(data)
    if found is not None:
        path, key = found
        which = f"the key {show(key)}" if key else "a key"
        raise InvalidRecord(
            f"{what} repeats {which} in one object ({path}): JSON readers disagree on "
            "which value counts, so a verifier could read another record than the ledger. "
            "Keep one and sign again",
            field=path,
        )


def duplicate_key(data: bytes) -> tuple[str, str] | None:
    """(JSON path, key) of a key that ``data`` repeats within one object, or None.

    Fast pass, ~5 µs for a 1 KB record: outside strings a colon follows each key and
    nothing else. Decoding keeps one value per key and re-encoding writes colons only
    after keys and inside strings, so the two texts hold as many colons exactly when
    no key was dropped (a colon written as the escape \\u003a counts as one). Only then
    a slow pass finds which key it was.
    """
    try:
        again = _encoder.encode(_ANY_JSON.decode(data))
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    counted = data
    if b"\\" in data and b"\\u003" in data:  # an escaped "\\u003a" too: a needless slow pass
        counted = data.replace(b"\\u003a", b":").replace(b"\\u003A", b":")
    if counted.count(b":") == again.count(b":"):
        return None
    return _find_duplicate(data)


class _Object(dict):
    repeated: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object()
    for key, value in pairs:
        if key in obj and obj.repeated is None:
            obj.repeated = key
        obj[key] = value
    return obj


def _find_duplicate(data: bytes) -> tuple[str, str] | None:
    try:
        doc = json.loads(data.decode("utf-8"), object_pairs_hook=_pairs)
    except (ValueError, RecursionError):
        return None  # deeper than this reader goes: no record nests that deep anyway
    stack = [(doc, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Object):
            if node.repeated is not None:
                return _child(path, node.repeated), node.repeated
            stack += [(v, _child(path, k)) for k, v in reversed(node.items())]
        elif isinstance(node, list):
            stack += [(v, f"{path}[{i}]") for i, v in reversed(list(enumerate(node)))]
    return None


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{key!r}]"


def json_problem(data: bytes, err: Exception) -> str:
    """What is wrong with JSON that does not parse, with a line and column to look at."""
    if not data.strip():
        return "it is empty"
    if data.startswith(b"\xef\xbb\xbf"):
        return (
            "it starts with a byte-order mark (U+FEFF), which JSON does not allow: save the "
            "file as UTF-8 without BOM (Notepad: 'UTF-8', not 'UTF-8 with BOM')"
        )
    message = str(err)
    if message == "Input data was truncated":
        return "it ends before the JSON does (an object, array or string is not closed)"
    if at := re.search(r"\(byte ([0-9]+)\)$", message):
        before = data[: int(at[1])]
        line = before.count(b"\n") + 1
        column = len(before[before.rfind(b"\n") + 1 :].decode("utf-8", "replace")) + 1
        message = f"{message[: at.start()]}(line {line}, column {column})"
    return message


def json_strings(doc: object, *, keys: bool = False) -> Iterator[tuple[str, str, str | None]]:
    """Every string of a decoded JSON document, in document order, as ``(path, text,
    field)``: its JSON path (``$.items[0].note``) and the key it is the value of (the
    nearest, through lists; None at the top). With ``keys``, an object's keys too, at
    the object's path."""
    stack: list[tuple[str, object, str | None]] = [("$", doc, None)]
    while stack:
        path, value, field = stack.pop()
        if isinstance(value, str):
            yield path, value, field
        elif isinstance(value, dict):
            if keys:
                for key in value:
                    yield path, key, field
            stack.extend((f"{path}.{k}", v, k) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((f"{path}[{i}]", v, field) for i, v in reversed(list(enumerate(value))))
