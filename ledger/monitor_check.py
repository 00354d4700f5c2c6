"""Judging a verified bundle against what a monitor read of the log.

A bundle proves that its entries are in the log; this says whether they are all of
its vehicle's entries the monitor saw (by index and leaf hash), whether any is
signed with a key the log had revoked before it, whether the bundle is older or
newer than the monitor's view, and whether its tree is the monitor's.
"""

from __future__ import annotations

from core.errors import VinledgerError
from ledger.monitor import Fetch, Monitor, prove_consistent
from ledger.signing import open_checkpoint


def check_bundle(monitor: Monitor, report, fetch: Fetch | None = None) -> None:
    """Record in ``report`` (a verified bundle's) whether it holds every entry of its
    VIN that the log held as far as the monitor has read it, each with the same
    leaf hash.

    The bundle's tree must be the monitor's: the same root at a size the monitor
    polled, or else (given ``fetch`` from the log) a consistency proof between the
    two checkpoints. Entries past the monitor's size are not covered: that fails
    too (poll first).
    """
    cp = report.checkpoint
    try:
        mine = monitor.checkpoint
    except VinledgerError as err:
        report.failed("monitor", str(err))
        return
    if cp is None or mine is None or mine.size == 0:
        report.failed("monitor", "the monitor has read nothing of this log yet")
        return
    if (standing := monitor.standing_alert) is not None:
        at, said, evidence = standing
        report.failed(
            "monitor",
            f"the monitor raised an alert about this log on {at}, not yet acknowledged: "
            f"{said} (evidence in {evidence})",
        )
        return
    row = monitor.db.execute("SELECT note FROM checkpoints WHERE size = ?", (cp.size,)).fetchone()
    if row is not None and open_checkpoint(row[0], monitor.vkey).root != cp.root:
        report.failed(
            "monitor",
            f"the bundle's checkpoint of size {cp.size} is not the one the monitor read "
            "at that size: the log shows different trees to different readers",
        )
        return
    if row is None and fetch is not None:
        try:
            prove_consistent(fetch, cp, mine)
        except VinledgerError as err:
            report.failed(
                "monitor",
                f"the bundle's tree (size {cp.size}) and the one the "
                f"monitor read (size {mine.size}): {err}",
            )
            return
    upto = min(cp.size, mine.size)
    seen = {(e.index, e.leaf) for e in monitor.vin_chain(report.vin, below=upto)}
    shown = {(i, leaf) for i, leaf in report.leaves.items() if i < upto}
    if missing := sorted(i for i, _ in seen - shown):
        report.failed(
            "monitor",
            f"the bundle leaves out entries {_listed(missing)} of {report.vin}, as the "
            f"log held them at size {upto} when the monitor read it",
        )
    if unknown := sorted(i for i, _ in shown - seen):
        report.failed(
            "monitor",
            f"entries {_listed(unknown)} of the bundle are not the entries of "
            f"{report.vin} in the log the monitor read",
        )
    if late := _signed_after_revocation(monitor, report):
        report.failed(
            "monitor",
            "signed with a key the log had revoked before: "
            + "; ".join(f"entry {i} (key revoked at entry {r})" for i, r in late),
        )
    if newer := [e.index for e in monitor.vin_chain(report.vin) if e.index >= cp.size]:
        report.failed(
            "monitor",
            f"the log holds {len(newer)} newer entries of {report.vin} ({_listed(newer)}) "
            f"than this bundle's checkpoint of size {cp.size}: its history is out of date",
        )
    if cp.size > mine.size:
        report.failed(
            "monitor",
            f"the bundle's checkpoint (size {cp.size}) is newer than the monitor's (size "
            f"{mine.size}): entries after that are not covered; poll the monitor first",
        )
    if missing or unknown or late or newer or cp.size > mine.size:
        return
    how = "the same root" if row is not None else "a consistency proof from the log"
    if row is None and fetch is None:
        how = "no root compared: the monitor saw no checkpoint of that size"
    report.passed(
        "monitor",
        f"{'the 1 entry' if len(seen) == 1 else f'all {len(seen)} entries'} of {report.vin} "
        f"the monitor saw up to size {upto}, "
        f"with the same leaf hashes ({how})",
    )


def _signed_after_revocation(monitor: Monitor, report) -> list[tuple[int, int]]:
    """(entry, revocation) for each bundle entry, vehicle or trust, whose key the log
    had revoked before it, as the monitor read the log: a bundle may leave the
    revocation out (and with it, e.g., a grant an operator's revoked key signed)."""
    late = []
    for entry in [*report.trust, *report.entries]:
        row = monitor.db.execute(
            "SELECT idx FROM revocations WHERE key_id = ? AND idx < ?",
            (entry.signer.keyid, monitor.size),
        ).fetchone()
        if row is not None and row[0] < entry.index:
            late.append((entry.index, row[0]))
    return late


def _listed(indexes: list[int]) -> str:
    return ", ".join(map(str, indexes[:10])) + (", …" if len(indexes) > 10 else "")
