"""The `--json` shape of a forecast (the Slack and terminal blocks read it too)."""

from __future__ import annotations

from typing import Any

from engine.money import HUNDRED
from engine.reports.figures import Figures
from engine.reports.serialize import cents, figures, micros, pct
from engine.scenarios.basis import History
from engine.scenarios.forecast import STRESS_LABEL, CustomerForecast, Forecast, MonthForecast
from engine.vocab import SubjectKind

FORECAST_FIGURES = ("revenue_usd", "cogs_usd", "gross_margin_pct", "status")  # of serialize.figures, in its order


def _fig(f: Figures) -> dict[str, Any]:
    shown = figures(f)
    return {k: shown[k] for k in FORECAST_FIGURES}


def _month_dict(m: MonthForecast) -> dict[str, Any]:
    return {
        "month": m.label,
        "days": m.days,
        "usage_factor": micros(m.factor),
        "p50": _fig(m.p50),
        "p99": _fig(m.p99),
        "stress": _fig(m.stress),
    }


def _history_dict(h: History) -> dict[str, Any]:
    return {"history_days": h.days, "windows": h.windows, "short_history": h.short, "history_note": h.note()}


def customer_forecast_dict(c: CustomerForecast) -> dict[str, Any]:
    return {
        "customer": c.key,
        "name": c.name,
        "plan": c.plan,
        "terms": c.terms,
        "basis_days": c.basis_days,
        "basis_cogs_usd": cents(c.basis_cogs),
        **_history_dict(c.history),
        "p50_window": c.p50_window.as_dict(),
        "p99_window": c.p99_window.as_dict(),
        "p50_day": c.p50_day.as_dict(),
        "p99_day": c.p99_day.as_dict(),
        # A compounded monthly rate, as --growth takes it; the change over the whole history is beside it.
        "observed_growth_pct": pct(c.observed_growth * HUNDRED) if c.observed_growth is not None else None,
        "observed_change_pct": pct(c.observed_change * HUNDRED) if c.observed_change is not None else None,
        "breach_month_p50": c.breach_p50,
        "breach_month_p99": c.breach_p99,
        "breach_month_stress": c.breach_stress,
        # Why the breach month breaches: "margin" (under the breach line) or "cost_without_revenue".
        "breach_reason_p50": c.breach_why("p50"),
        "breach_reason_p99": c.breach_why("p99"),
        "breach_reason_stress": c.breach_why("stress"),
        "contract_changes": [change.as_dict() for change in c.contract_changes],
        "stress_label": STRESS_LABEL,
        "forecast": [_month_dict(m) for m in c.months],
    }


def forecast_to_dict(f: Forecast) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": f.kind,
        f.kind: f.key,
        "name": f.name,
        "basis": f.basis.as_dict(),
        "growth": f.growth.describe(f.months),
        "months": f.months,
        "total": [_month_dict(m) for m in f.total],
        "assumptions": f.assumptions,
        **f.unpriced.as_dict(),
    }
    if f.kind is SubjectKind.CUSTOMER:
        out.update({k: v for k, v in customer_forecast_dict(f.customers[0]).items() if k not in ("customer", "name")})
        out.pop("months")
        out["months"] = f.months
        out["forecast"] = [_month_dict(m) for m in f.customers[0].months]
        del out["total"]
        return out
    out.update(_history_dict(f.history))
    out["p50_window"] = {"start": f.p50_window[0].isoformat(), "end": f.p50_window[1].isoformat()}
    out["p99_window"] = {"start": f.p99_window[0].isoformat(), "end": f.p99_window[1].isoformat()}
    out["stress_label"] = f"{STRESS_LABEL}, for every customer at once"
    out["customers"] = [customer_forecast_dict(c) for c in f.customers]
    out["plans"] = [
        {
            "plan": p.plan,
            "customers": p.customers,
            "p50_customer": p.p50_customer.key,
            "p99_customer": p.p99_customer.key,
            "new_customer_like_p50": [_month_dict(m) for m in p.p50_customer.months],
            "new_customer_like_p99": [_month_dict(m) for m in p.p99_customer.months],
            "breach_month_like_p50": p.breach_like_p50,
            "breach_month_like_p99": p.breach_like_p99,
            "breach_reason_like_p50": p.p50_customer.breach_why("p50"),
            "breach_reason_like_p99": p.p99_customer.breach_why("p50"),
        }
        for p in f.plans
    ]
    return out
