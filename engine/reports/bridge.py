"""Why the margin moved: a bridge from the previous comparable period to this one, in dollars and margin points.

Revenue parts (engine/reports/bridge_revenue.py) and COGS parts (engine/reports/bridge_cogs.py) are each the
difference of two consecutive, fully computed states, in a fixed order: revenue first (metered volume, seats,
billed lines, contract changes), then COGS (volume, mix, price, caching, tokens per request, non-token). Each state
is rounded to the cent before the differences are taken, so the parts, as shown, add up to the change of the
figures as shown (this period's revenue to the cent minus last period's), with nothing left over. Margins are
different: the change in margin is shown as `marginbot margin` shows it, the exact change rounded once, and the
difference of two margins each rounded first can be 0.01 point off it (88.89 → 90.24 is 1.35 points, the change
is 1.3553). So each state's change in margin since the first state is rounded to 0.01 point (and to 0.1), and a
part's points are the difference of two of these: they add up to the change rounded once. A state without revenue
has no margin: the part that ends on it has no points, and the next part that brings revenue back carries them
(`_points`), so they still add up. docs/why.md states the method with a worked example.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from engine.money import CENT, MICRO, NANO, TENTH, fraction_decimal, json_number, round_to
from engine.periods import Period
from engine.pricing.book import PriceBook
from engine.reports.bridge_cogs import (
    Cell,
    CogsBridge,
    cogs_bridge,
    read_cells,
    reprice_booked,
    reprice_previous,
)
from engine.reports.bridge_revenue import KeyPieces, RevenueBridge, revenue_bridge
from engine.reports.bridge_words import (
    PIECE_PART,
    REVENUE_PART,
    Contributor,
    Side,
    cell_pieces_usd,
    contributors,
    key_pieces_usd,
    round_half_up,
)
from engine.reports.figures import Figures
from engine.reports.invoicing import awaiting, not_invoiced
from engine.reports.names import resolve_customer, resolve_product
from engine.store.meta import get_meta
from engine.vocab import SubjectKind

TOP_CONTRIBUTORS = 3
CONTRIBUTORS_KEPT = 10  # pieces put into words, biggest first
MAX_CELLS = 200  # cells listed in --json: the biggest movers (the parts are summed over every cell)

# (part id, side, label), in the order the states are computed and the parts are shown.
PARTS: tuple[tuple[str, Side, str], ...] = (
    ("metered_volume", "revenue", "metered volume"),
    ("seats", "revenue", "seats"),
    ("billed", "revenue", "billed revenue (invoice lines)"),
    ("contract_changes", "revenue", "contract changes (terms, days in force)"),
    ("volume", "cogs", "volume (requests)"),
    ("mix", "cogs", "mix (models, features, products)"),
    ("price", "cogs", "price (rates and discounts)"),
    ("caching", "cogs", "caching (cache-read share)"),
    ("tokens_per_request", "cogs", "tokens per request"),
    ("non_token", "cogs", "non-token (retrieval, rerank, compute)"),
)


@dataclass(frozen=True, kw_only=True)
class BridgePart:
    """One driver: how much it moved revenue or COGS (USD, to the cent) and the margin (points)."""

    part: str
    side: Side
    label: str
    change: Decimal  # of revenue or of COGS
    # To 0.01; None when either period has no revenue, or when this part leaves none (its points are then in the
    # next part's, named in that part's `carries`).
    margin_pts: Decimal | None
    margin_pts_tenth: Decimal | None  # to 0.1, what text shows (these add up at their own precision)
    carries: tuple[str, ...] = ()  # the parts before it, without points of their own, whose points are in its own
    # The change exactly (USD): what is shown where `change` rounds to $0.00 but is not nothing ("+<$0.01").
    exact: Fraction = Fraction(0)

    @property
    def short_label(self) -> str:
        """The label without its explanation: "contract changes"."""
        return self.label.split(" (")[0]

    @property
    def gross_profit(self) -> Decimal:
        """The part's effect on gross profit: revenue adds, COGS takes away."""
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
    margin: tuple[Decimal | None, Decimal | None]  # each period's, to 28 significant digits
    # This period's margin minus last period's, in points, exactly: the change is rounded once from this (the
    # Decimals above are cut at 28 digits, which could tip a change on a half the wrong way). None unless both
    # periods have revenue.
    margin_moved: Fraction | None
    parts: list[BridgePart]
    contributors: list[Contributor]  # the biggest pieces by effect on gross profit, biggest first
    cells: list[Cell]
    contracts: list[KeyPieces]
    requests: tuple[int, int]
    repriced_groups: int
    notes: list[str] = field(default_factory=list)
    # Revenue and COGS exactly (USD), (previous, current): what is shown where a figure to the cent is $0.00 but
    # the amount is not nothing ("<$0.01", engine.money.usd_text's rule).
    revenue_exact: tuple[Fraction, Fraction] = (Fraction(0), Fraction(0))
    cogs_exact: tuple[Fraction, Fraction] = (Fraction(0), Fraction(0))

    @property
    def gross_profit(self) -> tuple[Decimal, Decimal]:
        return self.revenue[0] - self.cogs[0], self.revenue[1] - self.cogs[1]

    @property
    def gross_profit_exact(self) -> tuple[Fraction, Fraction]:
        return self.revenue_exact[0] - self.cogs_exact[0], self.revenue_exact[1] - self.cogs_exact[1]

    def margin_change(self, step: Decimal) -> Decimal | None:
        """The change in margin, in points, rounded half-up once to `step` (as `marginbot margin` rounds it): what
        the parts' points add up to at that step."""
        return None if self.margin_moved is None else round_half_up(self.margin_moved, step)

    def top(self, n: int = TOP_CONTRIBUTORS) -> list[Contributor]:
        """The biggest `n` pieces that moved a cent or more: one that rounds to $0.00 is no contributor to name."""
        return [c for c in self.contributors if round_to(c.change, CENT)][:n]


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
    exact = [b - a for a, b in pairwise(rev_states)] + [b - a for a, b in pairwise(cogs_states)]
    points, tenths = _points(pairs, margins, CENT), _points(pairs, margins, TENTH)
    parts = [
        BridgePart(part=part, side=side, label=label, change=change, margin_pts=pts, margin_pts_tenth=tenth,
                   carries=carried, exact=moved)
        for (part, side, label), change, pts, tenth, carried, moved in zip(
            PARTS, changes, points, tenths, _carries(margins, points), exact, strict=True
        )
    ]  # fmt: skip
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
        margin_moved=None if first is None or last is None else last - first,
        parts=parts,
        contributors=contributors(kind, revenue, cogs, CONTRIBUTORS_KEPT),
        cells=cogs.cells,
        contracts=revenue.keys,
        requests=(cogs.requests_before, cogs.requests_now),
        repriced_groups=cogs.repriced_groups,
        notes=_points_notes(parts, first, last) + (notes or []),
        revenue_exact=(rev_states[0], rev_states[-1]),
        cogs_exact=(cogs_states[0], cogs_states[-1]),
    )


def _points(
    states: list[tuple[Fraction, Fraction]], margins: list[Fraction | None], step: Decimal
) -> list[Decimal | None]:
    """Each part's margin points, to `step`: they add up to the change in margin rounded once. `states` are the
    (revenue, COGS) of each state and `margins` their margins."""
    first, last = margins[0], margins[-1]
    if first is None or last is None:
        return [None] * (len(margins) - 1)
    out: list[Decimal | None] = []
    since = 0 * step  # the change since the first state of the last state with a margin
    for (a, b), margin in zip(pairwise(states), margins[1:], strict=True):
        if margin is None:
            # A state with no revenue has no margin. The part that leaves it has no points of its own: they are in
            # the next part that brings revenue back (a difference with the last state that had a margin), so the
            # points still add up to the change. A part between two such states that moved nothing moved no margin.
            out.append(0 * step if a == b else None)
            continue
        # Each state's exact change since the first, rounded once: the last is the change in margin as `margin`
        # shows it, and the parts, differences of these, add up to it with nothing left over. (Rounding each
        # state's margin instead can put the sum a step off the change.)
        moved = round_half_up(margin - first, step)
        out.append(moved - since)
        since = moved
    return out


def _carries(margins: list[Fraction | None], points: list[Decimal | None]) -> list[tuple[str, ...]]:
    """For each part, the parts before it whose points are in its own (see `_points`)."""
    if margins[0] is None or margins[-1] is None:
        return [()] * len(points)  # no points at all: nothing is carried
    out: list[tuple[str, ...]] = []
    waiting: list[str] = []
    for (part, _, _), pts, margin in zip(PARTS, points, margins[1:], strict=True):
        if margin is None:
            if pts is None:
                waiting.append(part)
            out.append(())
        else:
            out.append(tuple(waiting))
            waiting = []
    return out


def _points_notes(parts: list[BridgePart], first: Fraction | None, last: Fraction | None) -> list[str]:
    """What a reader needs to read the points: why there are none, or which part's points hold another's."""
    if first is None or last is None:
        which = "this period" if first is not None else "the previous period" if last is not None else "either period"
        return [f"no revenue in {which}, so no margin to bridge in points: dollars only"]
    labels = {p.part: p.short_label for p in parts}
    notes = []
    for p in parts:
        if p.carries:
            one = len(p.carries) == 1
            notes.append(
                f"{' and '.join(labels[c] for c in p.carries)} {'leaves' if one else 'leave'} no revenue at "
                f"{'its' if one else 'their'} step, so no margin to count points from: {'its' if one else 'their'} "
                f"points are counted in those of {p.short_label}, the step that brings revenue back"
            )
    return notes


def _dec(value: Fraction | None) -> Decimal | None:
    return None if value is None else fraction_decimal(value)


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
    stored = get_meta(conn, "price_fingerprint")
    stale = stored is not None and stored != prices.fingerprint
    if stale:
        # Today's price file priced neither period: the price step compares the rates the stored costs were booked
        # at (reprice_booked says why), so it never shows a move the other steps take back.
        reprice_booked(conn, cells, period, prices, ZoneInfo(timezone), subject, key)
        moved = 0
    else:
        moved = reprice_previous(conn, cells, period, prices, ZoneInfo(timezone), subject, key)
    cogs = cogs_bridge(cells.values(), repriced_groups=moved)
    revenue = revenue_bridge(
        conn,
        period,
        customer=key if kind is SubjectKind.CUSTOMER else None,
        product=key if kind is SubjectKind.PRODUCT else None,
    )
    notes: list[str] = []
    if stale:
        notes.append(
            "the price file changed since these events were priced: the price part compares the rates each "
            "period's stored costs were booked at, not today's file; run `marginbot reprice` so COGS itself "
            "follows it"
        )
    unpriced = sum(1 for c in cells.values() if _unpriced(c))
    if unpriced:
        notes.append("some usage has no price anywhere: it counts as $0 COGS in both periods until it is priced")
    bridge = assemble(kind=kind, key=key, name=name, period=period, revenue=revenue, cogs=cogs, notes=notes)
    bridge.notes += _not_invoiced_notes(conn, bridge, kind, key)
    return bridge


def _not_invoiced_notes(conn: Connection, b: Bridge, kind: SubjectKind, key: str | None) -> list[str]:
    """Customers billed in arrears whose last days of the period no invoice covers yet (engine.reports.invoicing):
    those days' COGS counts against no revenue, so a fall in billed revenue there is the invoice not come yet."""
    if kind is SubjectKind.CUSTOMER and key is not None:
        whole = Figures(revenue=b.revenue[1], cogs=b.cogs[1])
        late = not_invoiced(conn, b.period, {key: whole}, [key])
        return [f"not invoiced yet: {n.text()}" for n in late.values()]
    notes = []
    for customer, (through, start) in sorted(awaiting(conn, b.period).items()):
        if kind is SubjectKind.PRODUCT:
            sql = "SELECT 1 FROM daily_customer_product WHERE customer = :c AND product = :p AND day BETWEEN :a AND :b"
            params = {"c": customer, "p": key, "a": start, "b": b.period.end}
            if conn.execute(text(sql + " LIMIT 1"), params).first() is None:
                continue
        notes.append(
            f"not invoiced yet: {customer}'s revenue is billed through {through}; {start} to {b.period.end} has no "
            "invoice yet, so its COGS of those days has no revenue against it until the invoice comes"
        )
    return notes


def _unpriced(cell: Cell) -> bool:
    return bool(cell.before.unpriced or cell.now.unpriced)


# ---------------------------------------------------------------- --json


def _cents(value: Decimal | None) -> float | None:
    return json_number(value, CENT)


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    """Counts stay integers; dollars go to the cent (a unit count keeps its decimals to the micro)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Decimal):
            out[k] = _cents(v) if k.endswith("_usd") else json_number(v, MICRO)
        else:
            out[k] = v
    return out


def _moved(before: Decimal, after: Decimal) -> dict[str, float | None]:
    return {"previous": _cents(before), "current": _cents(after), "change": _cents(after - before)}


def contributor_to_dict(c: Contributor) -> dict[str, Any]:
    return {
        "words": c.words,
        "side": c.side,
        "part": c.part,
        "change_usd": _cents(c.change),
        "gross_profit_usd": _cents(c.gross_profit),
        **c.keys,
        "before": _plain(c.before),
        "after": _plain(c.after),
    }


def bridge_to_dict(b: Bridge) -> dict[str, Any]:
    """The `--json` shape of a bridge. `parts` add up exactly: revenue parts to `revenue_usd.change`, COGS parts to
    `cogs_usd.change`, every `gross_profit_usd` to `gross_profit_usd.change` and every `margin_pts` to
    `gross_margin_pct.change_pts` (a part that leaves no revenue has null points, held by the part that lists it in
    `margin_pts_carried_from`; `notes` says so); `contributors` are the three biggest pieces and `cells` the biggest
    movers among the rows behind the COGS parts (each piece rounded on its own, so cells need not add up to the
    cent)."""
    margin_shown = [json_number(m, CENT) for m in b.margin]
    cells = sorted(b.cells, key=lambda c: (-abs(c.now.cost - c.before.cost), c.key))
    return {
        "kind": b.kind,
        b.kind: b.key,
        "name": b.name,
        "period": b.period.as_dict(),
        "previous_period": b.previous.as_dict(),
        "method": "sequential substitution in a fixed order, each part the difference of two fully computed "
        "states rounded to the cent (docs/why.md)",
        "revenue_usd": _moved(*b.revenue),
        "cogs_usd": _moved(*b.cogs),
        "gross_profit_usd": _moved(*b.gross_profit),
        "gross_margin_pct": {
            "previous": margin_shown[0],
            "current": margin_shown[1],
            # The exact change rounded once, as `marginbot margin --json` has it: not current minus previous as
            # shown above, which can be 0.01 off it.
            "change_pts": _cents(b.margin_change(CENT)),
        },
        "requests": {"previous": b.requests[0], "current": b.requests[1]},
        "parts": [
            {
                "part": p.part,
                "side": p.side,
                "label": p.label,
                "change_usd": _cents(p.change),
                "gross_profit_usd": _cents(p.gross_profit),
                "margin_pts": _cents(p.margin_pts),
                "margin_pts_carried_from": list(p.carries),
            }
            for p in b.parts
        ],
        "contributors": [contributor_to_dict(c) for c in b.top()],
        "cells": [
            {
                "customer": c.key.customer,
                "product": c.key.product or None,
                "feature": c.key.feature or None,
                "provider": c.key.provider or None,
                "model": c.key.model or None,
                "before": {**c.before.as_dict(), "cogs_usd": _cents(Decimal(c.before.cost) / NANO)},
                "after": {**c.now.as_dict(), "cogs_usd": _cents(Decimal(c.now.cost) / NANO)},
                "pieces_usd": {
                    part: _cents(v) for part, v in zip(PIECE_PART.values(), cell_pieces_usd(c), strict=True)
                },
            }
            for c in cells[:MAX_CELLS]
        ],
        "cells_left_out": max(0, len(cells) - MAX_CELLS),
        "contracts": [
            {
                "customer": k.customer,
                "product": k.product or None,
                "revenue_before_usd": _cents(k.before),
                "revenue_after_usd": _cents(k.after),
                "terms_before": k.terms_before,
                "terms_after": k.terms_after,
                "pieces_usd": {REVENUE_PART[s]: _cents(v) for s, v in key_pieces_usd(k).items()},
            }
            for k in b.contracts
        ],
        "repriced_groups": b.repriced_groups,
        "notes": b.notes,
    }
