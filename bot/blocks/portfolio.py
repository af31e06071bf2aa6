"""The portfolio and the top/worst lists as Block Kit."""

from __future__ import annotations

from bot.answer_types import Answer
from bot.blocks.common import figure_fields, period_context, projection_text, row_line, row_name, status_line
from bot.blocks.kit import context, divider, esc_name, esc_text, fields, fit, header, section, sections
from bot.render.fmt import STATUS_LABEL, money, percent, plural
from bot.render.spark import trend_line
from bot.render.tables import unallocated_text
from engine.reports.portfolio import Portfolio, PortfolioRow
from engine.reports.weekly import Week

LIST_MAX = 15


def active(rows: list[PortfolioRow]) -> list[PortfolioRow]:
    """Rows with something in the current period (a customer who churned last period is not news)."""
    return [r for r in rows if r.current.revenue or r.current.cogs]


def more_line(count: int, kind: str = "customer") -> str:
    """What to say under a list cut short: `/margin portfolio` itself stops at LIST_MAX rows, so only the command
    line lists every row (shared with the Home tab, whose lists are shorter still). `/margin worst` ranks customers
    only: under products it would point at the wrong list."""
    if kind == "product":
        return f"_and {count} more (`/margin product NAME` answers for one; `marginbot portfolio` lists all)_"
    return f"_and {count} more (`/margin worst 25` ranks more; `marginbot portfolio` lists all)_"


def capped(rows: list[PortfolioRow], limit: int = LIST_MAX, kind: str = "customer") -> list[str]:
    lines = [row_line(r) for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(more_line(len(rows) - limit, kind))
    return lines


def by_status(rows: list[PortfolioRow], status: str) -> list[PortfolioRow]:
    """The material rows in `status`: an immaterial one (Figures.material) is no one's breach or watch."""
    return [r for r in rows if r.current.status == status and r.current.material]


def immaterial_line(rows: list[PortfolioRow], kind: str = "customer") -> str | None:
    """The active rows too small to count (revenue and COGS both under the materiality floor), named and shown, so
    that no figure is hidden, but in none of the counts and lists above."""
    small = [r for r in rows if not r.current.material]
    if not small:
        return None
    floor = money(small[0].current.thresholds.material_usd)
    shown = ", ".join(
        f"{esc_name(r.name)} {percent(r.current.margin_pct)} (revenue {money(r.current.revenue)}, COGS "
        f"{money(r.current.cogs)})"
        for r in small[:5]
    )
    more = f" and {len(small) - 5} more" if len(small) > 5 else ""
    return (
        f"_{len(small)} immaterial {kind}{'s' * (len(small) != 1)} (revenue and COGS each under {floor} in the "
        f"period; in no count or list above):_ {shown}{more}"
    )


def spread_line(p: Portfolio) -> str | None:
    s = p.spread()
    if not s.get("customers"):
        return None
    return (
        f"Spread over {plural(s['customers'], 'customer')}: "
        f"the median customer costs {money(s['p50_customer_cogs_usd'])}, "
        f"the P99 customer ({esc_name(s['p99_customer'])}) {money(s['p99_customer_cogs_usd'])}"
    )


def unpriced_line(p: Portfolio) -> str:
    models = esc_name(", ".join(p.unpriced_models))
    return f":warning: Unpriced usage of {models}: COGS is understated until it is priced"


def skipped_line(p: Portfolio) -> str:
    """Stored contracts left out of revenue because a value in them cannot be read (see engine.reports.revenue)."""
    shown = "\n".join(f"• {esc_text(c)}" for c in p.skipped_contracts[:5])
    more = f"\n…and {len(p.skipped_contracts) - 5} more" if len(p.skipped_contracts) > 5 else ""
    return (
        f":warning: *{len(p.skipped_contracts)} contract(s) left out:* revenue is understated until they are "
        f"re-imported with `marginbot import contracts`\n{shown}{more}"
    )


def not_invoiced_line(p: Portfolio) -> str:
    """Customers billed in arrears whose last days no invoice covers yet (engine.reports.invoicing)."""
    shown = "\n".join(
        f"• *{esc_name(p.customers_named(k))}*: {esc_text(n.text(), [p.customers_named(k)])}"
        for k, n in sorted(p.not_invoiced.items())[:5]
    )
    more = f"\n…and {len(p.not_invoiced) - 5} more" if len(p.not_invoiced) > 5 else ""
    return f":hourglass_flowing_sand: *Not invoiced yet* (their COGS of those days has no revenue yet):\n{shown}{more}"


def portfolio_text(p: Portfolio) -> str:
    t = p.total
    breach = len(by_status(active(p.customers), "breach"))
    return (
        f"Portfolio ({p.period.title}): gross margin {percent(t.margin_pct)} {STATUS_LABEL[t.status]}, "
        f"revenue {money(t.revenue)}, COGS {money(t.cogs)}; {plural(breach, 'customer')} in breach."
    )


def portfolio_message(p: Portfolio, *, weekly: list[Week] | None = None) -> Answer:
    customers = active(p.customers)
    blocks = [
        header(f"Portfolio · {p.period.title}"),
        context(f"{period_context(p.period)} · {plural(len(customers), 'active customer')} · worst margin first"),
        section(status_line(p.total)),
        fields(*figure_fields(p.total, p.previous_total)),
    ]
    if line := projection_text(p.projection):
        blocks.append(context(line))
    if weekly:
        blocks.append(context(f"*Weekly margin* {trend_line(weekly)}"))
    if line := spread_line(p):
        blocks.append(context(line))
    if p.unpriced_models:
        blocks.append(section(unpriced_line(p)))
    if p.skipped_contracts:
        blocks.append(section(skipped_line(p)))
    if p.unconverted:
        shown = "\n".join(f"• {esc_text(u.text())}" for u in p.unconverted[:5])
        more = f"\n…and {len(p.unconverted) - 5} more" if len(p.unconverted) > 5 else ""
        blocks.append(section(f":warning: *Invoices left out of revenue* (not in USD):\n{shown}{more}"))
    if p.not_invoiced:
        blocks.append(section(not_invoiced_line(p)))
    if p.written_off:
        shown = "\n".join(f"• {esc_text(w.text())}" for w in p.written_off[:5])
        more = f"\n…and {len(p.written_off) - 5} more" if len(p.written_off) > 5 else ""
        blocks.append(
            section(f":money_with_wings: *Invoices marked uncollectible* (in revenue as earned):\n{shown}{more}")
        )
    blocks.append(divider())
    for status in ("breach", "watch", "no_revenue"):
        rows = by_status(customers, status)
        if rows:
            blocks += sections(f"Customers: {STATUS_LABEL[status].lower()} ({len(rows)})", capped(rows))
    if not any(by_status(customers, status) for status in ("breach", "watch", "no_revenue")):
        blocks.append(section("*Customers:* none in breach or watch"))
    if line := immaterial_line(customers):
        blocks.append(context(line))
    products = active(p.products)
    if products:
        blocks += sections(f"Products ({len(products)})", capped(products, kind="product"))
    if unallocated := unallocated_text(p):
        blocks.append(context(unallocated))
    return Answer(esc_text(portfolio_text(p)), fit(blocks))


def _customers(n: int) -> str:
    return "customer" if n == 1 else "customers"


def ranking_message(p: Portfolio, kind: str, n: int) -> Answer:
    """`top` = the best margins first; `worst` = the worst first (customers with COGS but no revenue lead)."""
    rows = active(p.customers)
    if kind == "top":
        ranked = sorted(
            (r for r in rows if r.current.margin_pct is not None),
            key=lambda r: (not r.current.material, -(r.current.margin_pct or 0), r.key),
        )
        title = f"Top {n} {_customers(n)} by gross margin"
    else:
        ranked = rows  # the engine already sorts worst first
        title = f"Worst {n} {_customers(n)} by gross margin"
    when = p.period.title
    chosen = ranked[:n]
    if not chosen:
        return Answer(
            f"{title} ({when}): no customer has figures in this period.",
            [
                header(f"{title} · {when}"),
                section("No customer has revenue or COGS in this period."),
            ],
        )
    lines = [row_line(r, rank=i) for i, r in enumerate(chosen, 1)]
    text = f"{title} ({when}): " + ", ".join(f"{r.name} {percent(r.current.margin_pct)}" for r in chosen[:5])
    blocks = [
        header(f"{title} · {when}"),
        context(
            f"{period_context(p.period)} · of {plural(len(rows), 'active customer')} · "
            f"portfolio margin {percent(p.total.margin_pct)}"
        ),
        *sections("", lines),
    ]
    return Answer(esc_text(text), fit(blocks))


__all__ = ["portfolio_message", "ranking_message", "row_name"]
