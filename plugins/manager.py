"""Building the plugin manager: built-ins, installed packages, minus what is disabled."""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Callable, Iterable
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


class VinledgerPluginManager(pluggy.PluginManager):
    """pluggy's manager with vinledger's hook specifications, which loads a plugin
    whole or not at all and remembers in ``failed`` why it left one out."""

    def __init__(self) -> None:
        super().__init__(ENTRY_POINT_GROUP)
        self.add_hookspecs(hookspecs)
        self.failed: dict[str, str] = {}  # plugin name -> why it was left out

    def load(self, name: str, load: Callable[[], object]) -> None:
        """Register ``load()`` as ``name``, or leave it out if it fails to import, a
        hook's signature does not match its specification, or it implements a hook
        vinledger does not have (a misspelling would otherwise do nothing, silently).
        """
        plugin = None
        try:
            plugin = load()
            self.register(plugin, name=name)
            unknown = self._unknown_hooks(plugin)
            if unknown:
                raise pluggy.PluginValidationError(
                    plugin,
                    f"unknown hook {', '.join(map(repr, unknown))}; the hooks are: "
                    + ", ".join(self.hook_names()),
                )
        except Exception as err:  # a broken package must not take the ledger down
            # pluggy registers a plugin hook by hook, so one that fails validation
            # halfway is partly registered: take out what it left behind.
            if plugin is not None and self.get_plugin(name) is plugin:
                self.unregister(plugin, name)
            self.failed[name] = "; ".join(f"{type(err).__name__}: {err}".splitlines())
            log.exception("plugin %s could not be loaded; left out", name)

    def hook_names(self) -> list[str]:
        return sorted(n for n, caller in vars(self.hook).items() if caller.has_spec())

    def _unknown_hooks(self, plugin: object) -> list[str]:
        return sorted(
            caller.name
            for caller in self.get_hookcallers(plugin) or ()
            if not caller.has_spec()
            and any(i.plugin is plugin and not i.optionalhook for i in caller.get_hookimpls())
        )


def create_plugin_manager(
    disabled: tuple[str, ...] | list[str] = (), *, load_entry_points: bool = True
) -> VinledgerPluginManager:
    """A fresh manager with the built-ins and installed plugins, minus ``disabled``.

    A plugin is named by its built-in module name (``plugins.builtin.policies``) or
    its entry-point name. A plugin that fails to load is logged, recorded in
    ``failed`` and left out rather than stopping the ledger; a disabled name that no
    installed plugin has is logged as a warning.
    """
    pm = VinledgerPluginManager()
    for warning in unknown_disabled(disabled):
        log.warning("%s", warning)
    for name in disabled:
        pm.set_blocked(name)
    for module_name in DEFAULT_PLUGINS:
        if not pm.is_blocked(module_name):
            pm.load(module_name, lambda m=module_name: importlib.import_module(m))
            if module_name in pm.failed:  # vinledger's own: a broken install, not a plugin
                raise RuntimeError(
                    f"built-in plugin {module_name} failed to load: {pm.failed[module_name]}; "
                    "reinstall vinledger"
                )
    if load_entry_points:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if pm.is_blocked(ep.name) or pm.has_plugin(ep.name) or ep.name in pm.failed:
                continue
            pm.load(ep.name, ep.load)
    return pm


def installed_plugin_names() -> list[str]:
    """Every name a plugin can be disabled by: built-ins and installed entry points."""
    installed = (ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted({*DEFAULT_PLUGINS, *installed})


def unknown_disabled(disabled: Iterable[str]) -> list[str]:
    """A warning for each name in ``disabled`` that no installed plugin has: a typo in
    ``disabled_plugins`` disables nothing, and the plugin meant stays loaded."""
    names = installed_plugin_names()
    warnings = []
    for name in disabled:
        if name in names:
            continue
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        warnings.append(
            f"config.json disables {name!r}, but no installed plugin has that name, so it "
            f"disables nothing; {hint}the plugins are: {', '.join(names)}"
        )
    return warnings


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool
    failed: str | None = None  # why it could not be loaded


def list_plugins(pm: VinledgerPluginManager) -> list[PluginInfo]:
    """What is loaded, and what failed to load, with the distribution version each
    plugin came from."""
    dists = {name: dist.metadata["Version"] for name, dist in _entry_point_dists()}
    loaded = {name: plugin for name, plugin in pm.list_name_plugin() if plugin is not None}
    out = []
    for name in sorted({*loaded, *pm.failed}):
        plugin = loaded.get(name)
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ())) if plugin else ()
        builtin = name in DEFAULT_PLUGINS
        release = _vinledger_version() if builtin else dists.get(name, "?")
        out.append(PluginInfo(name, release, hooks, builtin, pm.failed.get(name)))
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
