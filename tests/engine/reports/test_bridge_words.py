"""The bridge's contributors in words: the figures they quote are rounded the way every other money figure is.

(Kept apart from test_bridge.py, which builds whole books: these feed the pieces by hand.)"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from engine.reports.bridge_cogs import CogsBridge
from engine.reports.bridge_revenue import KeyPieces, RevenueBridge
from engine.reports.bridge_words import contributors
from engine.vocab import SubjectKind

D = Decimal


def test_billed_revenue_is_quoted_half_up_like_the_revenue_it_explains() -> None:
    # $1,025.025 billed: an invoice of $100.10 over 4 days, one of them in the month, on top of $1,000.
    after = D(1000) + D("100.1") / 4
    billed = KeyPieces(
        customer="acme",
        product="",
        pieces={"volume": D(0), "seats": D(0), "billed": after - 900, "contract": D(0)},
        before=D(900),
        after=after,
        terms_before=[],
        terms_after=[],
    )
    revenue = RevenueBridge(states=[D(900), D(900), D(900), after, after], keys=[billed])
    cogs = CogsBridge(states=[Fraction(0)] * 7, cells=[], requests_before=0, requests_now=0, repriced_groups=0)
    (only,) = contributors(SubjectKind.CUSTOMER, revenue, cogs, limit=5)
    assert only.words == "+$125.03 revenue · acme (all products): billed (invoice lines) $900.00 → $1,025.03"
