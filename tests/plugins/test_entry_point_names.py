"""plugins/manager.py: an entry-point name belongs to one installed distribution.

Two distributions declaring the same name in the ``vinledger`` group would have one
of them dropped silently and the other credited with its version; instead neither is
loaded and the ledger refuses to start, as it does for a policy id claimed twice,
with one line naming both distributions and how to resolve it.
"""

from __future__ import annotations

import json
from importlib.metadata import Distribution, EntryPoint

import pytest
from click.testing import CliRunner

from api.cli import main
from api.config import create_data_dir
from core.errors import Conflict
from ledger.storage import Store
from plugins import manager
from plugins.builtin.commissions import Flat
from plugins.hookspecs import hookimpl
from plugins.manager import create_plugin_manager, list_plugins
from plugins.registry import Registry


class FirstBonus(Flat):
    id = "ua-first-bonus"


class SecondBonus(Flat):
    id = "ua-second-bonus"


class First:
    @hookimpl
    def register_commission_rules(self):
        return [FirstBonus()]


class Second:
    @hookimpl
    def register_commission_rules(self):
        return [SecondBonus()]


FIRST, SECOND = First(), Second()  # what the entry points below load


class FakeDistribution(Distribution):
    """An installed distribution with only its metadata: a name and a version."""

    def __init__(self, name: str, version: str):
        self._metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"

    def read_text(self, filename):
        return self._metadata if filename == "METADATA" else None

    def locate_file(self, path):
        return path


def entry_point(name: str, target: str, dist: str, version: str) -> EntryPoint:
    ep = EntryPoint(name, f"{__name__}:{target}", manager.ENTRY_POINT_GROUP)
    return ep._for(FakeDistribution(dist, version))


def install(monkeypatch, *eps: EntryPoint) -> None:
    monkeypatch.setattr(manager, "entry_points", lambda group: list(eps))


TWO_ACMES = (
    entry_point("acme", "FIRST", "acme-tools", "1.2.0"),
    entry_point("acme", "SECOND", "acme-extras", "0.3.1"),
)


@pytest.fixture
def data(tmp_path):
    d = tmp_path / "d"
    settings = create_data_dir(d, origin="test.vinledger.localhost/log", database_url=None)
    Store(settings.database_url).create_schema()  # the database it names, still empty
    return d


def vinledger(*args: str):
    return CliRunner().invoke(main, list(args))


def assert_names_both_and_the_way_out(line: str) -> None:
    assert "entry point 'acme'" in line
    assert "acme-tools 1.2.0" in line and "acme-extras 0.3.1" in line
    assert "uninstall" in line and '"disabled_plugins": ["acme"]' in line


def test_two_distributions_declaring_one_name_stop_the_ledger_naming_both(monkeypatch):
    install(monkeypatch, *TWO_ACMES)
    pm = create_plugin_manager()
    assert pm.get_plugin("acme") is None  # neither: which one was meant is unknowable
    with pytest.raises(Conflict) as err:
        Registry(pm)
    assert_names_both_and_the_way_out(str(err.value))


def test_disabling_the_name_loads_neither_and_the_ledger_starts(monkeypatch):
    install(monkeypatch, *TWO_ACMES)
    registry = Registry(create_plugin_manager(["acme"]))
    assert registry.conflicts == []
    assert not {"ua-first-bonus", "ua-second-bonus"} & set(registry.rules)


def test_serve_refuses_with_one_line(monkeypatch, data):
    install(monkeypatch, *TWO_ACMES)
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: pytest.fail("served anyway"))
    result = vinledger("serve", "--data", str(data))
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("error: ")
    assert_names_both_and_the_way_out(line)


def test_audit_refuses_with_one_line(monkeypatch, data):
    install(monkeypatch, *TWO_ACMES)
    result = vinledger("audit", "--data", str(data))
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = result.output.strip().splitlines()
    assert_names_both_and_the_way_out(line)


def test_plugins_lists_each_distribution_with_its_own_version_and_exits_1(monkeypatch, data):
    install(monkeypatch, *TWO_ACMES)
    result = vinledger("plugins", "--data", str(data))
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = result.output
    also = "\n    FAILED: 'acme' is also declared by"
    assert f"acme 1.2.0 (installed from acme-tools){also} acme-extras 0.3.1" in out
    assert f"acme 0.3.1 (installed from acme-extras){also} acme-tools 1.2.0" in out
    (error,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert_names_both_and_the_way_out(error)


def test_each_plugin_is_credited_its_own_distribution_and_version(monkeypatch):
    install(
        monkeypatch,
        entry_point("acme", "FIRST", "acme-tools", "1.2.0"),
        entry_point("zenith", "SECOND", "zenith-plugins", "4.0.0"),
    )
    infos = {i.name: i for i in list_plugins(create_plugin_manager())}
    assert (infos["acme"].distribution, infos["acme"].version) == ("acme-tools", "1.2.0")
    assert (infos["zenith"].distribution, infos["zenith"].version) == ("zenith-plugins", "4.0.0")
    assert infos["plugins.builtin.policies"].distribution == "vinledger"


def test_one_distribution_seen_twice_is_one_plugin(monkeypatch):
    """importlib.metadata can list a distribution twice (two paths to one install)."""
    install(monkeypatch, TWO_ACMES[0], entry_point("acme", "FIRST", "acme-tools", "1.2.0"))
    registry = Registry(create_plugin_manager())
    assert "ua-first-bonus" in registry.rules and registry.conflicts == []


def test_an_entry_point_named_as_a_built_in_is_refused(monkeypatch):
    install(monkeypatch, entry_point("plugins.builtin.policies", "FIRST", "acme-tools", "1.2.0"))
    with pytest.raises(Conflict, match="has the name of a built-in plugin"):
        Registry(create_plugin_manager())


def test_the_refusal_is_kept_for_vinledger_plugins_not_raised(monkeypatch):
    install(monkeypatch, *TWO_ACMES)
    registry = Registry(create_plugin_manager(), strict=False)
    (conflict,) = registry.conflicts
    assert_names_both_and_the_way_out(conflict)
    assert json.dumps(["acme"]) in conflict
