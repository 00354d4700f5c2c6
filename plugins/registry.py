"""What the loaded plugins registered, and calling into them safely.

The registry asks every plugin once, at start-up, for what it registers, and
remembers which plugin each provider, policy and rule came from. A plugin registers
all of it or nothing: if any of its hooks raises, or returns anything but a list of
its interface's instances, none of its work is registered and ``failed`` says why.
Each payload type, provider id, policy id and rule id is registered once: a plugin
registering one twice fails, and two plugins claiming one stop the ledger.

Every later call into plugin code goes through ``guard``: a ``VinledgerError`` the
plugin raises on purpose (a refusal that names the field) passes through unchanged
where the input is the submitter's (a report, a dealer's parameters, a referral);
anything else, and any exception from a hook that answers from the ledger's own facts
(``Policy.decide``), becomes ``PluginFailed`` naming the plugin, which the API answers
as a problem before anything is appended.

Every call is bounded in time (``call_timeout``, config.json's
``plugin_timeout_seconds``) and runs in a daemon thread of its plugin's own small
pool (``MAX_THREADS_PER_PLUGIN``), never in asyncio's default executor nor in the
thread that waits for it: past the timeout, ``PluginTimedOut`` (503) refuses what was
asked, nothing of it is appended, and whatever the thread returns later is dropped. A
plugin stuck on every input thus holds a few threads of its own, while reads,
``/readyz``, other plugins and shutdown go on (daemon threads are never joined).
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any, TypeVar

import pluggy

from core.errors import (
    Conflict,
    InvalidRecord,
    PluginFailed,
    PluginTimedOut,
    VinledgerError,
)
from plugins.interfaces import CommissionRule, InspectionProvider, Policy
from plugins.manager import create_plugin_manager

T = TypeVar("T")
log = logging.getLogger("vinledger.plugins")


# How long any plugin call is waited for, unless config.json says otherwise
# (``plugin_timeout_seconds``): inside the sequencer every write on the ledger waits
# with it, outside it the submission that needs the plugin does.
CALL_TIMEOUT_SECONDS = 5.0


def guard(
    plugin: str,
    call: Callable[..., T],
    *args: Any,
    timeout: float | None = None,
    refusal: str | None = None,
    failed: Callable[[str, str], VinledgerError] = PluginFailed,
    what: str | None = None,
) -> T:
    """``call(*args)``, with any exception but a refusal made a plugin failure.

    ``timeout``: seconds to wait (None: as long as it takes, in the caller's thread);
    the call runs in a daemon thread of the plugin's pool and is abandoned past that
    (``PluginTimedOut``). ``refusal``: for a hook that may not refuse, what it should
    do instead; a ``VinledgerError`` it raises is then a failure too. ``failed`` makes
    the failure (``PluginFailed``'s note); ``what`` names the call in messages
    (``"<id>.<method>"``).
    """
    try:
        return call(*args) if timeout is None else _within(timeout, plugin, call, *args)
    except _Abandoned:
        what = what or getattr(call, "__qualname__", "the call")
        log.error("plugin %s did not answer within %gs (%s); abandoned", plugin, timeout, what)
        raise PluginTimedOut(plugin, timeout, what) from None
    except _StillBusy as busy:
        what = what or getattr(call, "__qualname__", "the call")
        log.warning(
            "plugin %s not called (%s): %d earlier calls it did not answer still run",
            plugin,
            what,
            busy.running,
        )
        raise PluginTimedOut(plugin, timeout, what, busy=busy.running) from None
    except Exception as err:
        if isinstance(err, VinledgerError) and refusal is None:
            raise
        log.exception("plugin %s failed", plugin)
        why = f"{type(err).__name__}: {err}"
        if isinstance(err, VinledgerError):
            why += f" (it raised where it must answer: {refusal})"
        raise failed(plugin, why) from err


class PluginFault(PluginFailed):
    """A plugin failed (500 ``plugin-failed``): the detail says it is no fault of the
    submission's, and what the operator's remedy, disabling the plugin, also takes away.
    """

    def __init__(self, plugin: str, detail: str, registers: list[str] | tuple = ()):
        also = f" ({', '.join(registers)})" if registers else ""
        whose = (
            "" if "fault in" in detail else " This is a fault in the plugin, not in what was sent."
        )
        VinledgerError.__init__(
            self,
            f"plugin {plugin!r} failed: {detail}; nothing was appended.{whose} Tell the "
            "ledger's operator, who can "
            f'disable it (config.json: "disabled_plugins": {json.dumps([plugin])}, then '
            f"restart the ledger); that also withdraws everything it registers{also}: "
            "submissions that need any of it are then refused until it is enabled again",
        )
        self.plugin = plugin


class _Abandoned(Exception):
    """The call did not finish in time (or waited that long for a thread)."""


class _StillBusy(Exception):
    """Too many of the plugin's abandoned calls have not returned yet."""

    def __init__(self, running: int):
        super().__init__(running)
        self.running = running


class DaemonPool:
    """At most ``size`` daemon threads, started as work comes and kept, that run what
    ``submit`` hands them in order; work waits for a free thread beyond that.

    Unlike ``concurrent.futures.ThreadPoolExecutor`` (and asyncio's default executor
    built on it), nothing joins these threads when the process exits: a plugin stuck
    for ever keeps neither a worker of the server nor its shutdown waiting. A caller
    that stops waiting cancels its work if no thread has taken it yet.
    """

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size
        self._work: collections.deque = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._threads = 0
        self._idle = 0  # threads waiting for work

    def submit(self, fn: Callable[..., T], *args: Any) -> Future:
        future: Future = Future()
        with self._ready:
            self._work.append((future, fn, args))
            if self._idle < len(self._work) and self._threads < self.size:
                self._threads += 1
                threading.Thread(target=self._run, name=self.name, daemon=True).start()
            else:
                self._ready.notify()
        return future

    @property
    def busy(self) -> int:
        """Threads running work now (or about to)."""
        with self._ready:
            return self._threads - self._idle

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._work:
                    self._idle += 1
                    self._ready.wait()
                    self._idle -= 1
                future, fn, args = self._work.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # its caller stopped waiting before it started
            try:
                result = fn(*args)
            except Exception as err:  # handed to the caller, if it still waits
                future.set_exception(err)
            except BaseException as err:  # SystemExit, KeyboardInterrupt from plugin code
                # (argparse.error, sys.exit): a failure of that call like any other, never
                # an exit that fails every submission batched with it.
                failure = RuntimeError(f"raised {type(err).__name__}: {err}")
                failure.__cause__ = err  # its traceback, for the operator's log
                future.set_exception(failure)
            else:
                future.set_result(result)
            del future, fn, args  # nothing of a finished call stays referenced


# Each plugin's calls run in a pool of its own, of at most ``MAX_THREADS_PER_PLUGIN``
# threads: a plugin stuck on every input holds those and no more, and the others'
# calls never wait behind it. Up to ``MAX_ABANDONED`` abandoned calls still running,
# a plugin is called as usual (one input that hangs it does not stop its other claims
# and sales); past that it is refused at once without a wait, so a plugin that hangs
# on everything stops holding the sequencer and the submissions that need it.
MAX_THREADS_PER_PLUGIN = 8
MAX_ABANDONED = 4
_pools: dict[str, DaemonPool] = {}
_abandoned: dict[str, list[Future]] = {}
_abandoned_lock = threading.Lock()


def _pool(plugin: str) -> DaemonPool:
    with _abandoned_lock:
        pool = _pools.get(plugin)
        if pool is None:
            pool = _pools[plugin] = DaemonPool(f"vinledger-plugin-{plugin}", MAX_THREADS_PER_PLUGIN)
        return pool


def _within(seconds: float, plugin: str, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in the plugin's pool, waited for ``seconds`` at most (its wait
    for a free thread included).

    Nothing the call does after that reaches the caller: its result lands in a future
    no one reads any more (a call still queued is cancelled and never runs).
    """
    with _abandoned_lock:
        running = [f for f in _abandoned.get(plugin, ()) if not f.done()]
        _abandoned[plugin] = running
        if len(running) >= MAX_ABANDONED:
            raise _StillBusy(len(running))
    future = _pool(plugin).submit(call, *args)
    try:
        return future.result(seconds)
    except TimeoutError:
        if future.done():  # the plugin's own TimeoutError (its failure), or just in time
            return future.result()
    if not future.cancel():  # it runs: count it until it returns
        with _abandoned_lock:
            _abandoned.setdefault(plugin, []).append(future)
    raise _Abandoned


# What each registration hook hands back, and the table it fills.
_HOOKS = (
    ("register_inspection_providers", InspectionProvider, "providers"),
    ("register_policies", Policy, "policies"),
    ("register_commission_rules", CommissionRule, "rules"),
)
# What no two items of a table may share (the first is the table's key), as messages
# name it. A provider's id is unique as well as its payload type: "<id>/<version>" is
# the provenance every inspection it normalised keeps in ``derived.provider``.
_UNIQUE = {
    "providers": (("payload_type", "payload type"), ("id", "provider id")),
    "policies": (("id", "policy id"),),
    "rules": (("id", "commission rule id"),),
}


class Registry:
    def __init__(
        self,
        pm: pluggy.PluginManager | None = None,
        *,
        strict: bool = True,
        call_timeout: float = CALL_TIMEOUT_SECONDS,
        time_zone: str = "UTC",
    ):
        """Ask every plugin of ``pm`` for what it registers.

        Two plugins claiming one payload type or id, or two installed distributions
        declaring one entry-point name, stop the ledger: ``Conflict`` names both.
        With ``strict=False`` (for ``vinledger plugins``, which shows everything
        before it fails) the later claim is left out and the message kept in
        ``conflicts``. ``call_timeout``: seconds a call inside the sequencer is
        waited for (``call_in_sequencer``). ``time_zone``: where the ledger counts
        calendar days, handed to policies with each sale (``SaleFacts.time_zone``).
        """
        self.pm = pm or create_plugin_manager()
        self.call_timeout = call_timeout
        self.time_zone = time_zone
        self.providers: dict[str, InspectionProvider] = {}  # by payload type
        self.policies: dict[str, Policy] = {}
        self.rules: dict[str, CommissionRule] = {}
        self.owner: dict[int, str] = {}  # id(object) -> plugin name
        self.failed: dict[str, str] = {}  # plugin name -> why it registered nothing
        self.registered: dict[str, list[tuple[str, Any]]] = {}  # plugin -> (table, item)
        # An entry-point name two distributions declare is refused as an id is.
        self.conflicts: list[str] = list(getattr(self.pm, "conflicts", ()))
        claimed: dict[tuple[str, str], str] = {}  # (what, value) -> plugin name
        for plugin, impls in self._impls_by_plugin().items():
            found = self._ask(plugin, impls)
            if found is None:  # all of it, or nothing of it
                continue
            self.registered[plugin] = found
            for table, item in found:
                self._add(table, item, plugin, claimed)
        if strict and self.conflicts:
            raise Conflict("; ".join(self.conflicts))

    def _impls_by_plugin(self) -> dict[str, list[tuple[str, Any]]]:
        impls: dict[str, list[tuple[str, Any]]] = {}
        for hook, *_ in _HOOKS:
            for impl in getattr(self.pm.hook, hook).get_hookimpls():
                impls.setdefault(impl.plugin_name, []).append((hook, impl))
        return impls

    def _ask(self, plugin: str, impls: list[tuple[str, Any]]) -> list[tuple[str, Any]] | None:
        """Everything ``plugin`` registers, or None (recorded in ``failed``) if any of
        its hooks fails: one broken plugin registers nothing and leaves the others."""
        found: list[tuple[str, Any]] = []
        for hook, impl in impls:
            try:
                found += _registered(hook, impl)
            except Exception as err:
                log.exception("plugin %s failed in %s; it registers nothing", plugin, hook)
                self.failed[plugin] = f"{hook}: {type(err).__name__}: {err}"
                return None
        claims = [claim for table, item in found for claim in _claims(table, item)]
        twice = next((c for n, c in enumerate(claims) if c in claims[:n]), None)
        if twice is not None:
            log.error("plugin %s registers %s %r twice; it registers nothing", plugin, *twice)
            self.failed[plugin] = f"registers {twice[0]} {twice[1]!r} twice"
            return None
        return found

    def _add(self, table: str, item: Any, plugin: str, claimed: dict[tuple[str, str], str]) -> None:
        claims = _claims(table, item)
        taken = [(what, value) for what, value in claims if (what, value) in claimed]
        for what, value in taken:
            self.conflicts.append(
                f"{what} {value!r} is registered by both {claimed[what, value]!r} and "
                f"{plugin!r}; disable one of them in config.json by the name `vinledger "
                f'plugins` lists, e.g. "disabled_plugins": {json.dumps([plugin])}'
            )
        if taken:
            return
        for claim in claims:
            claimed[claim] = plugin
        getattr(self, table)[claims[0][1]] = item
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

    def rule(self, rule_id: str, referral_code: str | None = None) -> CommissionRule:
        """The rule a new referral names (refused at its ``rule``), or the rule of
        ``referral_code`` that a sale names (refused at the sale's referral code: its
        rule's plugin may have been disabled or removed since the referral was made)."""
        try:
            return self.rules[rule_id]
        except KeyError:
            known = ", ".join(sorted(self.rules)) or "none"
            if referral_code is None:
                raise InvalidRecord(
                    f"no commission rule {rule_id!r} is installed; the rules are: {known}",
                    field="rule",
                ) from None
            raise InvalidRecord(
                f"referral code {referral_code!r} uses the commission rule {rule_id!r}, "
                f"which is not installed on this ledger (the rules are: {known}); leave "
                "referral_code out, or ask the referrer for a code with an installed rule",
                field="$.referral_code",
            ) from None

    def call(self, item: Any, method: str, *args: Any, **options: Any) -> Any:
        """``item.method(*args)`` through ``guard`` (and its ``options``), naming
        ``item``'s plugin: in the plugin's pool, waited for ``call_timeout`` seconds at
        most, whichever hook it is; a failure is ``failure``'s unless ``failed`` says."""
        plugin = self.plugin_of(item)
        options.setdefault("timeout", self.call_timeout)
        options.setdefault("failed", self.failure)
        return guard(plugin, getattr(item, method), *args, what=f"{item.id}.{method}", **options)

    # Kept for the callers that say where they call from: every call is bounded now.
    call_in_sequencer = call

    def failure(self, plugin: str, detail: str) -> PluginFailed:
        """The 500 ``plugin-failed`` for a fault of ``plugin``, telling the submitter
        whose fault it is and what disabling the plugin would also take away."""
        names = {"providers": "provider", "policies": "policy", "rules": "commission rule"}
        items = [f"{names[t]} {item.id!r}" for t, item in self.registered.get(plugin, ())]
        return PluginFault(plugin, detail, items)


def _registered(hook: str, impl: Any) -> list[tuple[str, Any]]:
    """``(table, item)`` for everything one hook of one plugin registers.

    Read to the end here, so that a hook that returns something other than a list of
    its interface's instances (``None`` too: a plugin that registers nothing returns
    ``[]``), or a generator that raises midway, fails its plugin at start-up rather
    than later.
    """
    _, interface, table = next(h for h in _HOOKS if h[0] == hook)
    returned = impl.function()
    if not isinstance(returned, Iterable) or isinstance(returned, str | bytes | dict):
        raise TypeError(
            f"{hook} returned {type(returned).__name__}; return a list of "
            f"{interface.__name__} ([] to register none)"
        )
    out = []
    for item in returned:
        if not isinstance(item, interface):
            raise TypeError(
                f"{hook} returned {type(item).__name__} in its list; every item must be "
                f"an instance of {interface.__name__}"
            )
        for attr in dict.fromkeys((*(a for a, _ in _UNIQUE[table]), "id", "version")):
            value = getattr(item, attr, None)
            if not isinstance(value, str) or not value:
                raise TypeError(f"{type(item).__name__}.{attr} must be a non-empty string")
        out.append((table, item))
    return out


def _claims(table: str, item: Any) -> list[tuple[str, str]]:
    """``(what, value)`` for each thing ``item`` claims that no other item may."""
    return [(what, getattr(item, attr)) for attr, what in _UNIQUE[table]]
