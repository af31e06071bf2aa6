"""The margin bridge in words: each cell's and contract's pieces as contributors a person can check ("+$1,150.00
COGS · gpt-4o on agent-run: volume ×3.1 (1,000 → 3,100 requests)"), with the keys and counts that trace them to
rows of the daily rollup and of the contract table."""

from __future__ import annotations

import calendar
import heapq
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from fractions import Fraction
from functools import partial
from itertools import pairwise
from typing import Any, Literal

from engine.money import CENT, NANO, TENTH, usd_text
from engine.reports.bridge_cogs import NON_TOKEN_INDEX, Cell, CogsBridge
from engine.reports.bridge_revenue import KeyPieces, RevenueBridge
from engine.reports.revenue import month_fraction
from engine.vocab import SplitBasis, SubjectKind, Unit

Side = Literal["revenue", "cogs"]
REVENUE_PART = {"volume": "metered_volume", "seats": "seats", "billed": "billed", "contract": "contract_changes"}
# A cell's own request growth is volume and mix together: only across cells do the two differ.
PIECE_PART = {
    "volume_mix": "volume_and_mix",
    "price": "price",
    "caching": "caching",
    "tokens": "tokens_per_request",
    "non_token": "non_token",
}


def round_half_up(value: Fraction, step: Decimal) -> Decimal:
    """An exact fraction rounded half-up (away from zero on a tie, as engine.money rounds) to a multiple of step."""
    # value / step as numerator over denominator, unreduced: a Fraction's division reduces by a gcd, which for the
    # bridge's states (thousands of digits over a portfolio) cost more than everything else done with them.
    step_num, step_den = step.as_integer_ratio()
    num, den = value.numerator * step_den, value.denominator * step_num
    whole = (abs(num) * 2 + den) // (2 * den)
    return (whole if num >= 0 else -whole) * step


@dataclass(kw_only=True)
class Contributor:
    """One traceable piece of the bridge: a cell (customer, product, feature, model) or a contract key."""

    side: Side
    part: str
    words: str
    change: Decimal  # exact USD, of revenue or of COGS
    keys: dict[str, str | None]
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def gross_profit(self) -> Decimal:
        return self.change if self.side == "revenue" else -self.change


def signed_usd(value: Decimal) -> str:
    """ "+$1,150.00" / "-$300.00": a change, with its sign, to the cent."""
    q = round_half_up(Fraction(value), CENT)
    return f"{'-' if q < 0 else '+'}${abs(q):,.2f}"


def _times(value: Fraction) -> str:
    return f"×{round_half_up(value, TENTH)}"


def _pct(value: Fraction | None) -> str:
    return "n/a" if value is None else f"{round_half_up(value * 100, TENTH)}%"


def _cell_name(kind: SubjectKind, cell: Cell, products: int) -> str:
    k = cell.key
    name = f"{k.model or '(no model)'} on {k.feature or '(no feature)'}"
    if kind is not SubjectKind.PRODUCT and products > 1:
        name += f" in {k.product or '(no product)'}"
    if kind is not SubjectKind.CUSTOMER:
        name += f" for {k.customer}"
    return name


def _cell_detail(part: str, cell: Cell) -> str:
    b, n = cell.before, cell.now
    if part == "volume_and_mix":
        if not cell.comparable:
            if not b.requests:
                return f"new ({n.requests:,} requests)"
            return f"stopped (was {b.requests:,} requests)"
        return f"volume {_times(Fraction(n.requests, b.requests))} ({b.requests:,} → {n.requests:,} requests)"
    if part == "price":
        repriced = b.cost + sum(cell.repriced_delta)
        change = Fraction(repriced - b.cost, b.cost) * 100 if b.cost else None
        moved = "n/a" if change is None else f"{'+' if change >= 0 else ''}{round_half_up(change, TENTH)}%"
        return f"price {moved} on last period's usage"
    if part == "caching":
        return f"cache-read share {_pct(cell.cache_share(b))} → {_pct(cell.cache_share(n))}"
    if part == "tokens_per_request":
        tokens = [Fraction(u.input_tokens + u.output_tokens, u.requests) for u in (b, n)]
        cost = [Fraction(_token_cost(u), u.requests * NANO) for u in (b, n)]
        whole, tenth_cent = Decimal(1), Decimal("0.0001")
        return (
            f"tokens per request {round_half_up(tokens[0], whole):,} → {round_half_up(tokens[1], whole):,}, "
            f"token cost per request ${round_half_up(cost[0], tenth_cent):,} → ${round_half_up(cost[1], tenth_cent):,}"
        )
    non_token = [sum(u.costs[i] for i in NON_TOKEN_INDEX) for u in (b, n)]
    per = [Fraction(c, u.requests * NANO) for c, u in zip(non_token, (b, n), strict=True)]
    tenth_cent = Decimal("0.0001")
    return f"non-token cost per request ${round_half_up(per[0], tenth_cent)} → ${round_half_up(per[1], tenth_cent)}"


def _token_cost(use: Any) -> int:
    return sum(c for i, c in enumerate(use.costs) if i not in NON_TOKEN_INDEX)


def _key_detail(part: str, kp: KeyPieces) -> str:
    if part == "billed":
        what = "one-off charges" if kp.one_off else "billed (invoice lines)"
        return f"{what} {usd_text(kp.before)} → {usd_text(kp.after)}"
    if part == "seats":
        return f"seats {_num(kp.seats_before)} → {_num(kp.seats_after)}"
    if part == "metered_volume":
        unit = _UNIT_WORDS.get(kp.unit, "units") if kp.unit else "units"
        ratio = _times(Fraction(kp.units_after) / Fraction(kp.units_before)) + " " if kp.units_before else ""
        metered = f"metered {unit} {ratio}({_num(kp.units_before)} → {_num(kp.units_after)})"
        if kp.share_before is None and kp.share_after is None:
            return metered
        # A product's part of a contract for every product moves with its share of the traffic: a flat fee's share
        # read "metered units (0 → 0)".
        by = _UNIT_WORDS.get(kp.split_unit, "requests") if kp.split_unit else "requests"
        if kp.split_before or kp.split_after:  # a seat or flat fee: by requests, or COGS where requests are unknown
            words = [" and ".join(_SPLIT_WORDS[b] for b in bases) for bases in (kp.split_before, kp.split_after)]
            by = " → ".join(dict.fromkeys(w for w in words if w))  # "requests → COGS" where the basis changed
        share = f"the product's share of it, by {by}: {_share(kp.share_before)} → {_share(kp.share_after)}"
        return f"{metered}; {share}" if kp.units_before or kp.units_after else share
    if kp.terms_before and kp.terms_before == kp.terms_after:
        # The same terms over spans of different lengths (a 31-day month against a 30-day one in a trailing
        # window, or a contract in force for part of a period): the fees accrue by day.
        return f"same terms, different days in force: {'; '.join(kp.terms_after)}; {_days_in_force(kp)}"
    if kp.seats_only:
        # The seat count moved (the seats step has it, at last period's months in force); what is left is the
        # same fee over a different share of its months: 15 days of a 31-day month against 15 of a 30-day one.
        seats = " (the seat change is under seats)" if kp.seats_before != kp.seats_after else ""
        return f"days in force{seats}: {_days_in_force(kp)}"
    before = _terms_text(kp.terms_before, kp.spans_before, kp.period_before)
    after = _terms_text(kp.terms_after, kp.spans_after, kp.period_after)
    if not kp.terms_before:
        return "new contract: " + after
    if not kp.terms_after:
        return "contract ended: " + before
    return f"terms: {before} → {after}"


def _terms_text(terms: list[str], spans: list[tuple[date, date]], period: tuple[date, date] | None) -> str:
    """Each contract's terms, with the days it was in force where that is not the whole period ("usage:
    $0.05/request to Oct 15; usage: $0.06/request from Oct 16"), first in force first."""
    if period is None or len(spans) != len(terms):
        return "; ".join(terms)
    first, last = period
    words = []
    for (start, end), described in sorted(zip(spans, terms, strict=True)):
        if start == first and end == last:
            words.append(described)
        elif start == first:
            words.append(f"{described} to {_day(end)}")
        elif end == last:
            words.append(f"{described} from {_day(start)}")
        else:
            words.append(f"{described} {_day(start)} to {_day(end)}")
    return "; ".join(words)


def _day(day: date) -> str:
    return f"{day:%b} {day.day}"


def _days_in_force(kp: KeyPieces) -> str:
    return f"{_days_text(kp.spans_before)} → {_days_text(kp.spans_after)}"


def _days_text(spans: list[tuple[date, date]]) -> str:
    """The days contracts were in force, as a person counts them: "15 of October's 31 days", or from one day to
    another with the months they make ("Jul 1 to Sep 30, 3.00 months")."""
    words = []
    for start, end in sorted(set(spans)):
        last = calendar.monthrange(start.year, start.month)[1]
        if (start.year, start.month) == (end.year, end.month):
            words.append(f"{(end - start).days + 1} of {start:%B}'s {last} days")
        else:
            months = round_half_up(month_fraction(start, end), CENT)
            words.append(f"{start:%b} {start.day} to {end:%b} {end.day}, {months} months")
    return " and ".join(words) or "none"


_UNIT_WORDS = {Unit.REQUEST: "requests", Unit.TASK: "tasks", Unit.TOKENS_1K: "1k tokens"}
_SPLIT_WORDS = {SplitBasis.REQUESTS: "requests", SplitBasis.COGS: "COGS"}


def _share(value: Decimal | None) -> str:
    """A product's share of a contract's revenue, as a percentage to a tenth ("none": no revenue to share)."""
    return "none" if value is None else f"{round_half_up(Fraction(value) * 100, TENTH).normalize():f}%"


def _num(value: Decimal | None) -> str:
    if value is None:
        return "none"
    return f"{round_half_up(Fraction(value), TENTH).normalize():,f}"


def cell_pieces_usd(cell: Cell) -> tuple[Decimal, ...]:
    """A cell's pieces (`Cell.pieces`) in dollars as shown: the differences of its states each rounded to the cent
    once, half up, as the bridge's parts are the differences of its rounded states. A row's pieces then add up to
    its change as shown, and a subject with one cell has contributors equal to its parts: each difference rounded on
    its own, one price move read +$8.93 among the contributors and +$8.92 as the part, and a row's pieces
    3.26 + 8.93 − 5.04 = 7.15 against its change of 7.14."""
    shown = [round_half_up(state / NANO, CENT) for state in cell.states]
    return tuple(b - a for a, b in pairwise(shown))


def key_pieces_usd(kp: KeyPieces) -> dict[str, Decimal]:
    """A contract key's pieces (`KeyPieces.pieces`) in dollars as shown, as `cell_pieces_usd` has a cell's: the
    differences of its states (its revenue before, then after each step in turn) each rounded to the cent once,
    half up. They add up to its change as shown: each rounded on its own, a volume piece read +$85.00 beside a part
    of +$85.01 and revenue of $15.00 → $100.01."""
    state, shown = Fraction(kp.before), [round_half_up(Fraction(kp.before), CENT)]
    for amount in kp.pieces.values():
        state += Fraction(amount)
        shown.append(round_half_up(state, CENT))
    # The last state is its revenue after, as shown: the pieces are 28-digit Decimals, whose sum could miss it on a
    # half cent.
    shown[-1] = round_half_up(Fraction(kp.after), CENT)
    return {step: b - a for step, (a, b) in zip(kp.pieces, pairwise(shown), strict=True)}


def contributors(kind: SubjectKind, revenue: RevenueBridge, cogs: CogsBridge, limit: int) -> list[Contributor]:
    """The `limit` pieces with the biggest effect on gross profit, biggest first, in words. (A portfolio has tens
    of thousands of pieces: they are ranked on their amounts, and only the few shown are put into words.)"""
    # Ranked on floats: only the order of the few biggest matters, and every amount shown stays exact.
    ranked: list[tuple[float, tuple[str, ...], Callable[[], Contributor]]] = []
    for kp in revenue.keys:
        for step, amount in kp.pieces.items():
            if amount:
                part = REVENUE_PART[step]
                ranked.append((-abs(float(amount)), (kp.customer, kp.product, part), partial(_key_piece, kp, part)))
    products = len({c.key.product for c in cogs.cells})
    for cell in cogs.cells:
        for i, (step, piece) in enumerate(zip(PIECE_PART, cell.pieces(), strict=True)):
            if piece:
                part = PIECE_PART[step]
                # The pieces as shown are rounded for the few put into words only: for every cell of a portfolio
                # they took longer than the ranking.
                build = partial(_cell_piece, kind, cell, part, i, products)
                ranked.append((-abs(float(piece)) / NANO, (*cell.key, part), build))
    return [build() for _, _, build in heapq.nsmallest(limit, ranked, key=lambda item: item[:2])]


def _key_piece(kp: KeyPieces, part: str) -> Contributor:
    amount = key_pieces_usd(kp)[next(step for step, name in REVENUE_PART.items() if name == part)]
    who = kp.customer + (f" ({kp.product})" if kp.product else " (all products)")
    return Contributor(
        side="revenue",
        part=part,
        words=f"{signed_usd(amount)} revenue · {who}: {_key_detail(part, kp)}",
        change=amount,
        keys={"customer": kp.customer, "product": kp.product or None},
        before={"revenue_usd": kp.before, "terms": kp.terms_before, "units": kp.units_before},
        after={"revenue_usd": kp.after, "terms": kp.terms_after, "units": kp.units_after},
    )


def _cell_piece(kind: SubjectKind, cell: Cell, part: str, index: int, products: int) -> Contributor:
    k, amount = cell.key, cell_pieces_usd(cell)[index]
    return Contributor(
        side="cogs",
        part=part,
        words=f"{signed_usd(amount)} COGS · {_cell_name(kind, cell, products)}: {_cell_detail(part, cell)}",
        change=amount,
        keys={
            "customer": k.customer,
            "product": k.product or None,
            "feature": k.feature or None,
            "provider": k.provider or None,
            "model": k.model or None,
        },
        before={**cell.before.as_dict(), "cogs_usd": Decimal(cell.before.cost) / NANO},
        after={**cell.now.as_dict(), "cogs_usd": Decimal(cell.now.cost) / NANO},
    )
