"""Plain sentences for msgspec's messages about records.

msgspec says "Expected `str` matching regex '^[A-Z]{3}\\Z'"; a partner needs "a currency
is a 3-letter ISO 4217 code, e.g. "EUR"". The sentence is the description of the type
at the path (``core.records`` gives each constrained type one), found by walking the
schema along the path.
"""

from __future__ import annotations

import json
import re
import typing
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

AT_PATH = re.compile(r" - at `(\$[^`]*)`$")


def no_timezone(text: str) -> str:
    """What to do with a time written without a timezone: the offset hint's twin."""
    return (
        f"must be in UTC (offset 0, written with Z), not {text}, which names no timezone; "
        f"if it is UTC, write {text}Z, otherwise convert it to UTC first"
    )


_WHOLE = re.compile(r"Expected `int( \| null)?`, got `float`")
_LONGEST = re.compile(r"Expected `(str|array)` of length <= ([0-9]+)")
_STEP = re.compile(r"\.([^.\[]+)|\[([0-9]+)\]|\[\.\.\.\]")
_MISSING = object()


def _steps(path: str) -> list[str | int | None] | None:
    """``$.items[0].code`` as ["items", 0, "code"]; a dict key msgspec leaves out is None."""
    steps: list[str | int | None] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return None
        steps.append(m[1] if m[1] is not None else int(m[2]) if m[2] is not None else None)
        pos = m.end()
    return steps


def _unwrap(tp: Any) -> tuple[Any, list[Meta]]:
    """The type under ``Annotated`` and ``X | None``, with the constraints it carried."""
    metas: list[Meta] = []
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp, *extra = get_args(tp)
            metas += [m for m in extra if isinstance(m, Meta)]
        elif origin in (typing.Union, UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp, metas
            tp = members[0]
        else:
            return tp, metas


def _type_at(root: Any, steps: list) -> tuple[Any, list[Meta]]:
    tp, metas = _unwrap(root)
    for step in steps:
        origin = typing.get_origin(tp)
        if isinstance(step, str) and isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            found = [f.type for f in msgspec.structs.fields(tp) if f.encode_name == step]
            if not found:
                return None, []
            tp = found[0]
        elif isinstance(step, int) and origin is list:
            tp = get_args(tp)[0]
        elif step is None and origin is dict:
            tp = get_args(tp)[1]
        else:
            return None, []
        tp, metas = _unwrap(tp)
    return tp, metas


def _value_at(doc: Any, steps: list) -> Any:
    for step in steps:
        in_object = isinstance(step, str) and isinstance(doc, dict) and step in doc
        in_array = isinstance(step, int) and isinstance(doc, list) and step < len(doc)
        if not (in_object or in_array):
            return _MISSING
        doc = doc[step]
    return doc


def show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "…"


def explain_payload(message: str, path: str, payload: bytes, kinds: dict[str, type]) -> str | None:
    """``explain`` for a record's ``payload``, its type found in ``kinds`` by its kind."""
    try:
        doc = msgspec.json.decode(payload)
    except (msgspec.DecodeError, RecursionError):
        return None
    cls = kinds.get(doc.get("kind")) if isinstance(doc, dict) else None
    return None if cls is None else explain(message, path, cls, doc, path)


def explain(message: str, path: str, root: Any, doc: Any, shown: str) -> str | None:
    """A plain sentence for msgspec's ``message`` about ``path`` (under the type ``root``,
    read from ``doc``), naming ``shown`` as the path; None keeps msgspec's own words."""
    message = AT_PATH.sub("", message)
    steps = _steps(path)
    if steps is None:
        return None
    tp, metas = _type_at(root, steps)
    value = _value_at(doc, steps)
    is_ = "" if value is _MISSING else f" is {show(value)};"
    if typing.get_origin(tp) is Literal and (
        message.startswith("Invalid enum value") or message.startswith("Expected `str`")
    ):
        choices = ", ".join(str(c) for c in get_args(tp))
        return f"`{shown}`{is_} it must be one of: {choices}"
    hint = next((m.description for m in metas if m.description), None)
    if hint and message.startswith("Expected `str` matching regex"):
        return f"`{shown}`{is_} {hint}{_respelled(value, metas)}"
    if hint and message.startswith("Expected `str`, got"):
        return f"`{shown}`{is_} it must be a string: {hint}"
    if _WHOLE.match(message) and isinstance(value, float):
        if shown.endswith("odometer_km"):
            return (
                f"`{shown}`{is_} it must be a whole number of kilometres, e.g. 45400 "
                "(4.54 万公里 is 45400 km; miles × 1.609 are kilometres)"
            )
        return f"`{shown}`{is_} it must be a whole number"
    if (longest := _LONGEST.match(message)) and isinstance(value, str | list):
        what = "characters" if isinstance(value, str) else "items"
        return f"`{shown}` has {len(value):,} {what}; at most {int(longest[2]):,} are allowed: " + (
            "shorten it" if isinstance(value, str) else "send fewer"
        )
    if tp is date and message.startswith(("Invalid RFC3339 encoded date", "Expected `date")):
        # A day as the papers give it (a registration's first_registered), no time.
        return f"`{shown}`{is_} it must be a date written YYYY-MM-DD, e.g. 2022-03-10"
    if tp is datetime and isinstance(value, str):
        if message.startswith("Expected `datetime` with a timezone"):
            return f"`{shown}` {no_timezone(value)}"
        if not message.startswith("Invalid RFC3339"):
            return None
        return (
            f"`{shown}` is {show(value)}, not an RFC 3339 time; write it in UTC, "
            "e.g. 2026-05-04T09:30:00Z"
        )
    return None


def _respelled(value: Any, metas: list[Meta]) -> str:
    """'; did you mean "EUR"?' when only the spelling is off (case, spaces), else ""."""
    if not isinstance(value, str):
        return ""
    pattern = next((m.pattern for m in metas if m.pattern), None)
    for candidate in (value.strip(), value.strip().lower(), value.strip().upper()):
        if pattern and candidate != value and re.search(pattern, candidate):
            return f"; did you mean {show(candidate)}?"
    return ""
