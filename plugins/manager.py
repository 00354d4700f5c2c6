"""Building the plugin manager: built-ins, installed packages, minus what is disabled."""

from __future__ import annotations

import difflib
import importlib
import json
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
        self.sources: dict[str, Source] = {}  # entry-point name -> its distribution
        # Entry-point names two distributions declare (or a built-in's): none of them is
        # loaded, and the registry refuses to start (``conflicts``, one line each).
        self.duplicates: dict[str, list[Source]] = {}
        self.conflicts: list[str] = []

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

    def refuse_duplicate(self, name: str, sources: list[Source]) -> None:
        """Load none of the distributions declaring the entry-point name ``name``: which
        one the operator meant is unknowable, and whichever were loaded, the other's
        hooks would be dropped silently and credited to the wrong package."""
        self.duplicates[name] = sources
        declared = " and ".join(f"{s.distribution} {s.version}" for s in sources)
        if self.has_plugin(name):  # a built-in's module name
            problem = (
                f"entry point {name!r} (group {ENTRY_POINT_GROUP!r}) of {declared} has the "
                "name of a built-in plugin, so it is not loaded; rename the entry point, or "
                f"uninstall it (pip uninstall {sources[-1].distribution})"
            )
        else:
            problem = (
                f"entry point {name!r} (group {ENTRY_POINT_GROUP!r}) is declared by both "
                f"{declared}, so none of them is loaded; uninstall all but one (e.g. pip "
                f"uninstall {sources[-1].distribution}), or disable the name in config.json "
                f'to load none of them: "disabled_plugins": {json.dumps([name])}'
            )
        self.conflicts.append(problem)  # the registry stops the ledger with it

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
        for name, eps in _entry_points_by_name().items():
            if pm.is_blocked(name):
                continue
            if len(eps) > 1 or pm.has_plugin(name):
                pm.refuse_duplicate(name, [_source(ep) for ep in eps])
                continue
            pm.sources[name] = _source(eps[0])
            pm.load(name, eps[0].load)
    return pm


def _entry_points_by_name() -> dict[str, list]:
    """The installed entry points of the group by name, one per distribution.

    A name is how a plugin is disabled, listed and credited with what it registers, so
    two distributions declaring one name would make all three ambiguous.
    """
    by_name: dict[str, dict[object, object]] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = _source(ep).distribution
        # The same distribution seen twice is one plugin; two unnamed ones are two.
        key = dist if dist != "?" else id(ep)
        by_name.setdefault(ep.name, {}).setdefault(key, ep)
    return {name: list(eps.values()) for name, eps in by_name.items()}


def _source(ep) -> Source:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return Source("?", "?")
    return Source(dist.metadata["Name"] or "?", dist.version or "?")


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
class Source:
    """The installed distribution an entry point came from ("?" where unknown)."""

    distribution: str
    version: str


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool
    failed: str | None = None  # why it could not be loaded
    distribution: str | None = None  # an installed plugin's distribution, if known


def list_plugins(pm: VinledgerPluginManager) -> list[PluginInfo]:
    """What is loaded, and what failed to load, each with the distribution it came
    from and that distribution's version; an entry-point name two distributions
    declare is listed once for each, as failed."""
    loaded = {name: plugin for name, plugin in pm.list_name_plugin() if plugin is not None}
    out = []
    for name in sorted({*loaded, *pm.failed, *pm.duplicates}):
        for source in pm.duplicates.get(name, []):
            others = [s for s in pm.duplicates[name] if s is not source]
            also = " and ".join(f"{s.distribution} {s.version}" for s in others)
            why = f"{name!r} is also declared by {also}; none of them is loaded"
            out.append(PluginInfo(name, source.version, (), False, why, source.distribution))
        plugin = loaded.get(name)
        if plugin is None and name not in pm.failed:
            continue
        hooks = tuple(sorted(h.name for h in pm.get_hookcallers(plugin) or ())) if plugin else ()
        builtin = name in DEFAULT_PLUGINS
        source = Source("vinledger", _vinledger_version()) if builtin else None
        source = source or pm.sources.get(name, Source("?", "?"))
        dist = None if source.distribution == "?" else source.distribution
        out.append(PluginInfo(name, source.version, hooks, builtin, pm.failed.get(name), dist))
    return out


def _vinledger_version() -> str:
    try:
        return version("vinledger")
    except PackageNotFoundError:
        return "0+unknown"
