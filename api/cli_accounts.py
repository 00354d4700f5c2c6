"""``vinledger commissions``: a dealer's or referrer's commission statement, read over
the API with its own token (``vinledger tokens issue ACTOR``), as text for a person, or
as CSV or JSON for an accounting system. The amounts are the ledger's decimal strings,
never converted to floating point on the way. ``vinledger referrals``: the terms of
referral codes, with the same token."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import click

_DAY = click.DateTime(["%Y-%m-%d"])
_STATUSES = ("payable", "held", "disputed", "voided", "replaced")


def _day(value: datetime | None) -> date | None:
    return None if value is None else value.date()


def _token(token_file: Path | None) -> str:
    from api.cli import fail

    where = str(token_file) if token_file is not None else "$VINLEDGER_TOKEN"
    if token_file is not None:
        raw = token_file.read_bytes().strip()
    else:
        raw = os.environ.get("VINLEDGER_TOKEN", "").strip().encode("utf-8", "replace")
    if not raw:
        fail(
            "give the API token `vinledger tokens issue ACTOR` printed: in a file "
            "(--token-file FILE, readable by you alone) or in $VINLEDGER_TOKEN"
        )
    if not raw.isascii() or any(c in raw for c in b" \t\r\n"):
        fail(
            f"{where} does not hold an API token as `vinledger tokens issue` prints it (one "
            "word of letters, digits, '-' and '_'): copy it again"
        )
    return raw.decode("ascii")


@click.command()
@click.option("--url", required=True, help="the ledger, e.g. https://ledger.example")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file holding your API token (or set $VINLEDGER_TOKEN)",
)
@click.option("--as-of", type=_DAY, help="statuses as of this day (the ledger's; default today)")
@click.option("--from", "sold_from", type=_DAY, help="only sales sold on or after this day")
@click.option("--to", "sold_to", type=_DAY, help="only sales sold on or before this day")
@click.option("--csv", "as_csv", is_flag=True, help="the rows as CSV, amounts as written")
@click.option("--json", "as_json", is_flag=True, help="the statement as the API answers it")
def commissions(
    url: str,
    token_file: Path | None,
    as_of: datetime | None,
    sold_from: datetime | None,
    sold_to: datetime | None,
    as_csv: bool,
    as_json: bool,
) -> None:
    """Your commission statement: each commission with its sale, status and amount, and
    the totals per beneficiary and currency (GET /commissions)."""
    from api.cli import fail
    from api.client import ClientError, NoAnswer, VinledgerClient

    if as_csv and as_json:
        fail("give --csv or --json, not both")
    asked = (_day(as_of), _day(sold_from), _day(sold_to))
    try:
        with VinledgerClient(url, token=_token(token_file)) as client:
            answer = client.commissions(*asked, csv=as_csv)
    except (ClientError, NoAnswer) as err:
        fail(str(err))
    if as_csv:
        click.echo(answer, nl=False)
    elif as_json:
        click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
    else:
        try:
            lines = statement_lines(answer, asked[1], asked[2])
        except (KeyError, TypeError, ValueError, ArithmeticError) as err:
            fail(
                f"{url} answered GET /commissions with something that is not a vinledger "
                f"statement ({type(err).__name__}: {err}); --json shows it as it came"
            )
        for line in lines:
            click.echo(line)


def statement_lines(answer: dict, sold_from: date | None, sold_to: date | None) -> list[str]:
    """The statement as text: a line per commission, then the totals."""
    rows, totals = answer["commissions"], answer["totals"]
    span = f", sales sold {sold_from or '…'} to {sold_to or '…'}" if sold_from or sold_to else ""
    lines = [f"Commissions as of {answer['as_of']} (the ledger's day){span}: {len(rows)}"]
    for r in rows:
        amount = f"{r['amount']} {r['currency']}" if r.get("amount") is not None else "—"
        who = f"{r['beneficiary']} (level {r['level']})" if r.get("beneficiary") else "—"
        status = r["status"] + (f" until {r['held_until']}" if r["status"] == "held" else "")
        why = f" — {r['reason']}" if r.get("reason") else ""
        lines.append(
            f"  sale entry {r['sale']}  {r['sold_on']}  {r['vin']}  code {r.get('code')}  "
            f"{who}  {amount}  {status}{why}"
        )
    if totals:
        lines.append("Totals:")
    for t in totals:
        parts = [f"{s} {t[s]}" for s in _STATUSES if s == "payable" or Decimal(t[s])]
        lines.append(f"  {t['beneficiary']}  {t['currency']}: " + ", ".join(parts))
    return lines


@click.command()
@click.argument("code", required=False)
@click.option("--url", required=True, help="the ledger, e.g. https://ledger.example")
@click.option(
    "--token-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a file holding your API token (or set $VINLEDGER_TOKEN)",
)
@click.option("--json", "as_json", is_flag=True, help="the terms as the API answers them")
def referrals(code: str | None, url: str, token_file: Path | None, as_json: bool) -> None:
    """The terms of referral code CODE (a dealer: what a sale naming it pays, and to
    whom), or, with no CODE, of every code your referrer token holds (GET /referrals)."""
    from api.cli import fail
    from api.client import ClientError, NoAnswer, VinledgerClient

    try:
        with VinledgerClient(url, token=_token(token_file)) as client:
            terms = client.referrals(code)
    except (ClientError, NoAnswer) as err:
        fail(str(err))
    if as_json:
        click.echo(json.dumps(terms if code is None else terms[0], indent=2, ensure_ascii=False))
        return
    if code is None:
        click.echo(f"Referral codes: {len(terms)}")
    for t in terms:
        try:
            click.echo(terms_line(t))
        except (KeyError, TypeError, AttributeError) as err:
            fail(
                f"{url} answered with something that is not a referral code's terms "
                f"({type(err).__name__}: {err}); --json shows it as it came"
            )


def terms_line(t: dict) -> str:
    """A code's terms on one line: "AMY-26  rule flat 1.0 (amount 200.00, currency
    EUR)  model 1HG/2003  region CN-SH  referrer ref-amy, level 2 ref-boss  since …"."""
    params = ", ".join(f"{k} {v}" for k, v in sorted(t["params"].items()))
    version = f" {t['rule_version']}" if t.get("rule_version") else " (its plugin is missing)"
    paid = t["referrer"] + (f", level 2 {t['upline']}" if t.get("upline") else "")
    return (
        f"  {t['code']}  rule {t['rule']}{version}"
        + (f" ({params})" if params else "")
        + f"  model {t['model']}  region {t['region']}  referrer {paid}  since {t['created_at']}"
    )
