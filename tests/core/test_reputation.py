"""core.reputation: a dealer's figures, each backed by entries, and the stated ranking."""

from __future__ import annotations

import itertools
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from core.reputation import MIN_SALES_TO_RANK, dealer_figures, rank


def entry(index, kind, signer, **record):
    return {"index": index, "kind": kind, "signer": {"id": signer}, "record": record}


def history(dealer="bay", sales=6, returns=(), claims=(), complaints=0, start=0):
    """``returns``/``claims``: approved flags, one claim on each of the first sales."""
    items, n = [], start
    sale_ix = []
    for _ in range(sales):
        items.append(entry(n, "sale", dealer, dealer=dealer))
        sale_ix.append(n)
        n += 1
    for kind, outcomes in (("return_request", returns), ("warranty_claim", claims)):
        for sale, approved in zip(sale_ix, outcomes, strict=False):
            items.append(entry(n, kind, dealer, sale=sale))
            items.append(
                entry(n + 1, "claim_decision", "operator", claim=n, sale=sale, approved=approved)
            )
            n += 2
    for _ in range(complaints):
        items.append(entry(n, "complaint", "operator", dealer=dealer, upheld=True))
        n += 1
    items.append(entry(n, "correction", "operator", corrects=sale_ix[0], fields={"x": 1}))
    return items


def test_figures_name_their_entries():
    items = history(returns=[True, False], claims=[True], complaints=1)
    f = dealer_figures("bay", items)
    assert f["sales"] == {"count": 6, "entries": [0, 1, 2, 3, 4, 5]}
    assert f["returns"] == {"filed": [6, 8], "honoured": [6], "refused": [8]}
    assert f["warranty_claims"] == {"filed": [10], "honoured": [10], "refused": []}
    assert f["complaints_upheld"] == {"count": 1, "entries": [12]}
    assert f["corrections_of_its_entries"] == {"count": 1, "entries": [13]}
    assert f["honoured_share"] == round(2 / 3, 4)
    assert f["complaints_per_100_sales"] == round(100 / 6, 2)


def test_another_dealers_sale_or_a_complaint_about_others_does_not_count():
    items = history("bay") + history("rival", start=100, complaints=3)
    assert dealer_figures("bay", items)["complaints_upheld"]["count"] == 0
    assert dealer_figures("rival", items)["sales"]["count"] == 6


@given(
    st.lists(
        st.tuples(st.integers(0, 20), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=6
    )
)
def test_ranking_follows_the_stated_rule(dealers):
    figures = []
    for n, (sales, complaints, refused) in enumerate(dealers):
        outcomes = [False] * min(refused, sales) + [True] * max(0, min(sales, 3) - refused)
        items = history(
            f"d{n}",
            sales=max(sales, 1),
            returns=outcomes[: max(sales, 1)],
            complaints=complaints,
            start=n * 1000,
        )
        figures.append(dealer_figures(f"d{n}", items))
    ranked = rank(figures)
    assert sorted(f["dealer"] for f in ranked) == sorted(f["dealer"] for f in figures)
    rated = [f for f in ranked if f["rank"] is not None]
    assert all(f["sales"]["count"] >= MIN_SALES_TO_RANK for f in rated)
    assert [f["rank"] for f in rated] == list(range(1, len(rated) + 1))

    def key(f):  # the rule, written out again on exact ratios: complaints, honoured, sales
        complaints = Fraction(f["complaints_upheld"]["count"], f["sales"]["count"])
        honoured = sum(len(f[k]["honoured"]) for k in ("returns", "warranty_claims"))
        decided = honoured + sum(len(f[k]["refused"]) for k in ("returns", "warranty_claims"))
        share = Fraction(honoured, decided) if decided else Fraction(1)
        return (complaints, -share, -f["sales"]["count"])

    assert all(key(a) <= key(b) for a, b in itertools.pairwise(rated))


def test_ranking_is_on_exact_ratios_not_on_the_rounded_figures():
    # 1 complaint in 301 sales and 1 in 299 both show 0.33 per 100; fewer per sale ranks
    # first, even with a worse honoured share, which would decide a tie.
    fewer = dealer_figures("fewer", history("fewer", sales=301, returns=[False], complaints=1))
    more = dealer_figures(
        "more", history("more", sales=299, returns=[True], complaints=1, start=1000)
    )
    assert fewer["complaints_per_100_sales"] == more["complaints_per_100_sales"] == 0.33
    assert [f["dealer"] for f in rank([more, fewer])] == ["fewer", "more"]


def test_honoured_shares_are_compared_exactly():
    # 2 of 3 honoured and 6,667 of 10,000 both show 0.6667; the larger share ranks first,
    # though a tie on the rounded shares would go to the name.
    third = dealer_figures("a-third", history("a-third", sales=6, returns=[True, True, False]))
    close = dealer_figures("b-close", history("b-close", sales=6, start=100))
    close["returns"] = {
        "filed": list(range(10_000)),
        "honoured": list(range(6_667)),
        "refused": list(range(6_667, 10_000)),
    }
    close["honoured_share"] = round(6_667 / 10_000, 4)
    assert third["honoured_share"] == close["honoured_share"] == 0.6667
    assert [f["dealer"] for f in rank([third, close])] == ["b-close", "a-third"]


def test_a_complaint_corrected_to_not_upheld_does_not_count():
    items = history(complaints=0)
    n = len(items)

    def complaint(index):
        record = {
            "kind": "complaint",
            "vin": "1HGCM82633A004352",
            "occurred_at": "2026-06-20T00:00:00Z",
            "dealer": "bay",
            "summary": "sold with a hidden fault",
            "upheld": True,
        }
        return {"index": index, "kind": "complaint", "signer": {"id": "op"}, "record": record}

    items += [complaint(n), complaint(n + 1)]
    items.append(
        entry(n + 2, "correction", "op", corrects=n, reason="appeal", fields={"upheld": False})
    )
    items.append(
        entry(n + 3, "correction", "op", corrects=n + 1, reason="x", fields={"upheld": "no"})
    )
    f = dealer_figures("bay", items)
    # The second correction is not one a complaint allows: that complaint stands, as the
    # vehicle's history shows it.
    assert f["complaints_upheld"] == {"count": 1, "entries": [n + 1]}
