"""Reports → plain dicts for `--json` and for anything else that wants data, not prose.

Money totals are rounded to the cent, per-day and per-task figures to the micro-dollar, percentages to two
decimals; everything is computed exactly before that single rounding.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from engine.money import CENT, MICRO, decimal_text, json_number, round_to
from engine.periods import Period
from engine.reports.figures import Figures, Projection, Share, Thresholds, margin_change
from engine.reports.margin import MarginReport

if TYPE_CHECKING:  # only named in annotations: `marginbot margin X --json` need not import the portfolio's queries
    from engine.reports.portfolio import Portfolio, PortfolioRow


def cents(value: Decimal | None) -> float | None:
    """Money in JSON: a number of dollars to the cent (a `Rounded`, so a builder handed the dict shows an amount
    under half a cent that is not zero as "<$0.01", and tells it from none, as engine.money.usd_text does)."""
    return None if value is None else Rounded(value, CENT)


def moved_cents(now: Decimal, before: Decimal) -> float | None:
    """How far money moved, in JSON: the difference of the two figures as shown (each to the cent), so that they
    foot: $935,665.76 against $865,394.55 moved $70,271.21 (as the bridge, `why`, says), where the exact difference
    rounded once said $70,271.22 beside them."""
    return cents(round_to(now, CENT) - round_to(before, CENT))


def micros(value: Decimal | None) -> float | None:
    """Per-day and per-task costs (and other small figures) in JSON: to the micro-dollar."""
    return json_number(value, MICRO)


class Rounded(float):
    """A JSON number that remembers the exact value it was rounded from.

    It prints as the rounded number (json writes a float subclass as a float), while a builder handed the same dict
    in-process shows the figure at its own precision from `exact`: rounded once, as every figure is. Without it a
    margin of 86.245% would become 86.25 here, then 86.3% on screen, where `marginbot margin` says 86.2%.
    """

    exact: Decimal

    def __new__(cls, value: Decimal, step: Decimal) -> Rounded:
        self = super().__new__(cls, float(round_to(value, step)))
        self.exact = value
        return self

    def __reduce__(self) -> tuple[type[float], tuple[float]]:
        return float, (float(self),)  # a copy is a plain number: only the in-process dict carries `exact`


def pct(value: Decimal | None) -> float | None:
    """Percentages and points in JSON: to 0.01 (a `Rounded`, for builders that show one decimal)."""
    return None if value is None else Rounded(value, CENT)


def figures(f: Figures) -> dict[str, Any]:
    return {
        "revenue_usd": cents(f.revenue),
        "cogs_usd": cents(f.cogs),
        "gross_profit_usd": cents(f.gross_profit_cents),
        "gross_margin_pct": pct(f.margin_pct),
        "status": f.status,
        "events": f.events,
        "unpriced_events": f.unpriced_events,
    }


def _money_figures(f: Figures) -> dict[str, Any]:
    """The figures without the event counts (a product's customers are cut from rollups that do not count them)."""
    shown = figures(f)
    return {k: shown[k] for k in ("revenue_usd", "cogs_usd", "gross_profit_usd", "gross_margin_pct", "status")}


def payload_figures(**figures: Decimal | None) -> dict[str, Any]:
    """Figures for an outbox payload (alerts, the digest): each as a string to the cent under its own name, so no
    float ever holds money and every reader of those keys reads what it always did; and all of them unrounded under
    "exact" (Decimal's own text, which reads back as the same value), for whatever shows a figure at another
    precision. The Slack builders round those once, where `/margin` does: shown from the text to the cent, a margin of
    29.745% would be rounded twice ("29.75", then 29.8%), where `/margin` says 29.7%."""
    return {
        **{name: decimal_text(value) for name, value in figures.items()},
        "exact": {name: None if value is None else str(value) for name, value in figures.items()},
    }


def figures_text(now: Figures, before: Figures, *, change: bool = False) -> dict[str, Any]:
    """The figures of an outbox payload (alerts, the digest), as `payload_figures` gives them; with `change`, the
    margin's move in points too."""
    moved = {"margin_change_pts": margin_change(now, before)} if change else {}
    return {
        **payload_figures(
            margin_pct=now.margin_pct,
            previous_margin_pct=before.margin_pct,
            **moved,
            revenue_usd=now.revenue,
            previous_revenue_usd=before.revenue,
            cogs_usd=now.cogs,
            previous_cogs_usd=before.cogs,
        ),
        "events": now.events,
        "unpriced_events": now.unpriced_events,
    }


def projection(p: Projection | None) -> dict[str, Any] | None:
    """The `--json` shape of a run-rate projection (None for a complete period)."""
    if p is None:
        return None
    f = p.figures
    return {
        "label": f"{p.label}, {p.basis} (run rate, not actuals)",
        "method": (
            "COGS so far × days in the period ÷ days so far; revenue: each contract over its days in force in the "
            "period, its fees as agreed, its units as counted so far and its days to come at the daily rate so far, "
            "and billed revenue at its rate so far"
            if p.per_contract
            else "figures so far × days in the period ÷ days so far"
        ),
        "days": p.days,
        "full_days": p.full_days,
        "revenue_usd": cents(f.revenue),
        "cogs_usd": cents(f.cogs),
        "gross_profit_usd": cents(f.gross_profit_cents),
        "gross_margin_pct": pct(f.margin_pct),
        "status": f.status,
        "part_period_contracts": p.part_period_contracts,
        "caveat": p.caveat,
    }


def bands(t: Thresholds, own: bool) -> dict[str, Any]:
    """The bands a subject's status was judged against, and whether they are its own (its contracts set them)."""
    return {"breach_pct": pct(t.breach_pct), "healthy_pct": pct(t.healthy_pct), "own": own}


def completeness(period: Period) -> dict[str, Any]:
    """Whether the period is whole, and the last day counted: on every report's top level."""
    return {"complete": period.complete, "through": period.through.isoformat()}


def change(now: Figures, before: Figures) -> dict[str, Any]:
    """How the figures moved: dollars as the figures shown differ (`moved_cents`), points exactly."""

    def rel(a: Decimal, b: Decimal) -> float | None:
        return pct((a - b) / b * 100) if b else None

    return {
        "revenue_usd": moved_cents(now.revenue, before.revenue),
        "revenue_pct": rel(now.revenue, before.revenue),
        "cogs_usd": moved_cents(now.cogs, before.cogs),
        "cogs_pct": rel(now.cogs, before.cogs),
        "gross_margin_pts": pct(margin_change(now, before)),
    }


def share(s: Share) -> dict[str, Any]:
    return {
        "key": s.key,
        "provider": s.provider or None,
        "model": s.model or None,
        "feature": s.feature or None,
        "cogs_usd": cents(s.cost),
        "share_pct": pct(s.share_pct),
        "previous_cogs_usd": cents(s.previous),
        "unpriced_events": s.unpriced_events,
    }


def report_to_dict(r: MarginReport) -> dict[str, Any]:
    """The `--json` shape of one customer or product answer."""
    return {
        "kind": r.kind,
        r.kind: r.key,
        "name": r.name,
        "period": r.period.as_dict(),
        **completeness(r.period),
        **figures(r.current),
        # False: revenue and COGS both under MARGINBOT_MATERIALITY_USD (Figures.material): shown, never news.
        "material": r.current.material,
        "revenue_source": r.revenue_source,
        "revenue_lines": [_plain(line.as_dict()) for line in r.revenue],
        "unpriced_models": r.unpriced_models,
        "cogs_by_type": {k: cents(v) for k, v in r.cogs_by_type.items()},
        "cogs_by_model": [share(s) for s in r.by_model],
        "cogs_by_feature": [share(s) for s in r.by_feature],
        "drivers": [share(s) for s in r.drivers[:10]],
        "top_lever": r.top_lever,
        "top_mover": r.top_mover,
        "movers": [
            {
                "what": m.key,
                "cogs_usd": cents(m.now),
                "previous_cogs_usd": cents(m.before),
                "change_usd": cents(m.change),
                "change": m.how,
            }
            for m in r.moves[:10]
        ],
        "daily_cost_p50_usd": micros(r.daily_cost_p50),
        "daily_cost_p99_usd": micros(r.daily_cost_p99),
        "tasks": r.tasks,
        "task_cost_p50_usd": micros(r.task_cost_p50),
        "task_cost_p99_usd": micros(r.task_cost_p99),
        "previous": {**r.period.previous().as_dict(), **figures(r.previous)},
        "change": change(r.current, r.previous),
        "daily_cogs": [{"day": d.isoformat(), "cogs_usd": micros(c)} for d, c in r.daily],
        "projection": projection(r.projection),
        "has_contract": not r.no_contract,
        "bands": bands(r.current.thresholds, r.own_bands),
        "did_you_mean": r.similar,
        "top_customers": [{"customer": c.key, "name": c.name, **_money_figures(c.figures)} for c in r.customers[:10]],
        # Billed in arrears: the period's last days no invoice covers yet (engine.reports.invoicing), else null.
        "not_invoiced": r.not_invoiced.as_dict() if r.not_invoiced is not None else None,
        # Invoice lines in another currency than USD, left out of revenue until converted.
        "unconverted_invoice_lines": [u.as_dict() for u in r.unconverted],
        "uncollectible_invoices": [w.as_dict() for w in r.written_off],
    }


def row_to_dict(row: PortfolioRow) -> dict[str, Any]:
    """The `--json` shape of one portfolio row."""
    out = {
        row.kind: row.key,
        "name": row.name,
        **figures(row.current),
        # False: revenue and COGS both under MARGINBOT_MATERIALITY_USD (Figures.material): in no breach count.
        "material": row.current.material,
        "previous": figures(row.previous),
        "change": change(row.current, row.previous),
    }
    if row.kind == "customer":
        out["has_contract"] = not row.no_contract
        out["bands"] = bands(row.current.thresholds, row.own_bands)
    return out


def portfolio_to_dict(p: Portfolio) -> dict[str, Any]:
    """The `--json` shape of the portfolio."""
    return {
        "period": p.period.as_dict(),
        **completeness(p.period),
        **figures(p.total),
        "previous": figures(p.previous_total),
        "change": change(p.total, p.previous_total),
        "unpriced_models": p.unpriced_models,
        "skipped_contracts": p.skipped_contracts,
        "materiality_usd": cents(p.total.thresholds.material_usd),
        "spread": _plain(p.spread()),
        "customers": [row_to_dict(r) for r in p.customers],
        "products": [row_to_dict(r) for r in p.products],
        # In the total, in no product's row: see Portfolio.unallocated_revenue.
        "unallocated_revenue_usd": cents(p.unallocated_revenue),
        "previous_unallocated_revenue_usd": cents(p.previous_unallocated_revenue),
        "projection": projection(p.projection),
        # Billed in arrears: each customer's last days no invoice covers yet (engine.reports.invoicing).
        "not_invoiced": [{"customer": k, **n.as_dict()} for k, n in sorted(p.not_invoiced.items())],
        "unconverted_invoice_lines": [u.as_dict() for u in p.unconverted],
        "uncollectible_invoices": [w.as_dict() for w in p.written_off],
    }


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Decimal):
            out[k] = pct(v) if k.endswith(("_pct", "_p50")) else cents(v) if k.endswith("_usd") else micros(v)
        elif isinstance(v, date):
            out[k] = v.isoformat()
        else:
            out[k] = v
    return out


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=False)
