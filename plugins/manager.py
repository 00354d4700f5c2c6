"""Building the plugin manager: built-ins, installed packages, minus what is disabled."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, entry_points, version

import pluggy

from plugins import hookspecs

ENTRY_POINT_GROUP = "vinledger"

# Built-in behaviour ships as plugins, registered exactly as a third party's would be.
DEFAULT_PLUGINS = (
    "plugins.builtin.native_inspection",
    "plugins.builtin.checklist_inspection",
    "plugins.builtin.policies",
    "plugins.builtin.commissions",
)

log = logging.getLogger("vinledger.plugins")


def create_plugin_manager(
    disabled: tuple[str, ...] | list[str] = (), *, load_entry_points: bool = True
) -> pluggy.PluginManager:
    """A fresh manager with the built-ins and installed plugins, minus ``disabled``.

    A plugin is named by its built-in module name (``plugins.builtin.policies``) or
    its entry-point name. An installed plugin that fails to import is logged and
    left out rather than stopping the ledger.
    """
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    for name in disabled:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.register(importlib.import_module(module_name), name=module_name)
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if pm.is_blocked(ep.name) or pm.get_plugin(ep.name) is not None:
                continue
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception:  # a broken package must not take the ledger down
                log.exception("plugin %s (%s) could not be loaded; left out", ep.name, ep.value)
    return pm


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool


def list_plugins(pm: pluggy.PluginManager) -> list[PluginInfo]:
    """What is loaded, with the distribution version each plugin came from."""
    dists = {name: dist.metadata["Version"] for name, dist in _entry_point_dists()}
    out = []
    for name, plugin in sorted(pm.list_name_plugin()):
        if plugin is None:  # blocked
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ()))
        builtin = name in DEFAULT_PLUGINS
        out.append(
            PluginInfo(
                name, _vinledger_version() if builtin else dists.get(name, "?"), hooks, builtin
            )
        )
    return out


def _entry_point_dists():
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            yield ep.name, ep.dist


def _vinledger_version() -> str:
    try:
        return version("vinledger")
    except PackageNotFoundError:
        return "0+unknown"
