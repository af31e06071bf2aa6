"""One customer's or product's margin answer as Block Kit."""

from __future__ import annotations

from decimal import Decimal

from bot.answer_types import Answer
from bot.blocks.common import figure_fields, status_line
from bot.blocks.kit import context, divider, esc, fields, fit, header, section, sections
from bot.render.fmt import STATUS_LABEL, delta_pct, money, percent, small_money
from bot.render.spark import trend_line
from bot.render.tables import COST_TYPE_LABEL
from engine.reports.figures import Share
from engine.reports.margin import MarginReport
from engine.reports.revenue import RevenueLine
from engine.reports.weekly import Week
from engine.store.models import COST_TYPES

TOP = 5


def _share_line(s: Share, *, with_provider: bool) -> str:
    who = f" ({esc(s.provider)})" if with_provider and s.provider else ""
    change = delta_pct(s.cost, s.previous)
    return f"`{esc(s.key)}`{who} {money(s.cost)} · {percent(s.share_pct)} · {change} vs previous"


def _ranked(shares: list[Share], *, with_provider: bool = False) -> list[str]:
    lines = [_share_line(s, with_provider=with_provider) for s in shares[:TOP]]
    if len(shares) > TOP:
        rest = sum((s.cost for s in shares[TOP:]), Decimal(0))
        lines.append(f"_and {len(shares) - TOP} more, {money(rest)} together_")
    return lines or ["_none_"]


def _revenue_line(r: MarginReport, line: RevenueLine) -> str:
    terms = f"{esc(line.terms)} ({esc(line.product or 'all products')}, {line.active_days} days)"
    if r.kind == "product":
        # A contract for every product is split across products; show this product's part and whose it is.
        return f"{esc(line.customer)}: {terms} {money(line.by_product.get(r.key, line.total))}"
    return f"{terms} {money(line.total)}"


def _day_money(value: Decimal) -> str:
    return money(value) if value == 0 else small_money(value)


def report_title(r: MarginReport) -> str:
    return f"{r.name} · {r.period.label}"


def report_text(r: MarginReport) -> str:
    """The notification text: enough to act on without opening the message."""
    f = r.current
    return (
        f"{r.name} ({r.period.label}): gross margin {percent(f.margin_pct)} {STATUS_LABEL[f.status]}, "
        f"revenue {money(f.revenue)}, COGS {money(f.cogs)}. Biggest lever: {r.top_lever}."
    )


def margin_report(r: MarginReport, *, weekly: list[Week] | None = None) -> Answer:
    """Revenue, COGS, margin and status; COGS by type, model and feature; P50 vs P99; change; the lever."""
    f, p = r.current, r.previous
    ident = f"{r.kind} `{esc(r.key)}`"
    blocks = [
        header(report_title(r)),
        context(
            f"{ident} · {r.period.start} to {r.period.end} · compared with {r.period.previous().start} to "
            f"{r.period.previous().end} · revenue from {esc(r.revenue_source)}"
        ),
        section(status_line(f)),
        fields(*figure_fields(f, p)),
    ]
    if weekly:
        blocks.append(context(f"*Weekly margin* {trend_line(weekly)}"))
    lever = f":dart: *Biggest lever:* {esc(r.top_lever)}"
    if r.top_mover:
        lever += f"\n:chart_with_upwards_trend: *Biggest mover:* {esc(r.top_mover)}"
    blocks.append(section(lever))
    if f.unpriced_events:
        blocks.append(
            section(
                f":warning: *{f.unpriced_events:,} unpriced event(s)* ({esc(', '.join(r.unpriced_models))}): "
                "COGS is understated until they are priced "
                "(add them to the price file, then run `marginbot reprice`)"
            )
        )
    blocks.append(divider())
    type_lines = [
        f"{COST_TYPE_LABEL[t]} {money(r.cogs_by_type[t])} · {percent(r.cogs_by_type[t] / f.cogs * 100)}"
        for t in COST_TYPES
        if r.cogs_by_type.get(t) and f.cogs
    ]
    blocks += sections("COGS by cost type", type_lines or ["_no COGS in this period_"])
    blocks += sections("Top models by cost", _ranked(r.by_model, with_provider=True))
    blocks += sections("Top features by cost", _ranked(r.by_feature))
    spread = f"*Daily COGS* P50 {_day_money(r.daily_cost_p50)} · P99 {_day_money(r.daily_cost_p99)}"
    if r.daily_cost_p50 > 0:
        spread += f" (P99 is ×{r.daily_cost_p99 / r.daily_cost_p50:.1f} the median day)"
    if r.tasks:
        spread += (
            f"\n*Cost per task* ({r.tasks:,} tasks) P50 {small_money(r.task_cost_p50)} · "
            f"P99 {small_money(r.task_cost_p99)}"
        )
    blocks.append(section(spread))
    if r.revenue:
        blocks += sections("Revenue", [_revenue_line(r, line) for line in r.revenue])
    return Answer(esc(report_text(r)), fit(blocks))
