"""Every hook a vinledger plugin can implement.

A plugin is a module or object with ``@hookimpl`` functions named after these specs,
registered either as a built-in (``plugins.manager.DEFAULT_PLUGINS``) or by a
third-party package through the ``vinledger`` entry-point group::

    [project.entry-points.vinledger]
    acme = "acme_vinledger"

All hooks are called once, when the ledger starts (``plugins.registry.Registry``),
and what they return is kept for the life of the process. docs/plugins.md shows a
worked example of each.
"""

from __future__ import annotations

import pluggy

from plugins.interfaces import CommissionRule, InspectionProvider, Policy

hookspec = pluggy.HookspecMarker("vinledger")
hookimpl = pluggy.HookimplMarker("vinledger")


# ---- submissions -----------------------------------------------------------------


@hookspec
def register_inspection_providers() -> list[InspectionProvider]:
    """Inspection report formats this plugin accepts.

    Called once at start-up. Return instances of ``InspectionProvider`` subclasses;
    each claims one DSSE ``payloadType``. A submission with that payload type is
    passed to the provider's ``normalise``, and the entry keeps the signed report
    verbatim with the normalised inspection beside it, marked with the provider's
    ``id`` and ``version``. Two providers claiming the same payload type or the same
    id is an error at start-up.
    """


# ---- sales and claims ---------------------------------------------------------------


@hookspec
def register_policies() -> list[Policy]:
    """Warranty and return policies a dealer can attach to a sale by id.

    Called once at start-up. Return instances of ``Policy`` subclasses. At a sale,
    ``Policy.terms`` checks the dealer's parameters and states the terms (stored in
    the sale's entry); at a ``return_request`` or ``warranty_claim``,
    ``Policy.decide`` decides from the ledger's facts and the decision is appended
    right after the claim, in the same transaction. Every call into the plugin, both
    methods, runs in a thread of the plugin's pool and is waited for
    ``plugin_timeout_seconds`` (config.json) at most (503 ``plugin-timeout`` past it);
    any exception from ``decide``, a ``VinledgerError`` too, and an answer of the wrong
    type from either, is the plugin's failure (500 ``plugin-failed``).
    """


# ---- referrals -----------------------------------------------------------------------


@hookspec
def register_commission_rules() -> list[CommissionRule]:
    """Referral-commission rules a referral can name by id.

    Called once at start-up. Return instances of ``CommissionRule`` subclasses.
    ``validate`` checks a referral's parameters when it is created, ``admit`` may
    refuse a new referral (limited slots), and ``compute`` turns a sale that names
    the referral's code into commissions, held until the sale's return window ends.
    Only a version of the referral's major version computes its sales, new ones too;
    each call is bounded in time as ``decide``'s is.
    """
