"""Readable terminal tables for `marginbot margin|product|portfolio` (the `--json` flag gives data)."""

from __future__ import annotations

from decimal import Decimal

from bot.render.fmt import STATUS_LABEL, delta_pct, money, percent, plural, points, small_money
from engine.periods import Period
from engine.reports.figures import Figures, Projection, margin_change
from engine.reports.margin import MarginReport
from engine.reports.movers import Move
from engine.reports.portfolio import Portfolio, PortfolioRow
from engine.store.models import COST_TYPES

MOVERS_SHOWN = 3
TOP_CUSTOMERS = 10

COST_TYPE_LABEL = {
    "uncached_input": "uncached input",
    "cached_input": "cached input",
    "cache_write": "cache write",
    "cache_write_1h": "cache write (1 hour)",
    "output": "output",
    "request_fee": "per-request fees",
    "web_search": "web search",
    "source": "priced by source",
    "retrieval": "retrieval",
    "rerank": "rerank",
    "compute": "compute",
}


def _table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right if right is not None else set(range(1, len(headers)))
    widths = (
        [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=False)]
        if rows
        else [len(h) for h in headers]
    )

    def fmt(row: list[str]) -> str:
        return "  ".join(
            (str(c).rjust(w) if i in right else str(c).ljust(w))
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()

    return [fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in rows)]


def compared(period: Period) -> str:
    """The days counted and the days they are compared with, said so a reader cannot mistake one for a month."""
    prev = period.previous()
    like = f" (the first {prev.days} days of {prev.label})" if not prev.complete else f" ({prev.label})"
    return f"{period.start} to {period.end}, compared with {prev.start} to {prev.end}{like}"


def projection_line(p: Projection | None) -> str | None:
    """The run rate of a period to date, labelled as a projection so it is never read as actuals."""
    if p is None:
        return None
    f = p.figures
    return (
        f"Run rate (a projection, not actuals): all {p.full_days} days of {p.label}, {p.basis}: "
        f"revenue {money(f.revenue)}, COGS {money(f.cogs)}, gross profit {money(f.gross_profit_cents)}, "
        f"gross margin {percent(f.margin_pct)}" + (f" ({p.caveat})" if p.caveat else "")
    )


def change_text(now: Decimal, before: Decimal) -> str:
    """A cost against the period before, in dollars first: "+$412.37 (×3.1)"."""
    return Move(key="", now=now, before=before).how if now != before else "no change"


def render_report(r: MarginReport) -> str:
    f, p = r.current, r.previous
    title = f"{r.name} ({r.key})" if r.name != r.key else r.key
    lines = [
        f"{r.kind.title()} {title} — {r.period.title}",
        f"  {compared(r.period)}",
        "",
        f"  Revenue       {money(f.revenue):>14}   ({r.revenue_source}; previous {money(p.revenue)}, "
        f"{delta_pct(f.revenue, p.revenue)})",
        f"  COGS          {money(f.cogs):>14}   (previous {money(p.cogs)}, {delta_pct(f.cogs, p.cogs)})",
        f"  Gross profit  {money(f.gross_profit_cents):>14}   (previous {money(p.gross_profit_cents)})",
        f"  Gross margin  {percent(f.margin_pct):>14}   {STATUS_LABEL[f.status]}"
        + ("" if f.material else f" (immaterial: revenue and COGS each under {money(f.thresholds.material_usd)})")
        + f" (previous {percent(p.margin_pct)}, {points(margin_change(f, p))})",
    ]
    if r.own_bands:
        t = f.thresholds
        lines.append(
            f"  Its own bands (its contracts set them): breach under {t.breach_pct.normalize():f}%, healthy from "
            f"{t.healthy_pct.normalize():f}%"
        )
    if line := projection_line(r.projection):
        lines.append(f"  {line}")
    if r.no_contract:
        lines.append(f"  {no_contract_line(r)}")
    if r.not_invoiced is not None:
        lines.append(f"  NOT INVOICED YET: {r.not_invoiced.text()}")
    lines += [f"  WARNING: {u.text()}" for u in r.unconverted]
    lines += [f"  UNCOLLECTIBLE: {w.text()}" for w in r.written_off]
    lines.append(f"  Biggest lever: {r.top_lever}")
    moves = r.moves
    if moves:
        lines.append("  Biggest movers: " + "; ".join(m.text for m in moves[:MOVERS_SHOWN]))
    if f.unpriced_events:
        lines.append(
            f"  WARNING: {plural(f.unpriced_events, 'unpriced event')} ({', '.join(r.unpriced_models)}): "
            "COGS is understated"
        )
    lines += ["", "COGS by cost type"]
    type_rows = [
        [
            COST_TYPE_LABEL[t],
            money(r.cogs_by_type[t]),
            percent(r.cogs_by_type[t] / f.cogs * 100 if f.cogs else None),
        ]
        for t in COST_TYPES
        if r.cogs_by_type[t]
    ]
    lines += _table(["type", "COGS", "share"], type_rows)
    # A slice with unpriced events says how many: its COGS leaves them out (a model with no price reads $0.00).
    models, features = r.by_model[:10], r.by_feature[:10]
    unpriced = any(s.unpriced_events for s in models + features)
    lines += ["", "COGS by model"]
    lines += _table(
        ["model", "provider", "COGS", "share", "vs previous"] + ["unpriced"] * unpriced,
        [
            [s.key, s.provider, money(s.cost), percent(s.share_pct), change_text(s.cost, s.previous)]
            + [str(s.unpriced_events or "")] * unpriced
            for s in models
        ],
        right={2, 3, 4, 5},
    )
    lines += ["", "COGS by feature"]
    lines += _table(
        ["feature", "COGS", "share", "vs previous"] + ["unpriced"] * unpriced,
        [
            [s.key, money(s.cost), percent(s.share_pct), change_text(s.cost, s.previous)]
            + [str(s.unpriced_events or "")] * unpriced
            for s in features
        ],
    )
    lines += [
        "",
        f"Daily COGS   P50 {small_money(r.daily_cost_p50)}   P99 {small_money(r.daily_cost_p99)}",
    ]
    if r.tasks:
        lines.append(
            f"Cost per task ({plural(r.tasks, 'task')})   P50 {small_money(r.task_cost_p50)}   "
            f"P99 {small_money(r.task_cost_p99)}"
        )
    if r.customers:
        lines += ["", f"Top customers by COGS ({len(r.customers)} in all)"]
        lines += _table(
            ["customer", "revenue", "COGS", "margin"],
            [[_who(c.name, c.key), *_money_cells(c.figures)] for c in r.customers[:TOP_CUSTOMERS]],
        )
    elif r.revenue:
        lines += ["", "Revenue"]
        lines += _table(
            ["terms", "product", "days", "revenue"],
            [[line.terms, line.product or "all", str(line.active_days), money(line.total)] for line in r.revenue],
            right={2, 3},
        )
    return "\n".join(lines)


def no_contract_line(r: MarginReport) -> str:
    """What a customer with usage and no contract is, and who it may have been meant to be."""
    meant = f"; did you mean {', '.join(r.similar)}?" if r.similar else ""
    return f"No contract: {r.key} has usage but no contract, so its COGS has no revenue against it{meant}"


def _who(name: str, key: str) -> str:
    return name if name == key else f"{name} ({key})"


def _money_cells(f: Figures) -> list[str]:
    return [money(f.revenue), money(f.cogs), percent(f.margin_pct)]


def _bands(f: Figures) -> str:
    return f"{f.thresholds.breach_pct.normalize():f}/{f.thresholds.healthy_pct.normalize():f}%"


def _rows(rows: list[PortfolioRow], limit: int | None = None) -> list[list[str]]:
    return [
        [
            _who(r.name, r.key),
            money(r.current.revenue),
            money(r.current.cogs),
            percent(r.current.margin_pct),
            points(margin_change(r.current, r.previous)),
            STATUS_LABEL[r.current.status]
            + (" (no contract)" if r.no_contract else "")
            + (f" (own bands {_bands(r.current)})" if r.own_bands else "")
            + ("" if r.current.material else " (immaterial)"),
            str(r.current.unpriced_events or ""),
        ]
        for r in rows[:limit]
    ]


def render_portfolio(
    p: Portfolio, *, limit: int | None = None, rest: str = "`marginbot portfolio` without --limit lists every customer"
) -> str:
    """The portfolio as text; a table cut at `limit` customers ends with how many more, and `rest`: what lists them
    (the demo's reader has given no --limit, and its database is not DATABASE_URL's)."""
    if limit is not None and limit < 1:
        # rows[:-1] would drop the last row without a word (and rows[:0] show none): a caller's mistake, said so.
        raise ValueError(f"limit must be at least 1, got {limit}")
    t = p.total
    spread = p.spread()
    lines = [
        f"Portfolio — {p.period.title}",
        f"  {compared(p.period)}",
        "",
        f"  Revenue {money(t.revenue)}   COGS {money(t.cogs)}   Gross profit {money(t.gross_profit_cents)}   "
        f"Gross margin {percent(t.margin_pct)} {STATUS_LABEL[t.status]}"
        + ("" if t.material else f" (immaterial: revenue and COGS each under {money(t.thresholds.material_usd)})")
        + " "
        f"(previous {percent(p.previous_total.margin_pct)})",
    ]
    if line := projection_line(p.projection):
        lines.append(f"  {line}")
    if spread.get("customers"):
        lines.append(
            f"  Spread: P50 customer {spread['p50_customer']} costs {money(spread['p50_customer_cogs_usd'])}, "
            f"P99 customer {spread['p99_customer']} costs {money(spread['p99_customer_cogs_usd'])}"
        )
    if p.unpriced_models:
        lines.append(f"  WARNING: unpriced usage of {', '.join(p.unpriced_models)}: COGS is understated")
    lines += [f"  WARNING: {c}; revenue is understated" for c in p.skipped_contracts]
    lines += [f"  WARNING: {u.text()}" for u in p.unconverted]
    lines += [f"  UNCOLLECTIBLE: {w.text()}" for w in p.written_off]
    lines += [f"  NOT INVOICED YET: {p.customers_named(k)}: {n.text()}" for k, n in sorted(p.not_invoiced.items())]
    headers = ["name", "revenue", "COGS", "margin", "vs previous", "status", "unpriced"]
    hidden = len(p.customers) - limit if limit is not None and len(p.customers) > limit else 0
    shown = f", the {limit} worst shown" if hidden else ""
    lines += ["", f"Customers ({len(p.customers)}, worst first{shown})"]
    lines += _table(headers, _rows(p.customers, limit), right={1, 2, 3, 4, 6})
    if hidden:
        # The count in the title alone reads as "these are all of them" once the table has ended.
        lines.append(f"  and {hidden} more: {rest}")
    lines += ["", f"Products ({len(p.products)})"]
    lines += _table(headers, _rows(p.products), right={1, 2, 3, 4, 6})
    small = [r for r in p.customers + p.products if (r.current.revenue or r.current.cogs) and not r.current.material]
    if small:
        floor = money(small[0].current.thresholds.material_usd)
        lines += ["", f"  (immaterial): revenue and COGS each under {floor} in the period, listed last and in no count"]
    if unallocated := unallocated_text(p):
        lines += ["", f"  {unallocated}"]
    return "\n".join(lines)


def unallocated_text(p: Portfolio) -> str | None:
    """The revenue in the total that no product's row holds (Portfolio.unallocated_revenue), said so the product
    rows are not read as adding up to it; None when there is none."""
    if not p.unallocated_revenue and not p.previous_unallocated_revenue:
        return None
    why = "contracts for every product or invoice lines naming no product, with no usage to split them by"
    if not p.unallocated_revenue:  # "Plus $0.00" would headline nothing: it is the previous period's rows
        left_out = money(p.previous_unallocated_revenue)
        return f"The previous period's product rows leave out {left_out} of its revenue: {why}"
    return (
        f"Plus {money(p.unallocated_revenue)} of revenue in no product's row (previous "
        f"{money(p.previous_unallocated_revenue)}): {why}"
    )
