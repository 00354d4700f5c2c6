"""What the loaded plugins registered, and calling into them safely.

The registry asks every plugin once, at start-up, for what it registers, and
remembers which plugin each provider, policy and rule came from. Every later call
into plugin code goes through ``guard``: a ``VinledgerError`` the plugin raises on
purpose (a refusal that names the field) passes through unchanged; anything else
becomes ``PluginFailed`` naming the plugin, which the API answers as a problem
before anything is appended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import pluggy

from core.errors import InvalidRecord, PluginFailed, VinledgerError
from plugins.interfaces import CommissionRule, InspectionProvider, Policy
from plugins.manager import create_plugin_manager

T = TypeVar("T")
log = logging.getLogger("vinledger.plugins")


def guard(plugin: str, call: Callable[..., T], *args: Any) -> T:
    try:
        return call(*args)
    except VinledgerError:
        raise
    except Exception as err:
        log.exception("plugin %s failed", plugin)
        raise PluginFailed(plugin, f"{type(err).__name__}: {err}") from err


class Registry:
    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm or create_plugin_manager()
        self.providers: dict[str, InspectionProvider] = {}  # by payload type
        self.policies: dict[str, Policy] = {}
        self.rules: dict[str, CommissionRule] = {}
        self.owner: dict[int, str] = {}  # id(object) -> plugin name
        self.failed: dict[str, str] = {}  # plugin name -> why it registered nothing
        for item, plugin in self._collect("register_inspection_providers"):
            self._add(self.providers, item.payload_type, item, plugin, "payload type")
        for item, plugin in self._collect("register_policies"):
            self._add(self.policies, item.id, item, plugin, "policy id")
        for item, plugin in self._collect("register_commission_rules"):
            self._add(self.rules, item.id, item, plugin, "commission rule id")

    def _collect(self, hook: str):
        for impl in getattr(self.pm.hook, hook).get_hookimpls():
            try:
                items = impl.function() or []
            except Exception as err:  # one broken plugin leaves the others working
                log.exception("plugin %s failed in %s; left out", impl.plugin_name, hook)
                self.failed[impl.plugin_name] = f"{hook}: {type(err).__name__}: {err}"
                continue
            for item in items:
                yield item, impl.plugin_name

    def _add(self, table: dict, key: str, item: Any, plugin: str, what: str) -> None:
        if key in table:
            other = self.plugin_of(table[key])
            raise RuntimeError(
                f"{what} {key!r} is registered by both {other!r} and {plugin!r}; "
                "disable one of them in config.json"
            )
        table[key] = item
        self.owner[id(item)] = plugin

    def plugin_of(self, item: Any) -> str:
        return self.owner.get(id(item), "?")

    # ---- lookups, with errors that say what exists --------------------------------

    def provider(self, payload_type: str) -> InspectionProvider | None:
        return self.providers.get(payload_type)

    def policy(self, policy_id: str, field: str = "id") -> Policy:
        try:
            return self.policies[policy_id]
        except KeyError:
            known = ", ".join(sorted(self.policies)) or "none"
            raise InvalidRecord(
                f"no policy {policy_id!r} is installed on this ledger; the policies are: {known}",
                field=field,
            ) from None

    def rule(self, rule_id: str) -> CommissionRule:
        try:
            return self.rules[rule_id]
        except KeyError:
            known = ", ".join(sorted(self.rules)) or "none"
            raise InvalidRecord(
                f"no commission rule {rule_id!r} is installed; the rules are: {known}",
                field="rule",
            ) from None

    def call(self, item: Any, method: str, *args: Any) -> Any:
        """``item.method(*args)`` through ``guard``, naming ``item``'s plugin."""
        return guard(self.plugin_of(item), getattr(item, method), *args)
