"""plugins/registry.py: a plugin registers all of its work or none of it, and a broken
one never stops the ledger."""

from __future__ import annotations

import pluggy
import pytest

from core.errors import Conflict
from plugins import hookspecs
from plugins.builtin.commissions import Flat
from plugins.builtin.policies import SevenDayReturn
from plugins.hookspecs import hookimpl
from plugins.registry import Registry
from tests.plugins.test_hooks import Upper


def fresh(*plugins) -> Registry:
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(hookspecs)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"inline-{i}")
    return Registry(pm)


class Fine:
    @hookimpl
    def register_commission_rules(self):
        return [Flat()]


def test_a_plugin_whose_later_hook_fails_keeps_nothing_of_its_earlier_ones():
    class HalfWorks:
        @hookimpl
        def register_inspection_providers(self):
            return [Upper()]

        @hookimpl
        def register_policies(self):
            raise ImportError("needs a library that is not installed")

    registry = fresh(HalfWorks(), Fine())
    assert registry.providers == {} and registry.policies == {}
    assert "register_policies" in registry.failed["inline-0"]
    assert "needs a library" in registry.failed["inline-0"]
    assert list(registry.rules) == ["flat"] and "inline-1" not in registry.failed


def test_a_plugin_whose_earlier_hook_fails_registers_nothing_either():
    class Breaks:
        @hookimpl
        def register_inspection_providers(self):
            raise RuntimeError("boom")

        @hookimpl
        def register_policies(self):
            return [SevenDayReturn()]

    registry = fresh(Breaks())
    assert registry.providers == {} and registry.policies == {}
    assert "RuntimeError: boom" in registry.failed["inline-0"]


def test_a_single_object_instead_of_a_list_fails_only_its_plugin():
    class Single:
        @hookimpl
        def register_policies(self):
            return SevenDayReturn()

        @hookimpl
        def register_inspection_providers(self):
            return [Upper()]

    registry = fresh(Single(), Fine())
    assert registry.policies == {} and registry.providers == {}
    assert "return a list of Policy" in registry.failed["inline-0"]
    assert list(registry.rules) == ["flat"]


def test_a_generator_that_raises_midway_fails_only_its_plugin():
    class Midway:
        @hookimpl
        def register_policies(self):
            yield SevenDayReturn()
            raise RuntimeError("ran out of policies")

    registry = fresh(Midway(), Fine())
    assert registry.policies == {}
    assert "ran out of policies" in registry.failed["inline-0"]
    assert list(registry.rules) == ["flat"]


def test_a_generator_that_completes_registers_like_a_list():
    class Gen:
        @hookimpl
        def register_policies(self):
            yield SevenDayReturn()

    registry = fresh(Gen())
    assert list(registry.policies) == ["return-7d"] and registry.failed == {}


@pytest.mark.parametrize(
    "returned, words",
    [
        (["return-7d"], "must be an instance of Policy"),
        ([Flat()], "must be an instance of Policy"),  # a rule from the policies hook
        ("return-7d", "return a list of Policy"),
        ({"return-7d": 1}, "return a list of Policy"),
        (7, "return a list of Policy"),
    ],
)
def test_what_is_not_a_list_of_the_interface_fails_its_plugin(returned, words):
    class Wrong:
        @hookimpl
        def register_policies(self):
            return returned

    registry = fresh(Wrong(), Fine())
    assert registry.policies == {} and words in registry.failed["inline-0"]
    assert list(registry.rules) == ["flat"]


def test_an_item_without_an_id_fails_its_plugin():
    class NoId(Flat):
        id = ""

    class Plugin:
        @hookimpl
        def register_commission_rules(self):
            return [NoId()]

    registry = fresh(Plugin())
    assert (
        registry.rules == {} and "NoId.id must be a non-empty string" in registry.failed["inline-0"]
    )


def test_a_plugin_registering_one_id_twice_registers_nothing():
    class Twice:
        @hookimpl
        def register_commission_rules(self):
            return [Flat(), Flat()]

        @hookimpl
        def register_policies(self):
            return [SevenDayReturn()]

    registry = fresh(Twice())
    assert registry.rules == {} and registry.policies == {}
    assert "'flat' twice" in registry.failed["inline-0"]


def test_two_plugins_registering_one_id_still_stop_the_ledger_naming_both():
    with pytest.raises(Conflict, match="'flat' is registered by both 'inline-0' and 'inline-1'"):
        fresh(Fine(), Fine())


def test_an_empty_list_registers_nothing_and_is_no_failure():
    class Nothing:
        @hookimpl
        def register_policies(self):
            return []

    registry = fresh(Nothing())
    assert registry.policies == {} and registry.failed == {}
