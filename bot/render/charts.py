"""Charts as PNG bytes, drawn on matplotlib's Agg canvas (no pyplot: no global state, thread-safe)."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 7.0, 100  # 1000 × 700 px: readable in a Slack preview
PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]


def _num(value: str | None) -> float | None:
    # Plotting coordinates only; the figures themselves stay Decimal strings in the payload.
    return None if value is None else float(Decimal(value))


def _label(text: str) -> str:
    """`text` drawn as written: a `$` escaped (matplotlib reads `$…$` as mathematics, and one it cannot parse, a
    model named `ft:gpt-4o:acme:$\\frac{1}$`, fails the whole chart), and a leading `_` kept off the start (a legend
    leaves out the labels that start with one)."""
    text = text.replace("$", r"\$")
    return "\u00a0" + text if text.startswith("_") else text


def digest_chart_png(data: dict[str, Any]) -> bytes:
    """The digest chart: weekly blended margin (with breach and healthy lines) above weekly COGS by model."""
    weeks: list[str] = data["weeks"]
    short = [w.split("-")[-1] for w in weeks]  # "W46"
    x = list(range(len(weeks)))
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI)
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})

    margins = [_num(v) for v in data["margin_pct"]]
    points = [(i, m) for i, m in zip(x, margins, strict=True) if m is not None]
    if points:
        top.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            color="#1f3b57",
            linewidth=2,
            label="blended gross margin",
        )
        for i, m in points:
            top.annotate(f"{m:.1f}%", (i, m), textcoords="offset points", xytext=(0, 7), ha="center", fontsize=8)
    breach, healthy = float(Decimal(data["breach_pct"])), float(Decimal(data["healthy_pct"]))
    top.axhline(breach, color="#d62728", linestyle="--", linewidth=1, label=f"breach {breach:g}%")
    top.axhline(healthy, color="#2ca02c", linestyle=":", linewidth=1, label=f"healthy {healthy:g}%")
    top.set_ylabel("gross margin %")
    top.set_title(f"Gross margin, last {len(weeks)} weeks (to {data['week']})", loc="left", fontsize=11)
    top.legend(loc="lower left", fontsize=8, frameon=False)
    top.grid(axis="y", alpha=0.3)

    base = [0.0] * len(weeks)
    for n, (model, values) in enumerate(data["cogs_by_model"].items()):
        heights = [_num(v) or 0.0 for v in values]
        bottom.bar(x, heights, bottom=base, color=PALETTE[n % len(PALETTE)], label=_label(model), width=0.7)
        base = [b + h for b, h in zip(base, heights, strict=True)]
    if max(base, default=0.0) > 0:
        bottom.set_ylim(0, max(base) * 1.3)  # headroom for the legend above the bars
    bottom.set_ylabel("COGS (USD)")
    bottom.set_title("COGS by model", loc="left", fontsize=11)
    if data["cogs_by_model"]:
        bottom.legend(loc="upper left", fontsize=8, ncol=4, frameon=False)
    bottom.grid(axis="y", alpha=0.3)
    bottom.set_xticks(x, short)
    fig.tight_layout()

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
