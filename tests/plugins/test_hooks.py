"""Each hook alone, with an inline plugin on a fresh manager; and a meta-test that every
hook is documented and tested."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pluggy
import pytest

from core.errors import InvalidRecord, PluginFailed
from plugins import hookspecs
from plugins.hookspecs import hookimpl
from plugins.interfaces import (
    Commission,
    CommissionRule,
    InspectionProvider,
    Policy,
    Referral,
    SaleForCommission,
    Terms,
)
from plugins.manager import DEFAULT_PLUGINS, create_plugin_manager, list_plugins
from plugins.registry import Registry
from tests.conftest import VIN

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(
    name
    for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(fn, "vinledger_spec")
)


def fresh(*plugins) -> Registry:
    """A manager with only the hookspecs and ``plugins``: no built-ins, no entry points."""
    pm = pluggy.PluginManager("vinledger")
    pm.add_hookspecs(hookspecs)
    for i, plugin in enumerate(plugins):
        pm.register(plugin, name=f"inline-{i}")
    return Registry(pm)


def test_every_hook_is_documented_and_tested():
    assert HOOKS == [
        "register_commission_rules",
        "register_inspection_providers",
        "register_policies",
    ]
    docs = (ROOT / "docs" / "plugins.md").read_text()
    tests = Path(__file__).read_text()
    for name in HOOKS:
        assert f"### {name}" in docs, f"docs/plugins.md has no section for {name}"
        assert f"def test_hook_{name}(" in tests, f"no test_hook_{name} in {__file__}"
        assert getattr(hookspecs, name).__doc__, f"{name} has no docstring"


class Upper(InspectionProvider):
    id = "upper"
    version = "3"
    payload_type = "application/vnd.upper+json"

    def normalise(self, payload: bytes) -> dict:
        report = json.loads(payload)
        if "VIN" not in report:
            raise InvalidRecord("VIN is missing", field="VIN")
        flags = dict.fromkeys(("accident", "flood", "fire", "structural", "airbag"), False)
        return {
            "kind": "inspection",
            "vin": report["VIN"],
            "occurred_at": report["AT"],
            "provider": "upper",
            "inspector": "U-1",
            "grade": "B",
            "items": [],
            "flags": flags,
        }


def test_hook_register_inspection_providers():
    class Plugin:
        @hookimpl
        def register_inspection_providers(self):
            return [Upper()]

    registry = fresh(Plugin())
    provider = registry.provider("application/vnd.upper+json")
    assert isinstance(provider, Upper) and registry.plugin_of(provider) == "inline-0"
    record = registry.call(
        provider, "normalise", b'{"VIN": "%s", "AT": "2026-01-01T00:00:00Z"}' % VIN.encode()
    )
    assert record["vin"] == VIN
    with pytest.raises(InvalidRecord, match="VIN is missing"):
        registry.call(provider, "normalise", b"{}")
    with pytest.raises(PluginFailed, match="inline-0") as err:  # any other error is a failure
        registry.call(provider, "normalise", b"not json")
    assert err.value.status == 500 and err.value.plugin == "inline-0"


def test_hook_register_policies():
    class Nothing(Policy):
        id = "nothing"
        version = "1"
        kind = "warranty"

        def terms(self, params, sale):
            return Terms(
                policy=self.id,
                version=self.version,
                kind=self.kind,
                starts=sale.sold_at.date().isoformat(),
                ends=None,
                km_limit=None,
                summary="Nothing at all.",
            )

        def decide(self, terms, claim):
            raise AssertionError("never called here")

    class Plugin:
        @hookimpl
        def register_policies(self):
            return [Nothing()]

    registry = fresh(Plugin())
    assert list(registry.policies) == ["nothing"]
    with pytest.raises(InvalidRecord, match="the policies are: nothing") as err:
        registry.policy("return-7d", field="$.policies[0].id")
    assert err.value.field == "$.policies[0].id"


def test_hook_register_commission_rules():
    class Ten(CommissionRule):
        id = "ten"
        version = "2"

        def validate(self, params):
            return {}

        def compute(self, referral, sale):
            from decimal import Decimal

            return [
                Commission(referral.referrer, Decimal("10.00"), "EUR", 1, self.id, self.version)
            ]

    class Plugin:
        @hookimpl
        def register_commission_rules(self):
            return [Ten()]

    registry = fresh(Plugin())
    rule = registry.rule("ten")
    referral = Referral("C1", "ref-1", None, "ten", {}, "1HG/2020", "US-CA")
    sale = SaleForCommission(7, VIN, "bay-auto", None, None)
    (paid,) = registry.call(rule, "compute", referral, sale)
    assert (paid.beneficiary, str(paid.amount), paid.rule, paid.version) == (
        "ref-1",
        "10.00",
        "ten",
        "2",
    )
    rule.admit(referral, [referral] * 50)  # the default admits everything
    with pytest.raises(InvalidRecord, match="the rules are: ten"):
        registry.rule("flat-fee")


def test_a_plugin_that_fails_to_register_is_left_out_and_reported():
    class Broken:
        @hookimpl
        def register_policies(self):
            raise ImportError("needs a library that is not installed")

    class Fine:
        @hookimpl
        def register_inspection_providers(self):
            return [Upper()]

    registry = fresh(Broken(), Fine())
    assert registry.policies == {} and "application/vnd.upper+json" in registry.providers
    assert "needs a library" in registry.failed["inline-0"]


def test_the_default_manager_loads_the_built_ins_and_can_block_them():
    pm = create_plugin_manager(load_entry_points=False)
    names = [info.name for info in list_plugins(pm)]
    assert names == sorted(DEFAULT_PLUGINS)
    assert all(info.builtin and info.version for info in list_plugins(pm))
    blocked = create_plugin_manager(["plugins.builtin.policies"], load_entry_points=False)
    assert "plugins.builtin.policies" not in [i.name for i in list_plugins(blocked)]
    assert Registry(blocked).policies == {}
