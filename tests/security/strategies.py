"""Hypothesis strategies shared by the security tests: garbage and mutations of valid input."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Any JSON value, including numbers too big for 64 bits and deep-ish nesting.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)


def json_places(value, prefix=()):
    """Every place inside a JSON value, as the path of keys and indexes that reaches it."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield (*prefix, k)
            yield from json_places(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield (*prefix, i)
            yield from json_places(v, (*prefix, i))


@st.composite
def mutated_json(draw, value, max_steps: int = 3):
    """A deep copy of ``value`` with 0 to ``max_steps`` members set, deleted or added."""
    value = json.loads(json.dumps(value))
    for _ in range(draw(st.integers(0, max_steps))):
        places = list(json_places(value))
        action = draw(st.sampled_from(["set", "delete", "add"]))
        path = draw(st.sampled_from(places)) if places else ()
        parent = value
        for step in path[:-1]:
            parent = parent[step]
        if action == "add" or not path:
            target = parent[path[-1]] if path else value
            if isinstance(target, dict):
                target[draw(st.text(min_size=1, max_size=12))] = draw(json_values)
            elif isinstance(target, list):
                target.append(draw(json_values))
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(json_values)
    return value


@st.composite
def mutated_bytes(draw, data: bytes):
    """``data`` with 1 to 4 byte flips, overwrites, deletions, insertions or truncations."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate", "repeat"]))
        if not buf:
            action = "insert"
        at = draw(st.integers(0, max(len(buf) - 1, 0)))
        if action == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "set":
            buf[at] = draw(st.integers(0, 255))
        elif action == "delete":
            del buf[at : at + draw(st.integers(1, 8))]
        elif action == "insert":
            buf[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "truncate":
            del buf[at:]
        else:
            buf[at:at] = buf[at : at + draw(st.integers(1, 16))]
    return bytes(buf)


@st.composite
def mutated_text(draw, text: str):
    """``text`` with characters replaced, deleted, inserted (any code point) or cut off."""
    chars = list(text)
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["set", "delete", "insert", "truncate", "newline"]))
        if not chars:
            action = "insert"
        at = draw(st.integers(0, max(len(chars) - 1, 0)))
        if action == "set":
            chars[at] = draw(st.characters())
        elif action == "delete":
            del chars[at : at + draw(st.integers(1, 8))]
        elif action == "insert":
            chars[at:at] = list(draw(st.text(min_size=1, max_size=6)))
        elif action == "truncate":
            del chars[at:]
        else:
            chars[at:at] = list(draw(st.sampled_from(["\n", "\n\n", "\r\n", " ", "\u2014 "])))
    return "".join(chars)


def text_mutations(text: str):
    """Mutations by character and, decoded back leniently, by UTF-8 byte."""
    return mutated_text(text) | mutated_bytes(text.encode()).map(
        lambda b: b.decode("utf-8", errors="replace")
    )
