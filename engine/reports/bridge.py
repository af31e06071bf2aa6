"""Why the margin moved: a bridge from the previous comparable period to this one, in dollars and margin points.

Revenue parts (engine/reports/bridge_revenue.py) and COGS parts (engine/reports/bridge_cogs.py) are each the
difference of two consecutive, fully computed states, in a fixed order: revenue first (metered volume, seats,
billed lines, contract changes), then COGS (volume, mix, price, caching, tokens per request, non-token). Each state
is rounded to the cent before the differences are taken, so the parts, as shown, add up to the change of the
figures as shown (this period's revenue to the cent minus last period's), with nothing left over; the margin of
each state is rounded to 0.01 point the same way, so the points add up too. docs/why.md states the method with
a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from engine.money import CENT, NANO, TENTH
from engine.periods import Period
from engine.pricing.book import PriceBook
from engine.reports.bridge_cogs import (
    COGS_STEPS,
    NON_TOKEN_INDEX,
    Cell,
    CogsBridge,
    cogs_bridge,
    read_cells,
    reprice_previous,
)
from engine.reports.bridge_revenue import REVENUE_STEPS, KeyPieces, RevenueBridge, revenue_bridge
from engine.reports.names import resolve_customer, resolve_product
from engine.store.meta import get_meta
from engine.vocab import SubjectKind, Unit

Side = Literal["revenue", "cogs"]
TOP_CONTRIBUTORS = 3
MAX_CELLS = 200  # cells listed in --json: the biggest movers (the parts are summed over every cell)

# (part id, side, label), in the order the states are computed and the parts are shown.
PARTS: tuple[tuple[str, Side, str], ...] = (
    ("metered_volume", "revenue", "metered volume"),
    ("seats", "revenue", "seats"),
    ("billed", "revenue", "billed revenue (invoice lines)"),
    ("contract_changes", "revenue", "contract changes"),
    ("volume", "cogs", "volume (requests)"),
    ("mix", "cogs", "mix (models, features, products)"),
    ("price", "cogs", "price (rates and discounts)"),
    ("caching", "cogs", "caching (cache-read share)"),
    ("tokens_per_request", "cogs", "tokens per request"),
    ("non_token", "cogs", "non-token (retrieval, rerank, compute)"),
)
_REVENUE_PART = dict(zip(REVENUE_STEPS, ("metered_volume", "seats", "billed", "contract_changes"), strict=True))
_COGS_PART = dict(
    zip(COGS_STEPS, ("volume", "mix", "price", "caching", "tokens_per_request", "non_token"), strict=True)
)
# A cell's own request growth is volume and mix together: only across cells do the two differ.
_PIECE_PART = {
    "volume_mix": "volume_and_mix",
    "price": "price",
    "caching": "caching",
    "tokens": "tokens_per_request",
    "non_token": "non_token",
}


def round_half_up(value: Fraction, step: Decimal) -> Decimal:
    """An exact fraction rounded half-up (away from zero on a tie, as engine.money rounds) to a multiple of step."""
    units = value / Fraction(step)
    whole = (abs(units.numerator) * 2 + units.denominator) // (2 * units.denominator)
    return (whole if units >= 0 else -whole) * step


@dataclass(frozen=True, kw_only=True)
class BridgePart:
    """One driver: how much it moved revenue or COGS (USD, to the cent) and the margin (points)."""

    part: str
    side: Side
    label: str
    change: Decimal  # of revenue or of COGS
    margin_pts: Decimal | None  # to 0.01; None when a state has no revenue
    margin_pts_tenth: Decimal | None  # to 0.1, what text shows (these add up at their own precision)

    @property
    def gross_profit(self) -> Decimal:
        """The part's effect on gross profit: revenue adds, COGS takes away."""
        return self.change if self.side == "revenue" else -self.change


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


@dataclass(kw_only=True)
class Bridge:
    """The margin bridge of one customer, one product or the portfolio."""

    kind: SubjectKind
    key: str | None
    name: str
    period: Period
    previous: Period
    revenue: tuple[Decimal, Decimal]  # (previous, current), to the cent
    cogs: tuple[Decimal, Decimal]
    margin: tuple[Decimal | None, Decimal | None]  # exact
    parts: list[BridgePart]
    contributors: list[Contributor]  # every piece, biggest effect on gross profit first
    cells: list[Cell]
    contracts: list[KeyPieces]
    requests: tuple[int, int]
    repriced_groups: int
    notes: list[str] = field(default_factory=list)

    @property
    def gross_profit(self) -> tuple[Decimal, Decimal]:
        return self.revenue[0] - self.cogs[0], self.revenue[1] - self.cogs[1]

    @property
    def margin_change(self) -> Decimal | None:
        a, b = self.margin
        return None if a is None or b is None else b - a

    def top(self, n: int = TOP_CONTRIBUTORS) -> list[Contributor]:
        return [c for c in self.contributors if c.change][:n]


def _margin(revenue: Fraction, cogs: Fraction) -> Fraction | None:
    return (revenue - cogs) / revenue * 100 if revenue > 0 else None


def assemble(
    *,
    kind: SubjectKind,
    key: str | None,
    name: str,
    period: Period,
    revenue: RevenueBridge,
    cogs: CogsBridge,
    notes: list[str] | None = None,
) -> Bridge:
    """Round each state, take the differences, and rank the pieces."""
    rev_states = [Fraction(r) for r in revenue.states]
    cogs_states = [c / NANO for c in cogs.states]  # USD
    pairs = [(r, cogs_states[0]) for r in rev_states] + [(rev_states[-1], c) for c in cogs_states[1:]]
    margins = [_margin(r, c) for r, c in pairs]
    rev_cents = [round_half_up(r, CENT) for r in rev_states]
    cogs_cents = [round_half_up(c, CENT) for c in cogs_states]
    changes = [b - a for a, b in pairwise(rev_cents)]
    changes += [b - a for a, b in pairwise(cogs_cents)]

    def points(step: Decimal) -> list[Decimal | None]:
        if any(m is None for m in margins):
            return [None] * (len(margins) - 1)
        shown = [round_half_up(m, step) for m in margins if m is not None]
        return [b - a for a, b in pairwise(shown)]

    parts = [
        BridgePart(part=part, side=side, label=label, change=change, margin_pts=pts, margin_pts_tenth=tenth)
        for (part, side, label), change, pts, tenth in zip(PARTS, changes, points(CENT), points(TENTH), strict=True)
    ]
    first, last = margins[0], margins[-1]
    return Bridge(
        kind=kind,
        key=key,
        name=name,
        period=period,
        previous=period.previous(),
        revenue=(rev_cents[0], rev_cents[-1]),
        cogs=(cogs_cents[0], cogs_cents[-1]),
        margin=(_dec(first), _dec(last)),
        parts=parts,
        contributors=_contributors(kind, revenue, cogs),
        cells=cogs.cells,
        contracts=revenue.keys,
        requests=(cogs.requests_before, cogs.requests_now),
        repriced_groups=cogs.repriced_groups,
        notes=notes or [],
    )


def _dec(value: Fraction | None) -> Decimal | None:
    return None if value is None else Decimal(value.numerator) / Decimal(value.denominator)


def margin_bridge(
    conn: Connection,
    kind: SubjectKind,
    ref: str | None,
    period: Period,
    *,
    prices: PriceBook,
    timezone: str,
) -> Bridge:
    """The bridge for a customer (`ref` is an id, name or alias), a product (`ref` its name) or the portfolio
    (`ref` None), from `period.previous()` to `period`. Raises UnknownSubject for a name that fits nothing."""
    if kind is SubjectKind.CUSTOMER:
        key, name = resolve_customer(conn, ref or "")
    elif kind is SubjectKind.PRODUCT:
        key = name = resolve_product(conn, ref or "")
    else:
        key, name = None, "Portfolio"
    subject = None if key is None else str(kind)
    cells = read_cells(conn, period, subject, key)
    moved = reprice_previous(conn, cells, period, prices, ZoneInfo(timezone), subject, key)
    cogs = cogs_bridge(cells.values(), repriced_groups=moved)
    revenue = revenue_bridge(
        conn,
        period,
        customer=key if kind is SubjectKind.CUSTOMER else None,
        product=key if kind is SubjectKind.PRODUCT else None,
    )
    notes: list[str] = []
    stored = get_meta(conn, "price_fingerprint")
    if stored is not None and stored != prices.fingerprint:
        notes.append(
            "the price file changed since these events were priced: both periods are re-priced with today's "
            "file for the price part only; run `marginbot reprice` so COGS itself follows it"
        )
    unpriced = sum(1 for c in cells.values() if _unpriced(c))
    if unpriced:
        notes.append("some usage has no price anywhere: it counts as $0 COGS in both periods until it is priced")
    return assemble(kind=kind, key=key, name=name, period=period, revenue=revenue, cogs=cogs, notes=notes)


def _unpriced(cell: Cell) -> bool:
    return bool(cell.before.unpriced or cell.now.unpriced)


# ---------------------------------------------------------------- contributors in words


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
        per = [Fraction(u.input_tokens + u.output_tokens, u.requests) for u in (b, n)]
        return f"tokens per request {round_half_up(per[0], Decimal(1)):,} → {round_half_up(per[1], Decimal(1)):,}"
    non_token = [sum(u.costs[i] for i in NON_TOKEN_INDEX) for u in (b, n)]
    per = [Fraction(c, u.requests * NANO) for c, u in zip(non_token, (b, n), strict=True)]
    tenth_cent = Decimal("0.0001")
    return f"non-token cost per request ${round_half_up(per[0], tenth_cent)} → ${round_half_up(per[1], tenth_cent)}"


def _key_detail(part: str, kp: KeyPieces) -> str:
    if part == "billed":
        return f"billed (invoice lines) ${kp.before:,.2f} → ${kp.after:,.2f}"
    if part == "seats":
        return f"seats {_num(kp.seats_before)} → {_num(kp.seats_after)}"
    if part == "metered_volume":
        unit = _UNIT_WORDS.get(kp.unit, "units") if kp.unit else "units"
        ratio = _times(Fraction(kp.units_after) / Fraction(kp.units_before)) + " " if kp.units_before else ""
        return f"metered {unit} {ratio}({_num(kp.units_before)} → {_num(kp.units_after)})"
    if not kp.terms_before:
        return "new contract: " + "; ".join(kp.terms_after)
    if not kp.terms_after:
        return "contract ended: " + "; ".join(kp.terms_before)
    return "terms: " + "; ".join(kp.terms_before) + " → " + "; ".join(kp.terms_after)


_UNIT_WORDS = {Unit.REQUEST: "requests", Unit.TASK: "tasks", Unit.TOKENS_1K: "1k tokens"}


def _num(value: Decimal | None) -> str:
    if value is None:
        return "none"
    return f"{round_half_up(Fraction(value), TENTH).normalize():,f}"


def _contributors(kind: SubjectKind, revenue: RevenueBridge, cogs: CogsBridge) -> list[Contributor]:
    out: list[Contributor] = []
    for kp in revenue.keys:
        who = kp.customer + (f" ({kp.product})" if kp.product else " (all products)")
        for step, amount in kp.pieces.items():
            if not amount:
                continue
            part = _REVENUE_PART[step]
            out.append(
                Contributor(
                    side="revenue",
                    part=part,
                    words=f"{signed_usd(amount)} revenue · {who}: {_key_detail(part, kp)}",
                    change=amount,
                    keys={"customer": kp.customer, "product": kp.product or None},
                    before={"revenue_usd": kp.before, "terms": kp.terms_before, "units": kp.units_before},
                    after={"revenue_usd": kp.after, "terms": kp.terms_after, "units": kp.units_after},
                )
            )
    products = len({c.key.product for c in cogs.cells})
    for cell in cogs.cells:
        for step in ("volume_mix", "price", "caching", "tokens", "non_token"):
            piece = cell.piece(step)
            if not piece:
                continue
            part = _PIECE_PART[step]
            amount = Decimal(piece.numerator) / Decimal(piece.denominator) / NANO
            k = cell.key
            out.append(
                Contributor(
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
            )
    out.sort(key=lambda c: (-abs(c.gross_profit), c.words))
    return out
