"""plugins/manager.py and plugins/registry.py as a third-party plugin author meets them:
a plugin that cannot be loaded is left out whole and shown as FAILED, ids are never
claimed twice, and ``vinledger plugins`` says what is wrong instead of crashing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import pytest
from click.testing import CliRunner
from litestar.testing import TestClient

from api.app import create_app
from api.cli import main
from api.config import create_data_dir
from api.service import Ledger
from core.errors import Conflict, InvalidRecord
from ledger.storage import Store
from plugins import manager
from plugins.builtin.commissions import Flat
from plugins.builtin.policies import SevenDayReturn
from plugins.hookspecs import hookimpl
from plugins.manager import VinledgerPluginManager, create_plugin_manager, list_plugins
from plugins.registry import Registry
from tests.conftest import VIN, onboard
from tests.plugins.test_hooks import Upper
from tests.plugins.test_referrals_sales import refer, referrer, sell

HOOKS = "register_commission_rules, register_inspection_providers, register_policies"


class Bonus(Flat):
    id = "ua-bonus"


class WrongSignature:
    """A valid rule hook beside a policy hook that takes an argument its spec lacks."""

    @hookimpl
    def register_commission_rules(self):
        return [Bonus()]

    @hookimpl
    def register_policies(self, config):
        return [SevenDayReturn()]


class Misspelled:
    @hookimpl
    def register_commission_rules(self):
        return [Bonus()]

    @hookimpl
    def register_policy(self):
        return [SevenDayReturn()]


class ClaimsReturn7d:
    @hookimpl
    def register_policies(self):
        return [SevenDayReturn()]


@dataclass
class FakeEntryPoint:
    """An installed package's entry point: ``load`` returns ``plugin`` or raises it."""

    name: str
    plugin: object
    value: str = "uatest_plugin"
    dist: None = None

    def load(self):
        if isinstance(self.plugin, Exception):
            raise self.plugin
        return self.plugin


def install(monkeypatch, **plugins) -> None:
    """Make ``plugins`` (entry-point name -> plugin, or the error its import raises)
    the only installed packages, as ``importlib.metadata`` would list them."""
    eps = [FakeEntryPoint(name, plugin) for name, plugin in plugins.items()]
    monkeypatch.setattr(manager, "entry_points", lambda group: eps)


def loaded(*plugins) -> VinledgerPluginManager:
    """A manager with no built-ins and no entry points, loading ``plugins`` as a
    package's entry points are loaded."""
    pm = VinledgerPluginManager()
    for i, plugin in enumerate(plugins):
        pm.load(f"inline-{i}", lambda p=plugin: p)
    return pm


@pytest.fixture
def data(tmp_path):
    """A data directory whose ``config.json`` the tests edit."""
    d = tmp_path / "d"
    settings = create_data_dir(d, origin="test.vinledger.localhost/log", database_url=None)
    Store(settings.database_url).create_schema()  # the database it names, still empty
    return d


def disable(data, *names: str) -> None:
    config = json.loads((data / "config.json").read_text())
    config["disabled_plugins"] = list(names)
    (data / "config.json").write_text(json.dumps(config))


def vinledger(*args: str):
    return CliRunner().invoke(main, list(args))


# ---- 3: a plugin that fails to load is left out whole ------------------------------------


def test_a_hook_with_the_wrong_signature_leaves_out_the_whole_plugin():
    pm = loaded(WrongSignature())
    assert pm.get_plugin("inline-0") is None
    assert pm.hook.register_commission_rules.get_hookimpls() == []
    assert "config" in pm.failed["inline-0"] and "\n" not in pm.failed["inline-0"]
    assert Registry(pm).rules == {}


def test_an_installed_plugin_that_fails_validation_registers_no_rule(monkeypatch):
    install(monkeypatch, uatest=WrongSignature())
    pm = create_plugin_manager()
    assert "ua-bonus" not in Registry(pm).rules
    (info,) = [i for i in list_plugins(pm) if i.name == "uatest"]
    assert info.failed and "register_policies" in info.failed and info.hooks == ()


def test_plugins_shows_a_plugin_that_fails_validation_as_failed(monkeypatch, data):
    install(monkeypatch, uatest=WrongSignature())
    result = vinledger("plugins", "--data", str(data))
    assert result.exit_code == 0, result.output
    listed = result.output.split("uatest ", 1)[1]
    assert "FAILED: PluginValidationError" in listed and "ua-bonus" not in listed


# ---- 5: provider ids are unique -------------------------------------------------------


class Impostor(Upper):
    """Another firm's format, marked with Upper's id: its entries would read "upper/3"."""

    payload_type = "application/vnd.impostor+json"


def test_two_plugins_registering_one_provider_id_stop_the_ledger_naming_both():
    class Real:
        @hookimpl
        def register_inspection_providers(self):
            return [Upper()]

    class Fake:
        @hookimpl
        def register_inspection_providers(self):
            return [Impostor()]

    with pytest.raises(Conflict, match="provider id 'upper' is registered by both") as err:
        Registry(loaded(Real(), Fake()))
    assert "'inline-0' and 'inline-1'" in str(err.value)


def test_a_plugin_registering_one_provider_id_twice_registers_nothing():
    class Twice:
        @hookimpl
        def register_inspection_providers(self):
            return [Upper(), Impostor()]

    registry = Registry(loaded(Twice()))
    assert registry.providers == {}
    assert registry.failed["inline-0"] == "registers provider id 'upper' twice"


# ---- 6: a sale whose referral rule is gone is refused at its referral code --------------


def test_a_rule_gone_from_a_referral_is_refused_at_the_referral_code():
    registry = Registry(loaded())
    with pytest.raises(InvalidRecord, match="referral code 'HONDA-03'") as err:
        registry.rule("flat", referral_code="HONDA-03")
    assert err.value.field == "$.referral_code"
    with pytest.raises(InvalidRecord) as err:  # a new referral names its rule itself
        registry.rule("flat")
    assert err.value.field == "rule"


def test_a_sale_whose_referral_rule_is_disabled_gets_422_at_its_referral_code(sqlite_ledger):
    flat = {"amount": "150", "currency": "EUR"}
    with TestClient(create_app(sqlite_ledger)) as client:
        ref = referrer(sqlite_ledger, "ref-a")
        assert refer(client, ref, "HONDA-03", "flat", flat).status_code == 201
    without = create_plugin_manager(["plugins.builtin.commissions"], load_entry_points=False)
    ledger = Ledger(sqlite_ledger.settings, sqlite_ledger.store, registry=Registry(without))
    dealer = onboard(ledger, "bay-auto", "dealer")
    with TestClient(create_app(ledger)) as client:
        r = sell(client, dealer, "HONDA-03", vin=VIN)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "$.referral_code"
    assert "'HONDA-03'" in r.json()["detail"] and "'flat'" in r.json()["detail"]


# ---- 7: a disabled name that no plugin has ---------------------------------------------


def test_a_misspelled_disabled_name_is_logged_with_the_names_that_exist(caplog):
    with caplog.at_level(logging.WARNING, logger="vinledger.plugins"):
        pm = create_plugin_manager(["plugins.builtin.polices"], load_entry_points=False)
    assert pm.has_plugin("plugins.builtin.policies")  # the typo disabled nothing
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "no installed plugin has that name" in warning
    assert "did you mean 'plugins.builtin.policies'?" in warning
    assert "plugins.builtin.commissions" in warning


def test_plugins_warns_of_a_misspelled_disabled_name(monkeypatch, data):
    install(monkeypatch, uatest=ClaimsReturn7d())
    disable(data, "ua-test", "plugins.builtin.policies")
    result = vinledger("plugins", "--data", str(data))
    assert "ua-test (disabled in config.json)" not in result.output
    assert "warning: config.json disables 'ua-test', but no installed plugin" in result.output
    assert "did you mean 'uatest'?" in result.output
    assert "plugins.builtin.policies (disabled in config.json)" in result.output
    assert "uatest ? (installed)\n    policy return-7d version 2" in result.output


# ---- 8: `vinledger plugins` and `vinledger serve` on a broken set of plugins -------------


def test_plugins_names_both_claims_of_one_policy_id_and_exits_1(monkeypatch, data):
    install(monkeypatch, uatest=ClaimsReturn7d())
    result = vinledger("plugins", "--data", str(data))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "plugins.builtin.policies" in result.output and "uatest ? (installed)" in result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert (
        "policy id 'return-7d' is registered by both 'plugins.builtin.policies' and 'uatest'"
        in error
    )
    assert '"disabled_plugins": ["uatest"]' in error


def test_serve_stops_with_one_line_naming_the_plugin_to_disable(monkeypatch, data):
    install(monkeypatch, uatest=ClaimsReturn7d())
    monkeypatch.setattr("uvicorn.run", lambda *a, **kw: pytest.fail("served anyway"))
    result = vinledger("serve", "--data", str(data))
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    (error,) = result.output.strip().splitlines()
    assert error.startswith("error: policy id 'return-7d' is registered by both")
    assert '"disabled_plugins": ["uatest"]' in error


def test_plugins_shows_a_package_that_fails_to_import_as_failed(monkeypatch, data):
    install(monkeypatch, uatest=ModuleNotFoundError("No module named 'uatest_deps'"))
    result = vinledger("plugins", "--data", str(data))
    assert result.exit_code == 0, result.output
    assert (
        "uatest ? (installed)\n    FAILED: ModuleNotFoundError: No module named 'uatest_deps'\n"
        in result.output
    )


def test_plugins_shows_what_each_plugin_registers_with_its_id_and_version(monkeypatch, data):
    install(monkeypatch)
    out = vinledger("plugins", "--data", str(data)).output
    assert (
        "provider vinledger-inspection version 1 for application/vnd.vinledger.inspection+json"
        in out
    )
    assert "    policy return-7d version 2\n" in out
    assert "    rule flat version 1.1\n" in out


# ---- 9: a hook vinledger does not have --------------------------------------------------


def test_a_misspelled_hook_fails_its_plugin_naming_the_hooks_there_are():
    pm = loaded(Misspelled())
    assert pm.get_plugin("inline-0") is None
    reason = pm.failed["inline-0"]
    assert f"unknown hook 'register_policy'; the hooks are: {HOOKS}" in reason
    assert Registry(pm).rules == {}  # its valid hook is left out with it


def test_an_optional_hook_of_another_version_is_no_failure():
    class Optional:
        @hookimpl(optionalhook=True)
        def register_something_newer(self):
            return []

    pm = loaded(Optional())
    assert pm.failed == {} and pm.has_plugin("inline-0")


# ---- 10: a register_* hook that returns None --------------------------------------------


def test_a_hook_returning_none_fails_its_plugin():
    class Forgot:
        @hookimpl
        def register_commission_rules(self):
            return [Bonus()]

        @hookimpl
        def register_policies(self):
            policies = [SevenDayReturn()]  # noqa: F841 - forgot to return it

    registry = Registry(loaded(Forgot()))
    assert registry.rules == {} and registry.policies == {}
    assert (
        "register_policies returned NoneType; return a list of Policy"
        in (registry.failed["inline-0"])
    )


def test_a_built_in_plugin_that_fails_to_load_stops_the_ledger(monkeypatch):
    """vinledger's own plugins failing is a broken install: never a ledger that starts
    without its policies."""
    import importlib

    from plugins.manager import create_plugin_manager

    real = importlib.import_module

    def broken(name, *args):
        if name == "plugins.builtin.policies":
            raise ImportError("a file is missing")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(RuntimeError, match=r"built-in plugin plugins\.builtin\.policies failed"):
        create_plugin_manager(load_entry_points=False)
