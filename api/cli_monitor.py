"""``vinledger monitor``: follow a log from outside, check every checkpoint and entry
against the log's verifier key, and say what changed for the actors and VINs watched.

It needs no data directory of the ledger's and trusts no server; its own state
directory keeps what it has verified.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import click

ALERT_EXIT = 1  # the log misbehaved, now or in an alert not yet acknowledged
USAGE_EXIT = 2  # a mistake in the command: a malformed key, a state of another mode, ...
WATCHED_EXIT = 3  # `monitor --once`: a watched actor's trust change, or a watched entry
UNAVAILABLE_EXIT = 4  # `--once`: the log could not be read (network, an outage)
BUSY_EXIT = 5  # another monitor is polling into the state directory
STALE_EXIT = 6  # `--once`: the log served an older checkpoint than the monitor's
INTERRUPTED_EXIT = 130  # Ctrl-C


@click.command()
@click.argument("url")
@click.option("--vkey", required=True, help="the log's verifier key, or a file holding it")
@click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default="vinledger-monitor",
    envvar="VINLEDGER_MONITOR",
    show_default=True,
    help="where the monitor keeps what it has read (env: VINLEDGER_MONITOR)",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=1),
    default=60,
    show_default=True,
    help="seconds between polls",
)
@click.option("--once", is_flag=True, help="poll once and exit")
@click.option(
    "--signatures/--no-signatures",
    default=None,
    help="also replay the trust entries and check every signature, key and role (the "
    "default for a new state; a state keeps the mode it was first read in)",
)
@click.option(
    "--watch",
    "watched",
    multiple=True,
    metavar="ACTOR",
    help="an actor id (repeatable) whose trust changes stand out, marked WATCHED: the "
    "actor made, a key granted to it, one of its keys revoked. With --once, exit "
    f"{WATCHED_EXIT} when the poll read one",
)
@click.option(
    "--watch-vin",
    "watch_vins",
    multiple=True,
    metavar="VIN|@FILE",
    help="a VIN (repeatable; @FILE: one a line) whose new entries stand out, marked "
    "WATCHED: each with its kind, signer and date, a sale's dealer, a title brand, a "
    "claim's cause and severity, and an odometer reading LOWER than the VIN's highest. "
    f"With --once, exit {WATCHED_EXIT} when the poll read one",
)
@click.option(
    "--watch-actor",
    "watch_actors",
    multiple=True,
    metavar="ACTOR",
    help="an actor id (repeatable) whose new entries stand out, as --watch-vin's",
)
@click.option(
    "--unwatch",
    is_flag=True,
    help="forget the VINs and actors an earlier --watch-vin/--watch-actor left in the state",
)
@click.option(
    "--max-stale",
    type=click.FloatRange(min=0),
    default=3600,
    show_default=True,
    help="seconds the log may keep serving a checkpoint older than the monitor's (a "
    "lagging mirror) before that is an ALERT; 0 for the log's own origin, which never "
    "goes back",
)
@click.option(
    "--acknowledge",
    is_flag=True,
    help="clear the standing alert (its evidence stays in STATE/alerts), then poll",
)
@click.option("--json", "as_json", is_flag=True, help="one JSON object per event, a line each")
def monitor(
    url: str,
    vkey: str,
    state_dir: Path,
    interval: float,
    once: bool,
    signatures: bool | None,
    watched: tuple[str, ...],
    watch_vins: tuple[str, ...],
    watch_actors: tuple[str, ...],
    unwatch: bool,
    max_stale: float,
    acknowledge: bool,
    as_json: bool,
) -> None:
    """Follow a log: check each checkpoint, read every new entry, remember each VIN chain,
    and say what each poll's trust entries changed (new actors, keys granted, revoked).

    Exits 1 with an ALERT if the log ever forks, shrinks, serves entries that do not make
    its checkpoint, or stays behind the monitor longer than --max-stale; nothing of that
    poll is recorded, the evidence is kept in STATE/alerts, and every later poll fails
    with it until --acknowledge. Other exits: 2 a mistake in the command, 3 (--once) a
    watched actor's trust change or a watched entry, 4 (--once) the log could not be
    read, 5 another monitor polls the state, 6 (--once) the log served an older
    checkpoint, 130 interrupted. Loop mode stamps each line with the time (UTC).

    --watch-vin and --watch-actor are kept in the state: every poll into it (`verify
    --monitor`'s too) keeps their entries until a monitor run with them reports them.
    The first catch-up of a state says how many each has (one line each; --json lists
    every entry); later polls list each entry.
    """
    import time

    import httpx

    from api.client import ClientError, VinledgerClient
    from core.errors import InvalidInput, VinledgerError
    from core.fields import actor_id_problem
    from ledger.monitor import Monitor, MonitorAlert, MonitorBusy, Watch
    from ledger.monitor_entries import printable

    out = _Events(as_json, stamped=not once)
    for option, actors in (("--watch", watched), ("--watch-actor", watch_actors)):
        for actor in actors:
            if problem := actor_id_problem(actor):
                out.fail(USAGE_EXIT, "usage", f"{option} {printable(actor)}: {problem}")
    if unwatch and (watch_vins or watch_actors):
        out.fail(USAGE_EXIT, "usage", "--unwatch forgets what is watched: give it alone")
    watch = None  # keep what the state watches, reporting nothing of it
    if watch_vins or watch_actors or unwatch:
        watch = Watch(_watched_vins(watch_vins, out), frozenset(watch_actors))
    created = not state_dir.exists()
    try:
        m = Monitor(state_dir, _monitor_vkey(vkey, out), signatures=signatures)
    except MonitorBusy as err:
        out.fail(BUSY_EXIT, "busy", str(err))
    except InvalidInput as err:
        if created:
            shutil.rmtree(state_dir, ignore_errors=True)
        out.fail(USAGE_EXIT, "usage", str(err))
    if since := m.trust_known_since:
        unknown = (
            f"{state_dir} was read up to entry {since} by an earlier monitor, which kept no "
            f"trust changes: key grants, revocations and new actors before entry {since} "
            "are not known to it"
        )
        if watched:  # it could not see what it is asked to watch for
            m.close()
            out.fail(
                USAGE_EXIT,
                "usage",
                f"{unknown}, so --watch could miss one. Move it aside and poll again to "
                "read the log from the start",
            )
        out.warn(f"{unknown} (move it aside and poll again to see them all)")
    if acknowledge:
        try:
            cleared = m.acknowledge()
        except MonitorBusy as err:
            m.close()
            out.fail(BUSY_EXIT, "busy", str(err))
        out.event(
            "acknowledged",
            f"acknowledged {cleared} alert{'' if cleared == 1 else 's'} (evidence kept in "
            f"{state_dir / 'alerts'})",
            count=cleared,
        )
    client = VinledgerClient(url)
    try:
        while True:
            try:
                poll = m.poll(
                    client.get_bytes,
                    progress=out.progress,
                    resuming=out.resuming,
                    max_stale=max_stale,
                    watch=watch,
                )
            except MonitorAlert as err:
                out.alert(err)
            except MonitorBusy as err:
                out.fail(BUSY_EXIT, "busy", str(err))
            except (ClientError, httpx.HTTPError, VinledgerError) as err:
                if once:
                    out.fail(UNAVAILABLE_EXIT, "unavailable", f"could not read {url}: {err}")
                out.warn(f"could not read {url}: {err}; trying again", "unavailable")
            else:
                out.poll(poll)
                seen = out.entries(poll, frozenset(watched), watch)
                if once and seen:
                    sys.exit(WATCHED_EXIT)
                if once and poll.stale is not None:
                    sys.exit(STALE_EXIT)
            if once:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        out.fail(
            INTERRUPTED_EXIT,
            "interrupted",
            "interrupted; what a catch-up read and saved goes on at the next poll",
        )
    finally:
        client.close()
        read_nothing = m.size == 0 and m.pending is None and m.standing_alert is None
        m.close()
        if created and read_nothing:  # a wrong URL or key leaves no state directory behind
            shutil.rmtree(state_dir, ignore_errors=True)


def _watched_vins(given: tuple[str, ...], out) -> frozenset[str]:
    """Each --watch-vin (or each line of an @FILE one), in normal form; a VIN that is
    not one is a mistake in the command."""
    from core.errors import VinledgerError
    from core.vin import normalize_vin, validate_vin
    from ledger.monitor_entries import printable

    vins = set()
    for value in given:
        lines = [(f"--watch-vin {printable(value)}", value)]
        if value.startswith("@"):
            try:
                text = Path(value[1:]).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as err:
                out.fail(
                    USAGE_EXIT, "usage", f"--watch-vin {printable(value)}: cannot read it: {err}"
                )
            lines = [
                (f"--watch-vin {printable(value)}, line {n}", line.strip())
                for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
            if not lines:
                out.fail(USAGE_EXIT, "usage", f"--watch-vin {printable(value)}: it holds no VIN")
        for where, text in lines:
            vin = normalize_vin(text)
            try:
                validate_vin(vin)
            except VinledgerError as err:
                out.fail(USAGE_EXIT, "usage", f"{where}: {printable(str(err))}")
            vins.add(vin)
    return frozenset(vins)


def _monitor_vkey(vkey: str, out) -> str:
    """The key, or the key in the file it names; a name that is neither is a mistake."""
    if os.path.exists(vkey):
        try:
            return Path(vkey).read_text().strip()
        except (OSError, UnicodeDecodeError) as err:
            out.fail(USAGE_EXIT, "usage", f"--vkey {vkey}: cannot read it: {err}")
    from core.errors import VinledgerError
    from core.note import parse_verifier_key

    try:
        parse_verifier_key(vkey)
    except VinledgerError as err:
        what = "no such file, and not" if "+" not in vkey else "not"
        out.fail(
            USAGE_EXIT,
            "usage",
            f"--vkey {vkey}: {what} a verifier key (NAME+HASH+KEY, as the log's /log/vkey "
            f"gives it): {err}",
        )
    return vkey


class _Events:
    """What `vinledger monitor` says: a line each, stamped with the time (UTC) in loop
    mode, or with --json one JSON object a line, all on standard output, each with
    ``time`` and ``event`` (checkpoint, stale, trust, watched, progress, resuming,
    alert, unavailable, busy, usage, warning, acknowledged, interrupted)."""

    def __init__(self, as_json: bool, stamped: bool):
        self.as_json = as_json
        self.stamped = stamped

    def event(self, kind: str, line: str, /, *, err: bool = False, style=None, **fields) -> None:
        from datetime import UTC, datetime

        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.as_json:
            import json

            record = {"time": now, "event": kind, **fields}
            click.echo(json.dumps(record, ensure_ascii=False, default=str))
            return
        click.secho(f"{now} {line}" if self.stamped else line, err=err, **(style or {}))

    def fail(self, code: int, kind: str, said: str, **fields):
        self.event(kind, f"error: {said}", err=True, style={"fg": "red"}, said=said, **fields)
        sys.exit(code)

    def warn(self, said: str, kind: str = "warning") -> None:
        self.event(kind, f"warning: {said}", err=True, style={"fg": "yellow"}, said=said)

    def alert(self, err):
        evidence = getattr(err, "evidence", None)
        said = f"ALERT: {err}" + (f" (evidence kept in {evidence})" if evidence else "")
        self.fail(ALERT_EXIT, "alert", said, evidence=evidence and str(evidence))

    def progress(self, read: int, size: int) -> None:
        """A long catch-up saves its progress every so often; say how far it is."""
        line = f"  read {read:,} of {size:,} entries (progress saved)"
        self.event("progress", line, err=True, read=read, size=size)

    def resuming(self, start: int, size: int) -> None:
        line = f"  resuming an interrupted catch-up at entry {start:,} of {size:,}"
        self.event("resuming", line, err=True, at=start, size=size)

    def poll(self, poll) -> None:
        if poll.stale is not None:
            line = (
                f"WARNING: the log served an older checkpoint (size {poll.stale}) than the "
                f"one of size {poll.size} the monitor read, consistent with it: entries "
                f"{poll.stale}–{poll.size - 1} are not served (a lagging mirror, or a log "
                f"restored from a backup), since {poll.stale_since}; an ALERT once that "
                "lasts longer than --max-stale"
            )
            self.event(
                "stale",
                line,
                style={"fg": "yellow"},
                size=poll.stale,
                monitor_size=poll.size,
                since=poll.stale_since,
            )
            return
        entries = "entry" if poll.new_entries == 1 else "entries"
        vehicles = "vehicle" if poll.vehicles == 1 else "vehicles"
        since = f"consistent with size {poll.size_before}" if poll.size_before else "first poll"
        new = f"{poll.new_entries} new {entries} ({poll.vehicles} {vehicles})"
        self.event(
            "checkpoint",
            f"checkpoint {poll.size}: {new}, {since}",
            size=poll.size,
            size_before=poll.size_before,
            new_entries=poll.new_entries,
            vehicles=poll.vehicles,
            resumed_at=poll.resumed_at,
        )

    def entries(self, poll, watched: frozenset[str], watch) -> bool:
        """The poll's trust changes and watched entries, in log order (on a state's first
        catch-up, without --json, a count of each watched VIN's and actor's entries
        instead of each). Whether one was watched."""
        from ledger.monitor import TrustChange

        seen = False
        summed = poll.size_before == 0 and not self.as_json and watch is not None
        items = [(c.index, c) for c in poll.trust]
        if not summed:
            items += [(w.index, w) for w in poll.watched]
        for _, item in sorted(items, key=lambda pair: pair[0]):
            if isinstance(item, TrustChange):
                seen = self._trust(item, watched) or seen
            else:
                self._watched(item)
                seen = True
        if summed and watch:
            self._watched_summary(poll, watch)
            seen = seen or bool(poll.watched)
        return seen

    def _trust(self, change, watched: frozenset[str]) -> bool:
        line = f"entry {change.index}: {change.said}"
        mark = bool(watched) and change.concerns(watched)
        self.event(
            "trust",
            f"WATCHED {line}" if mark else f"  {line}",
            style={"fg": "yellow", "bold": True} if mark else None,
            index=change.index,
            actor=change.actor,
            said=change.said,
            watched=mark,
        )
        return mark

    def _watched(self, w) -> None:
        below = (
            None
            if w.lower_than is None
            else {"entry": w.lower_than[0], "odometer_km": w.lower_than[1]}
        )
        self.event(
            "watched",
            f"WATCHED entry {w.index}: {w.said}",
            style={"fg": "yellow", "bold": True},
            index=w.index,
            kind=w.kind,
            vin=w.vin,
            signer=w.signer,
            occurred_at=w.occurred_at,
            odometer_km=w.odometer_km,
            lower=w.lower_than is not None,
            lower_than=below,
            **w.detail,
            said=w.said,
        )

    def _watched_summary(self, poll, watch) -> None:
        """A line per watched VIN and actor: how many entries of each kind the first
        catch-up read, its lower readings and title brands by entry."""
        groups = [(f"VIN {vin}", lambda w, v=vin: w.vin == v) for vin in sorted(watch.vins)]
        groups += [
            (f"actor {actor}", lambda w, a=actor: w.signer == a) for actor in sorted(watch.actors)
        ]
        for name, belongs in groups:
            mine = [w for w in poll.watched if belongs(w)]
            kinds: dict[str, int] = {}
            for w in mine:
                kinds[w.kind] = kinds.get(w.kind, 0) + 1
            counts = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
            line = f"{name}: {len(mine)} {'entry' if len(mine) == 1 else 'entries'}"
            line += f" ({counts})" if counts else ""
            if name.startswith("actor"):
                cars = len({w.vin for w in mine})
                line += f" on {cars} {'vehicle' if cars == 1 else 'vehicles'}"
            lower = [w for w in mine if w.lower_than is not None]
            brands = [w for w in mine if w.kind == "title_brand"]
            if lower:
                line += "; odometer LOWER than before at " + _some(
                    f"entry {w.index} ({w.odometer_km:,} km < entry {w.lower_than[0]}'s "
                    f"{w.lower_than[1]:,} km)"
                    for w in lower
                )
            if brands:
                line += "; title brands " + _some(
                    f"{w.detail['brand']} (entry {w.index})" for w in brands
                )
            line += f" up to entry {poll.size - 1} (first catch-up: counted; --json lists each)"
            style = {"fg": "yellow", "bold": True} if mine else None
            self.event("watched_summary", f"WATCHED {line}" if mine else f"  {line}", style=style)


def _some(items, most: int = 5) -> str:
    items = list(items)
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")
