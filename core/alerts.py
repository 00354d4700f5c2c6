"""An alert in a vehicle's view: what a buyer should look at, and the entries behind it.

``type`` names it for programs, ``severity`` is ``high``, ``medium`` or ``low``,
``message`` says it in plain words, ``entries`` are the log indexes it rests on and
``facts`` the numbers it was worked out from (docs/analytics.md lists every type).
"""

from __future__ import annotations


def alert(kind: str, level: str, message: str, entries: list[int], **facts) -> dict:
    return {
        "type": kind,
        "severity": level,
        "message": message,
        "entries": entries,
        "facts": facts,
    }
