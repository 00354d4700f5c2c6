"""What the loaded plugins registered, and calling into them safely.

The registry asks every plugin once, at start-up, for what it registers, and
remembers which plugin each provider, policy and rule came from. A plugin registers
all of it or nothing: if any of its hooks raises, or returns anything but a list of
its interface's instances, none of its work is registered and ``failed`` says why. Every later call
into plugin code goes through ``guard``: a ``VinledgerError`` the plugin raises on
purpose (a refusal that names the field) passes through unchanged; anything else
becomes ``PluginFailed`` naming the plugin, which the API answers as a problem
before anything is appended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
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


# What each registration hook hands back, and the attribute each registers it by.
_HOOKS = (
    ("register_inspection_providers", InspectionProvider, "providers", "payload_type"),
    ("register_policies", Policy, "policies", "id"),
    ("register_commission_rules", CommissionRule, "rules", "id"),
)
_WHAT = {"providers": "payload type", "policies": "policy id", "rules": "commission rule id"}


class Registry:
    def __init__(self, pm: pluggy.PluginManager | None = None):
        self.pm = pm or create_plugin_manager()
        self.providers: dict[str, InspectionProvider] = {}  # by payload type
        self.policies: dict[str, Policy] = {}
        self.rules: dict[str, CommissionRule] = {}
        self.owner: dict[int, str] = {}  # id(object) -> plugin name
        self.failed: dict[str, str] = {}  # plugin name -> why it registered nothing
        for plugin, impls in self._impls_by_plugin().items():
            found = self._ask(plugin, impls)
            for table, key, item in found or ():  # all of it, or nothing of it
                self._add(getattr(self, table), key, item, plugin, _WHAT[table])

    def _impls_by_plugin(self) -> dict[str, list[tuple[str, Any]]]:
        impls: dict[str, list[tuple[str, Any]]] = {}
        for hook, *_ in _HOOKS:
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                impls.setdefault(impl.plugin_name, []).append((hook, impl))
        return impls

    def _ask(self, plugin: str, impls: list[tuple[str, Any]]) -> list[tuple[str, str, Any]] | None:
        """Everything ``plugin`` registers, or None (recorded in ``failed``) if any of
        its hooks fails: one broken plugin registers nothing and leaves the others."""
        found: list[tuple[str, str, Any]] = []
        for hook, impl in impls:
            try:
                found += _registered(hook, impl)
            except Exception as err:
                log.exception("plugin %s failed in %s; it registers nothing", plugin, hook)
                self.failed[plugin] = f"{hook}: {type(err).__name__}: {err}"
                return None
        keys = [(table, key) for table, key, _ in found]
        twice = next((k for n, k in enumerate(keys) if k in keys[:n]), None)
        if twice is not None:
            log.error("plugin %s registers %s %r twice; it registers nothing", plugin, *twice)
            self.failed[plugin] = f"registers {_WHAT[twice[0]]} {twice[1]!r} twice"
            return None
        return found

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


def _registered(hook: str, impl: Any) -> list[tuple[str, str, Any]]:
    """``(table, key, item)`` for everything one hook of one plugin registers.

    Read to the end here, so that a hook that returns something other than a list of
    its interface's instances, or a generator that raises midway, fails its plugin
    at start-up rather than later.
    """
    _, interface, table, key = next(h for h in _HOOKS if h[0] == hook)
    returned = impl.function()
    if returned is None:
        return []
    if not isinstance(returned, Iterable) or isinstance(returned, str | bytes | dict):
        raise TypeError(
            f"{hook} returned {type(returned).__name__}; return a list of {interface.__name__}"
        )
    out = []
    for item in returned:
        if not isinstance(item, interface):
            raise TypeError(
                f"{hook} returned {type(item).__name__} in its list; every item must be "
                f"an instance of {interface.__name__}"
            )
        for attr in dict.fromkeys((key, "id", "version")):
            value = getattr(item, attr, None)
            if not isinstance(value, str) or not value:
                raise TypeError(f"{type(item).__name__}.{attr} must be a non-empty string")
        out.append((table, getattr(item, key), item))
    return out
