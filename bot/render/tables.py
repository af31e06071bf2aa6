"""Readable terminal tables for `marginbot margin|product|portfolio` (the `--json` flag gives data)."""

from __future__ import annotations

from decimal import Decimal

from bot.render.fmt import STATUS_LABEL, delta_pct, money, percent, points, small_money
from engine.reports.margin import MarginReport
from engine.reports.portfolio import Portfolio, PortfolioRow
from engine.store.models import COST_TYPES

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


def render_report(r: MarginReport) -> str:
    f, p = r.current, r.previous
    title = f"{r.name} ({r.key})" if r.name != r.key else r.key
    lines = [
        f"{r.kind.title()} {title} — {r.period.label} ({r.period.start} to {r.period.end})",
        "",
        f"  Revenue       {money(f.revenue):>14}   ({r.revenue_source}; previous {money(p.revenue)}, "
        f"{delta_pct(f.revenue, p.revenue)})",
        f"  COGS          {money(f.cogs):>14}   (previous {money(p.cogs)}, {delta_pct(f.cogs, p.cogs)})",
        f"  Gross margin  {percent(f.margin_pct):>14}   {STATUS_LABEL[f.status]}"
        f" (previous {percent(p.margin_pct)}, {points(_delta(f.margin_pct, p.margin_pct))})",
        f"  Biggest lever: {r.top_lever}",
    ]
    if r.top_mover:
        lines.append(f"  Biggest mover: {r.top_mover}")
    if f.unpriced_events:
        lines.append(
            f"  WARNING: {f.unpriced_events} unpriced event(s) ({', '.join(r.unpriced_models)}): COGS is understated"
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
    lines += ["", "COGS by model"]
    lines += _table(
        ["model", "provider", "COGS", "share", "vs previous"],
        [
            [s.key, s.provider, money(s.cost), percent(s.share_pct), delta_pct(s.cost, s.previous)]
            for s in r.by_model[:10]
        ],
        right={2, 3, 4},
    )
    lines += ["", "COGS by feature"]
    lines += _table(
        ["feature", "COGS", "share", "vs previous"],
        [[s.key, money(s.cost), percent(s.share_pct), delta_pct(s.cost, s.previous)] for s in r.by_feature[:10]],
    )
    lines += [
        "",
        f"Daily COGS   P50 {small_money(r.daily_cost_p50)}   P99 {small_money(r.daily_cost_p99)}",
    ]
    if r.tasks:
        lines.append(
            f"Cost per task ({r.tasks} tasks)   P50 {small_money(r.task_cost_p50)}   P99 {small_money(r.task_cost_p99)}"
        )
    if r.revenue:
        lines += ["", "Revenue"]
        lines += _table(
            ["terms", "product", "days", "revenue"],
            [[line.terms, line.product or "all", str(line.active_days), money(line.total)] for line in r.revenue],
            right={2, 3},
        )
    return "\n".join(lines)


def _delta(a: Decimal | None, b: Decimal | None) -> Decimal | None:
    return a - b if a is not None and b is not None else None


def _rows(rows: list[PortfolioRow], limit: int | None = None) -> list[list[str]]:
    return [
        [
            r.name if r.name == r.key else f"{r.name} ({r.key})",
            money(r.current.revenue),
            money(r.current.cogs),
            percent(r.current.margin_pct),
            points(_delta(r.current.margin_pct, r.previous.margin_pct)),
            STATUS_LABEL[r.current.status],
            str(r.current.unpriced_events or ""),
        ]
        for r in rows[:limit]
    ]


def render_portfolio(p: Portfolio, *, limit: int | None = None) -> str:
    t = p.total
    spread = p.spread()
    lines = [
        f"Portfolio — {p.period.label} ({p.period.start} to {p.period.end})",
        "",
        f"  Revenue {money(t.revenue)}   COGS {money(t.cogs)}   Gross margin {percent(t.margin_pct)} "
        f"{STATUS_LABEL[t.status]} (previous {percent(p.previous_total.margin_pct)})",
    ]
    if spread.get("customers"):
        lines.append(
            f"  Spread: P50 customer {spread['p50_customer']} costs {money(spread['p50_customer_cogs_usd'])}, "
            f"P99 customer {spread['p99_customer']} costs {money(spread['p99_customer_cogs_usd'])}"
        )
    if p.unpriced_models:
        lines.append(f"  WARNING: unpriced usage of {', '.join(p.unpriced_models)}: COGS is understated")
    lines += [f"  WARNING: {c}; revenue is understated" for c in p.skipped_contracts]
    headers = ["name", "revenue", "COGS", "margin", "vs previous", "status", "unpriced"]
    lines += ["", f"Customers ({len(p.customers)}, worst first)"]
    lines += _table(headers, _rows(p.customers, limit), right={1, 2, 3, 4, 6})
    lines += ["", f"Products ({len(p.products)})"]
    lines += _table(headers, _rows(p.products), right={1, 2, 3, 4, 6})
    return "\n".join(lines)
