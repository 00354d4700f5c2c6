"""``vinledger verify``, a buyer's offline check of a vehicle's bundle, and what it shares
with ``vinledger monitor`` (api/cli_monitor.py).

Neither needs a data directory or trusts a server: each takes the log's verifier key
and checks everything it reads against it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import click

monitor_option = click.option(
    "--monitor",
    "monitor_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="a `vinledger monitor` state directory: also check that the bundle leaves out "
    "no entry of its vehicle that the monitor saw in the log",
)


# Seconds to wait for a ledger's answer; the client's own default (api.client).
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=30.0,
    show_default=True,
    help="seconds to wait for the ledger's answer (raise it on a slow network)",
)


@click.command()
@click.argument("source")
@click.option("--vkey", required=True, help="the log's verifier key, or a file holding it")
@click.option(
    "--vin",
    help="the VIN the bundle must be for (the one on the car); a URL names its own",
)
@monitor_option
@timeout_option
def verify(
    source: str, vkey: str, vin: str | None, monitor_dir: Path | None, timeout: float
) -> None:
    """Verify a vehicle bundle (a URL or a FILE) offline against the log's key."""
    from api.cli import fail
    from api.report import print_report
    from core.vin import normalize_vin
    from ledger.verify import compare_view, read_view, verify_bundle_bytes

    vkey = _read_vkey(vkey)
    vin = None if vin is None else normalize_vin(vin)
    if source.startswith(("http://", "https://")):
        import httpx

        page, named = _vehicle_url(source)
        if vin is not None and named is not None and named != vin:
            fail(f"{source} is the history of VIN {named}, but --vin says {vin}")
        vin = vin or named
        url = page + "/bundle"
        from api.client import foreign_answer

        try:
            r = httpx.get(url, timeout=timeout)
        except httpx.InvalidURL as err:
            fail(f"{source} is not a URL: {err}")
        except httpx.HTTPError as err:
            fail(f"could not fetch {url}: {err or type(err).__name__}; try again")
        if (foreign := foreign_answer(r)) is not None:
            fail(foreign["detail"])
        if r.status_code == 404:
            fail(
                f"{url} answered 404: {_detail(r)}. No records on a ledger is not a clean "
                "history: the ledger knows only what its partners submitted"
            )
        if r.status_code != 200:
            fail(f"{url} answered {r.status_code}: {_detail(r)}")
        data = r.content
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as err:
            fail(f"cannot read {source}: {err}")
    report = verify_bundle_bytes(data, vkey)
    _check_vin(report, vin)
    if report.ok and source.startswith(("http://", "https://")):
        # The alerts a server shows must be the ones its signed entries imply.
        history_url = url[: -len("/bundle")] + "/history"
        try:
            served = httpx.get(history_url, timeout=timeout).json()["view"]
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
            report.failed("view", f"could not read {history_url}: {err}")
        else:
            compare_view(report, served)
    elif report.ok:  # a saved bundle: say what its entries imply
        read_view(report)
    if monitor_dir is not None and report.checkpoint is not None:
        if not (monitor_dir / "monitor.db").exists():
            fail(f"{monitor_dir} holds no monitor state; run `vinledger monitor` first")
        from api.client import VinledgerClient
        from core.errors import VinledgerError
        from ledger.monitor import Monitor, MonitorAlert, MonitorBusy

        m = Monitor(monitor_dir, vkey)
        client = fetch = None
        if source.startswith(("http://", "https://")):
            client = VinledgerClient(source.split("/vehicles/")[0])
            fetch = _fetcher(client)
        try:
            if fetch is not None:  # bring the monitor up to the log first
                try:
                    m.poll(fetch, progress=_progress)
                except MonitorAlert as err:
                    report.failed("monitor", f"ALERT: {err}")
                except MonitorBusy:
                    pass  # another process is polling; compare with what it has read
                except VinledgerError as err:
                    report.failed("monitor", f"could not bring the monitor up to date: {err}")
            if not any(f.check == "monitor" for f in report.failures):
                m.compare(report, fetch)
        finally:
            m.close()
            if client is not None:
                client.close()
    print_report(report)
    if vin is None and report.vin:
        from ledger.monitor_entries import printable

        # A valid bundle of another car verifies as well as this one's: say what the
        # buyer still has to compare (a URL names its VIN, a saved file does not).
        click.echo(
            f"Note: this is the history of VIN {printable(report.vin)}; compare it with the "
            "VIN on the car, or give --vin VIN to have it checked."
        )
    sys.exit(0 if report.ok else 1)


def _check_vin(report, vin: str | None) -> None:
    """A valid bundle of another vehicle verifies as well as the car's own: it must be
    the bundle of the VIN the buyer asked about. (A bundle that did not decode has no
    VIN, and has failed already.)"""
    from ledger.verify import Finding

    if vin is not None and report.vin and report.vin != vin:
        detail = f"the bundle is for VIN {report.vin}, not {vin}: it is another vehicle's history"
        report.findings.insert(0, Finding(False, "vin", detail))


def _vehicle_url(source: str) -> tuple[str, str | None]:
    """(the vehicle's URL, its VIN) for a vehicle page, history or bundle URL, with the
    VIN as the ledger spells it (people type them in lowercase, with spaces or dashes);
    the VIN is None for a URL that names no vehicle."""
    from urllib.parse import quote, unquote

    from core.vin import normalize_vin

    url = re.split(r"[?#]", source, maxsplit=1)[0]  # ?lang=zh, as the page links itself
    url = re.sub(r"/(history|bundle)?$", "", url.rstrip("/"))
    head, sep, vin = url.rpartition("/vehicles/")
    if not sep or "/" in vin or not vin:
        return url, None
    vin = normalize_vin(unquote(vin))
    return f"{head}/vehicles/{quote(vin, safe='')}", vin


def _detail(r) -> str:
    try:
        return str(r.json().get("detail", r.text[:300]))
    except ValueError:
        return r.text[:300]


def _read_vkey(vkey: str) -> str:
    return Path(vkey).read_text().strip() if os.path.exists(vkey) else vkey


# `vinledger monitor`'s exit codes (README, "For auditors and monitors").
def _fetcher(client):
    """``client.get_bytes`` (one keep-alive connection for a poll's many tiles), with
    what goes wrong as a ``VinledgerError``."""
    import httpx

    from api.client import ClientError
    from core.errors import InvalidInput

    def fetch(path: str) -> bytes:
        try:
            return client.get_bytes(path)
        except ClientError as err:  # what the ledger, or something on the way, said
            raise InvalidInput(f"{path}: {err}") from None
        except httpx.HTTPError as err:
            raise InvalidInput(f"could not fetch {path}: {err}") from None

    return fetch


def _progress(read: int, size: int) -> None:
    """A long catch-up saves its progress every so often; say how far it is."""
    click.echo(f"  read {read:,} of {size:,} entries (progress saved)", err=True)
