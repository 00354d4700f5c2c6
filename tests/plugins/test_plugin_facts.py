"""What a third-party policy is given and how a buyer's page shows it (a plugin author's
report): every insurance claim with its cause and severity, the sale's day where the
ledger counts days, a decision worked out again from the log, and a policy whose plugin
is gone, or that has a title, on the page."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import ClassVar

import msgspec
import pytest
from litestar.testing import TestClient

from api.app import create_app
from api.config import create_data_dir
from api.guarantees import terms_shown
from api.i18n import Words
from api.service import Ledger
from core.errors import InvalidRecord
from ledger.storage import Store
from plugins.builtin.policies import PowertrainWarranty
from plugins.claim_facts import replay
from plugins.hookspecs import hookimpl
from plugins.interfaces import (
    SEVERITIES,
    ClaimFacts,
    Decision,
    InsuranceClaim,
    Policy,
    SaleFacts,
    Terms,
)
from plugins.manager import create_plugin_manager
from plugins.registry import Registry
from tests.conftest import VIN, onboard, with_plugin
from tests.plugins.test_claims_filing import admin, post, sale, warranty
from tests.plugins.test_docs_reference import declared, documented


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class GearboxWarranty(Policy):
    """Gearbox repairs for 60 days, refused once an insurer logged damage of moderate
    severity or worse after the sale, whatever its cause."""

    id = "gearbox-60d"
    version = "1"
    kind = "warranty"
    title = "Gearbox warranty, 60 days"
    seen: ClassVar[list[ClaimFacts]] = []

    def terms(self, params, sale):
        start = sale.sale_day
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=start.isoformat(),
            ends=(start + timedelta(days=60)).isoformat(),
            km_limit=None,
            components=["transmission"],
            summary="Gearbox repairs for 60 days, unless damaged since the sale.",
            time_zone=sale.time_zone,
        )

    def decide(self, terms, claim):
        self.seen.append(claim)
        worst = [
            c
            for c in claim.insurance_claims
            if c.occurred_at >= claim.sold_at
            and SEVERITIES.index(c.severity) >= SEVERITIES.index("moderate")
        ]
        if worst:
            c = worst[0]
            return Decision(
                False, f"{c.severity} {c.cause} damage claimed on entry {c.index} since the sale"
            )
        if terms.day_of(claim.filed_at) > terms.ends_on():
            return Decision(False, f"ended on {terms.ends}")
        return Decision(True, f"gearbox covered, day {claim.days_since_sale}")


class Plugin:
    @hookimpl
    def register_policies(self):
        return [GearboxWarranty()]


@pytest.fixture
def ledger(sqlite_ledger):
    GearboxWarranty.seen = []
    return with_plugin(sqlite_ledger, Plugin(), "gearbox")


@pytest.fixture
def client(ledger):
    with TestClient(create_app(ledger)) as c:
        yield c


def insured(at: str, ref: str, cause: str, severity: str, **extra) -> dict:
    return {
        "kind": "insurance_claim",
        "vin": VIN,
        "occurred_at": at,
        "claim_ref": ref,
        "cause": cause,
        "severity": severity,
        **extra,
    }


@pytest.fixture
def sold(client, ledger):
    """A sale with the gearbox warranty and the built-in powertrain one; the dealer."""
    dealer = onboard(ledger, "bay-auto", "dealer")
    policies = [{"id": "gearbox-60d"}, {"id": "powertrain-30d"}]
    r = post(client, dealer, sale(policies))
    assert r.status_code == 201, r.text
    return r.json()["index"], dealer


def gearbox_claim(sold_index: int, at: str = "2026-06-04T09:00:00Z") -> dict:
    return warranty(sold_index, at, policy="gearbox-60d", component="transmission")


def decision_of(client, claim_index: int) -> dict:
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    (e,) = [e for e in entries if e["index"] == claim_index + 1]
    return e["record"]


# ---- item 2: insurance claims as facts ------------------------------------------------


def test_every_insurance_claim_is_a_fact_with_its_cause_and_severity(client, ledger, sold):
    sold_index, dealer = sold
    insurer = onboard(ledger, "shield", "insurer")
    logged = {}
    for ref, at, cause, severity, extra in [
        ("SH-0", "2026-05-20T08:00:00Z", "collision", "severe", {}),  # before the sale
        ("SH-1", "2026-06-02T08:00:00Z", "collision", "minor", {}),
        ("SH-2", "2026-06-02T09:00:00Z", "theft", "minor", {"total_loss": True}),
        ("SH-3", "2026-06-02T10:00:00Z", "other", "minor", {}),
        ("SH-4", "2026-06-04T12:00:00Z", "hail", "severe", {}),  # after the claim's date
    ]:
        r = post(client, insurer, insured(at, ref, cause, severity, **extra))
        assert r.status_code == 201, r.text
        logged[ref] = r.json()["index"]
    r = post(client, dealer, gearbox_claim(sold_index))
    assert r.status_code == 201, r.text
    (facts,) = GearboxWarranty.seen
    assert facts.insurance_claims == [
        InsuranceClaim(
            logged["SH-0"], utc("2026-05-20T08:00:00Z"), "collision", "severe", False, False, False
        ),
        InsuranceClaim(
            logged["SH-1"], utc("2026-06-02T08:00:00Z"), "collision", "minor", False, False, False
        ),
        InsuranceClaim(
            logged["SH-2"], utc("2026-06-02T09:00:00Z"), "theft", "minor", True, False, False
        ),
        InsuranceClaim(
            logged["SH-3"], utc("2026-06-02T10:00:00Z"), "other", "minor", False, False, False
        ),
    ]
    # damage keeps the five flags it always had: a collision is an accident, a theft or
    # "other" claim is no damage report (a policy written against it decides as before).
    assert [(d.flag, d.index) for d in facts.damage] == [
        ("accident", logged["SH-0"]),
        ("accident", logged["SH-1"]),
    ]
    # A minor collision since the sale and a severe one before it: the gearbox is paid.
    assert decision_of(client, r.json()["index"])["approved"] is True


def test_a_severe_hail_claim_since_the_sale_refuses_and_a_minor_collision_does_not(
    client, ledger, sold
):
    sold_index, dealer = sold
    insurer = onboard(ledger, "shield", "insurer")
    hail = post(client, insurer, insured("2026-06-02T08:00:00Z", "SH-9", "hail", "severe"))
    assert hail.status_code == 201, hail.text
    r = post(client, dealer, gearbox_claim(sold_index))
    assert r.status_code == 201, r.text
    decided = decision_of(client, r.json()["index"])
    assert decided["approved"] is False
    assert decided["reason"] == (
        f"severe hail damage claimed on entry {hail.json()['index']} since the sale"
    )
    (facts,) = GearboxWarranty.seen
    assert [d.flag for d in facts.damage] == []  # hail is no damage flag: only a claim


def test_a_disputed_insurance_claim_is_left_out(client, ledger, sold):
    sold_index, dealer = sold
    insurer = onboard(ledger, "shield", "insurer")
    r = post(client, insurer, insured("2026-06-02T08:00:00Z", "SH-9", "vandalism", "moderate"))
    dispute = {
        "kind": "dispute",
        "vin": VIN,
        "occurred_at": "2026-06-03T08:00:00Z",
        "disputes": r.json()["index"],
        "reason": "the insurer had the wrong car",
    }
    admin(client, ledger, dispute)
    claim = post(client, dealer, gearbox_claim(sold_index))
    (facts,) = GearboxWarranty.seen
    assert facts.insurance_claims == []
    assert decision_of(client, claim.json()["index"])["approved"] is True


def test_the_built_in_policies_decide_as_before_with_claims_on_record(client, ledger, sold):
    sold_index, dealer = sold
    insurer = onboard(ledger, "shield", "insurer")
    post(client, insurer, insured("2026-06-02T08:00:00Z", "SH-9", "hail", "severe"))
    r = post(client, dealer, warranty(sold_index, "2026-06-04T09:00:00Z"))
    decided = decision_of(client, r.json()["index"])
    assert decided["approved"] is True
    assert (
        decided["reason"]
        == "engine is covered by powertrain-30d and the claim is on day 3 after the sale"
    )


def test_the_reference_tables_list_the_new_facts():
    from plugins import interfaces

    for name in ("InsuranceClaim", "ClaimFacts", "DamageReport", "SaleFacts"):
        assert documented(name) == declared(getattr(interfaces, name))
    assert SEVERITIES == ("minor", "moderate", "severe")


# ---- item 8: a decision replayed from the log -------------------------------------------


def test_a_decision_is_made_again_from_the_history(client, ledger, sold):
    sold_index, dealer = sold
    insurer = onboard(ledger, "shield", "insurer")
    post(client, insurer, insured("2026-06-02T08:00:00Z", "SH-9", "fire", "moderate"))
    reading = {
        "kind": "odometer",
        "vin": VIN,
        "occurred_at": "2026-06-03T08:00:00Z",
        "odometer_km": 48_900,
        "source": "workshop",
    }
    assert post(client, onboard(ledger, "quicklane", "workshop"), reading).status_code == 201
    claims = [
        post(client, dealer, gearbox_claim(sold_index)).json()["index"],
        post(client, dealer, warranty(sold_index, "2026-06-04T10:00:00Z")).json()["index"],
    ]
    (handed,) = GearboxWarranty.seen  # the facts the ledger gave the policy
    entries = client.get(f"/vehicles/{VIN}/history").json()["entries"]
    assert replay(entries, claims[0])[1] == handed  # exactly
    for claim_index, policy in zip(claims, (GearboxWarranty(), PowertrainWarranty()), strict=True):
        terms, facts = replay(entries, claim_index)
        logged = decision_of(client, claim_index)
        assert logged["policy_version"] == policy.version
        decision = policy.decide(terms, facts)
        assert (decision.approved, decision.reason) == (logged["approved"], logged["reason"])
        assert facts.days_since_sale == logged["days_since_sale"]
        assert (facts.odometer_km, facts.km_since_sale) == (
            logged.get("odometer_km"),
            logged.get("km_since_sale"),
        )
    with pytest.raises(Exception, match="not a return_request or warranty_claim"):
        replay(entries, sold_index)


# ---- item 4: the sale's day where the ledger counts days -----------------------------------

TOKYO_SALE = "2026-11-20T20:00:00Z"  # 05:00 on 21 November in Tokyo


def test_sale_day_is_the_ledgers_day():
    sold = utc(TOKYO_SALE)
    assert SaleFacts(VIN, "d", sold, None).sale_day.isoformat() == "2026-11-20"
    tokyo = SaleFacts(VIN, "d", sold, None, time_zone="Asia/Tokyo")
    assert tokyo.sale_day.isoformat() == "2026-11-21"
    assert "sale_day" not in {f.name for f in dataclasses.fields(SaleFacts)}  # not a field


class UtcDayPolicy(Policy):
    """What the reference example did: the sale's day in UTC, no zone stated."""

    id = "utc-day-14d"
    version = "1"
    kind = "reinspection"

    def terms(self, params, sale):
        start = sale.sold_at.date()
        return Terms(
            policy=self.id,
            version=self.version,
            kind=self.kind,
            starts=start.isoformat(),
            ends=(start + timedelta(days=14)).isoformat(),
            km_limit=None,
            components=["reinspection"],
            summary="One free re-inspection within 14 days.",
        )

    def decide(self, terms, claim):
        return Decision(True, "free")


class Both:
    @hookimpl
    def register_policies(self):
        return [GearboxWarranty(), UtcDayPolicy()]


@pytest.fixture
def tokyo(tmp_path, sqlite_url):
    settings = create_data_dir(
        tmp_path / "tokyo", origin="test.vinledger.localhost/log", database_url=sqlite_url,
        time_zone="Asia/Tokyo",
    )  # fmt: skip
    store = Store(sqlite_url)
    store.create_schema()
    pm = create_plugin_manager(load_entry_points=False)
    pm.register(Both(), name="gearbox")
    try:  # the reference example, as installed
        import vinledger_autoscope

        pm.register(vinledger_autoscope, name="autoscope")
    except ImportError:
        pass
    lg = Ledger(
        settings,
        store,
        registry=Registry(pm, time_zone="Asia/Tokyo"),
        clock=lambda: datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
    )
    lg.genesis()
    yield lg
    lg.close()


def tokyo_sale(*policies: str) -> dict:
    return {**sale([{"id": p} for p in policies]), "occurred_at": TOKYO_SALE}


def test_a_tokyo_sale_at_20_00_utc_starts_on_tokyos_next_day(tokyo):
    dealer = onboard(tokyo, "bay-auto", "dealer")
    ids = ["return-7d", "gearbox-60d"]
    if "autoscope-reinspection-14d" in tokyo.plugins.policies:
        ids.append("autoscope-reinspection-14d")
    (outcome,) = tokyo.submit_now([dealer.envelope(tokyo_sale(*ids))])
    assert not isinstance(outcome, Exception), outcome
    (e,) = [e for e in tokyo.history(VIN)["entries"] if e["kind"] == "sale"]
    stated = {t["policy"]: (t["starts"], t.get("time_zone")) for t in e["derived"]["terms"]}
    assert stated == dict.fromkeys(ids, ("2026-11-21", "Asia/Tokyo"))


def test_a_tokyo_ledger_refuses_terms_starting_on_utcs_day(tokyo):
    dealer = onboard(tokyo, "bay-auto", "dealer")
    (outcome,) = tokyo.submit_now([dealer.envelope(tokyo_sale("return-7d", "utc-day-14d"))])
    assert isinstance(outcome, InvalidRecord), outcome
    assert outcome.field == "$.policies[1].id"
    assert "2026-11-21" in outcome.detail and "Asia/Tokyo" in outcome.detail


# ---- items 6 and 7: the page, a policy gone and a policy's title ----------------------------


def page_terms(client, policies, lang="en", as_of="2026-06-05T00:00:00Z"):
    history = client.get(f"/vehicles/{VIN}/history").json()
    return {
        t["id"]: t
        for t in terms_shown(
            history["entries"],
            history["view"].get("sales", []),
            {},
            utc(as_of),
            Words(lang),
            policies,
        )
    }


def test_a_policy_whose_plugin_is_gone_is_said_undecidable(client, ledger, sold):
    everything = page_terms(client, ledger.plugins.policies)
    assert not any(t["unavailable"] for t in everything.values())
    without = {k: v for k, v in ledger.plugins.policies.items() if k != "gearbox-60d"}
    shown = page_terms(client, without)
    assert shown["gearbox-60d"]["active"] and shown["gearbox-60d"]["unavailable"]
    assert shown["gearbox-60d"]["name"] == "gearbox-60d"  # no plugin, no title
    assert not shown["powertrain-30d"]["unavailable"]
    # Unknown (None): nothing is said, as before.
    assert not any(t["unavailable"] for t in page_terms(client, None).values())
    # Ended: nothing to decide, so nothing is said.
    late = page_terms(client, without, as_of="2026-09-01T00:00:00Z")
    assert not late["gearbox-60d"]["active"] and not late["gearbox-60d"]["unavailable"]


def test_a_plugins_title_heads_its_terms_and_the_built_ins_keep_their_words(client, ledger, sold):
    policies = ledger.plugins.policies
    en = page_terms(client, policies)
    assert en["gearbox-60d"]["name"] == "Gearbox warranty, 60 days"
    assert en["powertrain-30d"]["name"] == "30-day powertrain warranty"
    zh = page_terms(client, policies, lang="zh")
    assert zh["gearbox-60d"]["name"] == "Gearbox warranty, 60 days"  # no translation
    assert zh["gearbox-60d"]["name_lang"] == "en"
    assert zh["powertrain-30d"]["name"] == "30 天动力总成质保"
    assert zh["powertrain-30d"]["name_lang"] is None
    assert page_terms(client, None)["gearbox-60d"]["name"] == "gearbox-60d"


def test_a_long_or_odd_title_is_one_short_line():
    class Odd:
        title = "  Gearbox\nwarranty " + "x" * 200

    class Blank:
        title = "   "

    from api.guarantees import TITLE_MAX_CHARS, _heading

    said, lang = _heading("odd-1", Words("en"), {"odd-1": Odd(), "blank-1": Blank()})
    assert said.startswith("Gearbox warranty x") and len(said) == TITLE_MAX_CHARS
    assert said.endswith("…") and "\n" not in said and lang is None
    assert _heading("blank-1", Words("en"), {"blank-1": Blank()}) == ("blank-1", None)
    assert _heading("odd-1", Words("zh"), {"odd-1": Odd()})[1] == "en"  # marked English


def test_the_terms_stated_are_what_a_plugin_builds():
    # Terms stays a struct a plugin builds by keyword; its zone is the sale's.
    terms = GearboxWarranty().terms(
        {}, SaleFacts(VIN, "d", utc(TOKYO_SALE), None, time_zone="Asia/Tokyo")
    )
    assert msgspec.structs.asdict(terms)["time_zone"] == "Asia/Tokyo"
    assert terms.starts == "2026-11-21"


def test_the_page_says_a_term_without_its_plugin_decides_nothing_now(
    client, ledger, sold, sqlite_ledger, monkeypatch
):
    """Served by a ledger where the gearbox plugin is gone: the page (as of a day both
    terms hold) heads it by its id and says its claims cannot be decided now; with the
    plugin, by its title, in force."""
    import api.routes.vehicles
    from api.pages import page_model

    monkeypatch.setattr(
        api.routes.vehicles,
        "page_model",
        lambda *a, **kw: page_model(*a, as_of=utc("2026-06-05T00:00:00Z"), **kw),
    )
    page = client.get(f"/vehicles/{VIN}").text
    assert "<strong>Gearbox warranty, 60 days</strong>" in page
    assert "cannot be decided" not in page
    bare = with_plugin(sqlite_ledger, PowertrainWarranty(), "powertrain-only")
    with TestClient(create_app(bare)) as gone:
        page = gone.get(f"/vehicles/{VIN}").text
        zh = gone.get(f"/vehicles/{VIN}?lang=zh").text
    assert "<strong>gearbox-60d</strong>" in page
    assert page.count("plugin is not installed on this ledger") == 1  # the gearbox's only
    assert "其插件未安装在本账本上" in zh
