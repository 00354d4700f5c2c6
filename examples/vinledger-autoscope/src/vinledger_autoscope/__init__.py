"""AutoScope for vinledger: AutoScope's signed inspection reports, and its re-inspection.

Installed, this package is found through the ``vinledger`` entry-point group
(``autoscope = "vinledger_autoscope"``); an operator turns it off with
``"disabled_plugins": ["autoscope"]`` in config.json.
"""

from __future__ import annotations

from plugins.hookspecs import hookimpl
from vinledger_autoscope.reinspection import FreeReinspection
from vinledger_autoscope.report import AutoScopeReport

__all__ = ["AutoScopeReport", "FreeReinspection"]


@hookimpl
def register_inspection_providers():
    return [AutoScopeReport()]


@hookimpl
def register_policies():
    return [FreeReinspection()]
