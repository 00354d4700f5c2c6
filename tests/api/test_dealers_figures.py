"""GET /dealers reads every sale, claim and decision in the log; anyone may ask it.
The figures are computed once per log size and by one request at a time."""

from __future__ import annotations

import threading

from tests.api.test_dealer_flow import post, sale
from tests.conftest import onboard


def _count_reads(monkeypatch, ledger) -> list[int]:
    sizes: list[int] = []
    real = ledger._dealer_items

    def counted(s, dealers, size):
        sizes.append(size)
        return real(s, dealers, size)

    monkeypatch.setattr(ledger, "_dealer_items", counted)
    return sizes


def test_the_figures_are_read_from_the_log_once_per_size(client, sqlite_ledger, monkeypatch):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    reads = _count_reads(monkeypatch, sqlite_ledger)
    first = client.get("/dealers").json()
    assert client.get("/dealers").json() == first
    assert client.get("/dealers/bay-auto").json()["size"] == first["size"]
    assert len(reads) == 1
    post(client, dealer, sale())
    later = client.get("/dealers").json()
    assert len(reads) == 2 and later["size"] > first["size"]
    assert later["dealers"][0]["sales"]["count"] == 1 != first["dealers"][0]["sales"]["count"]


def test_while_one_request_computes_the_others_get_the_last_figures(
    client, sqlite_ledger, monkeypatch
):
    dealer = onboard(sqlite_ledger, "bay-auto", "dealer")
    before = client.get("/dealers").json()
    post(client, dealer, sale())
    computing, release = threading.Event(), threading.Event()
    real = sqlite_ledger._dealer_items

    def slow(s, dealers, size):
        computing.set()
        release.wait(5)
        return real(s, dealers, size)

    monkeypatch.setattr(sqlite_ledger, "_dealer_items", slow)
    answers: list[dict] = []
    t = threading.Thread(target=lambda: answers.append(sqlite_ledger.dealers()))
    t.start()
    assert computing.wait(5)
    assert sqlite_ledger.dealers() == before  # not a second scan: the last figures
    release.set()
    t.join(5)
    assert answers[0]["size"] > before["size"]
