"""docs/plugins.md: the reference tables of what plugins receive and return list each
class's fields, in order, with their types and defaults, as plugins/interfaces.py
declares them; a field added or changed without its row fails here."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import msgspec
import pytest

from plugins import interfaces

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
CLASSES = (
    "SaleFacts",
    "Terms",
    "Decision",
    "ClaimFacts",
    "PriorClaim",
    "TitleBrand",
    "DamageReport",
    "InsuranceClaim",
    "OdometerRollback",
    "Referral",
    "SaleForCommission",
    "Commission",
)
_ROW = re.compile(r"^\| `(\w+)` \| `(.+?)` \| (required|`.+?`) \| .+ \|$")


def documented(name: str) -> list[tuple[str, str, str]]:
    """``(field, type, default)`` for each row of the table under "### `name`"."""
    text = DOC.read_text()
    section = text.split(f"\n### `{name}`\n", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            match = _ROW.match(line)
            assert match, f"a row of {name} that does not read field | type | default: {line}"
            field, kind, default = match.groups()
            rows.append((field, kind.replace("\\|", "|"), default.strip("`")))
    return rows


def declared(cls) -> list[tuple[str, str, str]]:
    if dataclasses.is_dataclass(cls):
        out = []
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                default = repr(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = repr(f.default_factory())
            else:
                default = "required"
            out.append((f.name, f.type, default))
        return out
    out = []
    for f in msgspec.structs.fields(cls):
        if f.default is not msgspec.NODEFAULT:
            default = repr(f.default)
        elif f.default_factory is not msgspec.NODEFAULT:
            default = repr(f.default_factory())
        else:
            default = "required"
        out.append((f.name, cls.__annotations__[f.name], default))
    return out


@pytest.mark.parametrize("name", CLASSES)
def test_the_reference_table_lists_every_field_as_declared(name):
    assert documented(name) == declared(getattr(interfaces, name))


def test_every_dataclass_a_plugin_meets_has_a_table():
    public = {
        name
        for name, obj in vars(interfaces).items()
        if isinstance(obj, type)
        and obj.__module__ == interfaces.__name__
        and (dataclasses.is_dataclass(obj) or issubclass(obj, msgspec.Struct))
    }
    assert public == set(CLASSES)
