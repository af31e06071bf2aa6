"""The bridge's contributors in words: the figures they quote are rounded the way every other money figure is.

(Kept apart from test_bridge.py, which builds whole books: these feed the pieces by hand.)"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from engine.reports.bridge_cogs import Cell, CellKey, CogsBridge
from engine.reports.bridge_revenue import KeyPieces, RevenueBridge
from engine.reports.bridge_words import cell_pieces_usd, contributors
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


def test_a_cells_pieces_are_its_rounded_states_differences_so_they_add_up_to_its_change() -> None:
    # $13.02 of COGS; volume to $16.275, price to $25.20, tokens per request down to $20.16. Each difference rounded on
    # its own read 3.26 + 8.93 - 5.04 = 7.15 against a change of 7.14 (and a price contributor of +$8.93 beside a
    # price part of +$8.92, the part being its rounded states' difference).
    nano = [Fraction(x) * 1_000_000_000 for x in ("13.02", "16.275", "25.20", "25.20", "20.16", "20.16")]
    cell = Cell(key=CellKey("delta", "agent", "chat", "acme", "small"), states=nano)
    pieces = cell_pieces_usd(cell)
    assert pieces == tuple(Decimal(x) for x in ("3.26", "8.92", "0.00", "-5.04", "0.00"))
    assert sum(pieces) == Decimal("20.16") - Decimal("13.02")
    kind = SubjectKind.CUSTOMER
    cogs = CogsBridge(states=[], cells=[cell], requests_before=1, requests_now=1, repriced_groups=0)
    [top, *_] = contributors(kind, RevenueBridge(states=[], keys=[]), cogs, 1)
    assert (top.part, top.change) == ("price", Decimal("8.92"))


def test_a_contract_keys_pieces_are_differences_of_its_rounded_states() -> None:
    from engine.reports.bridge_words import key_pieces_usd

    # kappa at $0.0015 a request: 10,001 requests ($15.0015, shown $15.00), then 66,670 ($100.005, shown $100.01).
    # The volume piece, $85.0035, rounded on its own read +$85.00 beside revenue $15.00 → $100.01 and a part of
    # +$85.01.
    before, after = D("15.0015"), D("100.005")
    kp = KeyPieces(
        customer="kappa",
        product="chat",
        pieces={"volume": after - before, "seats": D(0), "billed": D(0), "contract": D(0)},
        before=before,
        after=after,
        terms_before=[],
        terms_after=[],
    )
    assert key_pieces_usd(kp) == {"volume": D("85.01"), "seats": D(0), "billed": D(0), "contract": D(0)}
    revenue = RevenueBridge(states=[before, after, after, after, after], keys=[kp])
    cogs = CogsBridge(states=[Fraction(0)] * 7, cells=[], requests_before=0, requests_now=0, repriced_groups=0)
    (only,) = contributors(SubjectKind.CUSTOMER, revenue, cogs, limit=5)
    assert only.change == D("85.01") and only.words.startswith("+$85.01 revenue · kappa (chat)")
