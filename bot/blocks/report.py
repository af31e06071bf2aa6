"""One customer's or product's margin answer as Block Kit."""

from __future__ import annotations

from decimal import Decimal

from bot.answer_types import Answer
from bot.blocks.common import figure_fields, period_context, projection_text, status_line
from bot.blocks.kit import code, context, divider, esc_name, esc_text, fields, fit, header, section, sections
from bot.render.fmt import STATUS_EMOJI, STATUS_LABEL, money, percent, plural, small_money, times
from bot.render.spark import trend_line
from bot.render.tables import COST_TYPE_LABEL, MOVERS_SHOWN, change_text
from engine.reports.figures import Share
from engine.reports.margin import MarginReport
from engine.reports.revenue import RevenueLine
from engine.reports.weekly import Week
from engine.store.models import COST_TYPES

TOP = 5


def _share_line(s: Share, *, with_provider: bool) -> str:
    who = f" ({esc_name(s.provider)})" if with_provider and s.provider else ""
    # Its COGS leaves out its unpriced events (a model with no price reads $0.00): say how many.
    unpriced = f" · :warning: {plural(s.unpriced_events, 'unpriced event')}" if s.unpriced_events else ""
    return (
        f"{code(s.key)}{who} {money(s.cost)} · {percent(s.share_pct)} · {change_text(s.cost, s.previous)} vs previous"
        f"{unpriced}"
    )


def _ranked(shares: list[Share], *, with_provider: bool = False) -> list[str]:
    lines = [_share_line(s, with_provider=with_provider) for s in shares[:TOP]]
    if len(shares) > TOP:
        rest = sum((s.cost for s in shares[TOP:]), Decimal(0))
        lines.append(f"_and {len(shares) - TOP} more, {money(rest)} together_")
    return lines or ["_none_"]


def _revenue_line(r: MarginReport, line: RevenueLine) -> str:
    terms = f"{esc_text(line.terms)} ({esc_name(line.product or 'all products')}, {plural(line.active_days, 'day')})"
    return f"{terms} {money(line.total)}"


def report_title(r: MarginReport) -> str:
    return f"{r.name} · {r.period.title}"


def report_text(r: MarginReport) -> str:
    """The notification text: enough to act on without opening the message."""
    f = r.current
    return (
        f"{r.name} ({r.period.title}): gross margin {percent(f.margin_pct)} {STATUS_LABEL[f.status]}, "
        f"revenue {money(f.revenue)}, COGS {money(f.cogs)}. Biggest lever: {r.top_lever}."
    )


def margin_report(r: MarginReport, *, weekly: list[Week] | None = None) -> Answer:
    """Revenue, COGS, margin and status; COGS by type, model and feature; P50 vs P99; change; the lever."""
    f, p = r.current, r.previous
    ident = f"{r.kind} {code(r.key)}"
    blocks = [
        header(report_title(r)),
        context(f"{ident} · {period_context(r.period)} · revenue from {esc_text(r.revenue_source)}"),
        section(status_line(f, own=r.own_bands)),
        fields(*figure_fields(f, p)),
    ]
    if line := projection_text(r.projection):
        blocks.append(context(line))
    if r.no_contract:
        meant = f" Did you mean {' or '.join(f'*{esc_name(s)}*' for s in r.similar)}?" if r.similar else ""
        blocks.append(
            section(
                f":white_circle: *No contract:* {code(r.key)} has usage but no contract, so its COGS has no "
                f"revenue against it.{meant}"
            )
        )
    if r.unconverted:
        blocks.append(
            section(
                "\n".join(
                    f":warning: *Left out of revenue:* {esc_text(u.text(), (r.name, r.key))}" for u in r.unconverted[:5]
                )
            )
        )
    if r.not_invoiced is not None:
        blocks.append(
            section(f":hourglass_flowing_sand: *Not invoiced yet:* {esc_text(r.not_invoiced.text(), (r.name, r.key))}")
        )
    if r.written_off:
        blocks.append(
            section(
                "\n".join(
                    f":money_with_wings: *Uncollectible:* {esc_text(w.text(), (r.name, r.key))}"
                    for w in r.written_off[:5]
                )
            )
        )
    if weekly:
        blocks.append(context(f"*Weekly margin* {trend_line(weekly)}"))
    lever = f":dart: *Biggest lever:* {esc_name(r.top_lever)}"
    moves = r.moves[:MOVERS_SHOWN]
    if moves:
        label = "Biggest mover" if len(moves) == 1 else "Biggest movers"
        lever += f"\n:arrow_up_down: *{label}:* " + "; ".join(esc_name(m.text) for m in moves)
    blocks.append(section(lever))
    if f.unpriced_events:
        blocks.append(
            section(
                f":warning: *{plural(f.unpriced_events, 'unpriced event')}* "
                f"({esc_name(', '.join(r.unpriced_models))}): "
                "COGS is understated until they are priced (your marginbot admin adds them to the price file, "
                "then runs `marginbot reprice`)"
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
    spread = f"*Daily COGS* P50 {small_money(r.daily_cost_p50)} · P99 {small_money(r.daily_cost_p99)}"
    if r.daily_cost_p50 > 0:
        spread += f" (P99 is {times(r.daily_cost_p99 / r.daily_cost_p50)} the median day)"
    if r.tasks:
        spread += (
            f"\n*Cost per task* ({plural(r.tasks, 'task')}) P50 {small_money(r.task_cost_p50)} · "
            f"P99 {small_money(r.task_cost_p99)}"
        )
    blocks.append(section(spread))
    if r.customers:
        top = r.customers[:TOP]
        lines = [
            f"{STATUS_EMOJI[c.figures.status]} *{esc_name(c.name)}* revenue {money(c.figures.revenue)} · "
            f"COGS {money(c.figures.cogs)} · margin {percent(c.figures.margin_pct)}"
            for c in top
        ]
        if len(r.customers) > TOP:
            rest = r.customers[TOP:]
            lines.append(
                f"_and {plural(len(rest), 'more customer')}: revenue "
                f"{money(sum((c.figures.revenue for c in rest), Decimal(0)))}, COGS "
                f"{money(sum((c.figures.cogs for c in rest), Decimal(0)))}_"
            )
        blocks += sections("Top customers by COGS", lines)
    elif r.revenue:
        blocks += sections("Revenue", [_revenue_line(r, line) for line in r.revenue])
    return Answer(esc_text(report_text(r), (r.name, r.key)), fit(blocks))
