"""A hand-built book for the alert and digest tests, loaded through the engine's own CSV imports.

Every contract is a usage plan at $1 per request, and every event carries its cost (`cost_usd`), so each
figure below is hand-computable: revenue = requests, COGS = the costs, margin = 1 - COGS / revenue.

With NOW = 2026-11-15 12:00 UTC the alert window is the 30 days 2026-10-16 .. 2026-11-14; the previous period
is 2026-09-16 .. 2026-10-15.

  customer  product  window revenue  window COGS          margin    expected
  acme      agent    $300            $210 (7.00/day)      30.00%    breach (previous period $2/day: "tripled")
  bluth     assist   $300            $165 (5.50/day)      45.00%    nothing
  cyber     assist   $300            $178.50 (5.95/day)   40.50%    nothing (just above the 40% line)
  dunder    search   $0 (no contract)  $90 (3.00/day)     n/a       no revenue
  echo      search   $300            $117 (3.90/day)      61.00%    unpriced (2 of 32 events have no price)
  fox       agent    $300            $103.95 (1.00 → 5.93/day)  65.35%  trending to breach (daily margin 90% → 40.7%)

  product agent  $600 / $313.95 → 47.67%  nothing
  product assist $600 / $343.50 → 42.75%  nothing
  product search $300 / $207.00 → 31.00%  breach, and unpriced (2 of 62 events)
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from engine.alerts.evaluate import Observation
from engine.alerts.state import Level
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.reports.figures import Figures, Thresholds
from engine.runtime import Runtime
from engine.vocab import SubjectKind

WINDOW_START = date(2026, 10, 16)
PREVIOUS_START = date(2026, 9, 16)

EXPECTED = {
    ("customer", "acme", "breach"),
    ("customer", "dunder", "no_revenue"),
    ("customer", "echo", "unpriced"),
    ("customer", "fox", "trending_to_breach"),
    ("product", "search", "breach"),
    ("product", "search", "unpriced"),
}


@dataclass
class Run:
    """`days` days of usage from `start`: `requests` a day (= revenue) and a cost per day."""

    customer: str
    product: str
    start: date
    days: int
    requests: int
    cost: Decimal | list[Decimal]
    model: str = "gpt-4o"
    feature: str = "agent-run"

    def cost_on(self, i: int) -> Decimal:
        return self.cost[i] if isinstance(self.cost, list) else self.cost


CONTRACTS = [
    ("acme", "Acme Corp", "agent"),
    ("bluth", "Bluth Homes", "assist"),
    ("cyber", "Cyberdyne", "assist"),
    ("echo", "Echo Labs", "search"),
    ("fox", "Fox Media", "agent"),
]


def book_runs() -> list[Run]:
    fox = [Decimal("1.00") + Decimal("0.17") * i for i in range(30)]
    return [
        Run("acme", "agent", PREVIOUS_START, 30, 10, Decimal("2.00")),
        Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00")),
        Run("bluth", "assist", WINDOW_START, 30, 10, Decimal("5.50"), model="claude-sonnet-4-5", feature="chat"),
        Run("cyber", "assist", WINDOW_START, 30, 10, Decimal("5.95"), model="claude-sonnet-4-5", feature="chat"),
        Run("dunder", "search", WINDOW_START, 30, 0, Decimal("3.00"), model="gpt-4o-mini", feature="answer"),
        Run("echo", "search", WINDOW_START, 30, 10, Decimal("3.90"), model="gpt-4o-mini", feature="answer"),
        Run("fox", "agent", WINDOW_START, 30, 10, fox, feature="plan"),
    ]


def write_contracts(path: Path, contracts: list[tuple[str, str, str]], start: str = "2026-01-01") -> Path:
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["customer", "customer_name", "product", "plan", "start", "unit", "unit_price_usd"])
        for customer, name, product in contracts:
            w.writerow([customer, name, product, "usage", start, "request", "1"])
    return path


def write_usage(path: Path, runs: list[Run], *, unpriced: dict[str, int] | None = None, tag: str = "") -> Path:
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(
            ["event_id", "ts", "customer", "product", "feature", "provider", "model", "requests", "cost_usd",
             "input_tokens", "output_tokens"]
        )  # fmt: skip
        for r in runs:
            for i in range(r.days):
                day = r.start + timedelta(days=i)
                ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat()
                provider = "anthropic" if r.model.startswith("claude") else "openai"
                w.writerow(
                    [f"{tag}{r.customer}-{r.product}-{day}", ts, r.customer, r.product, r.feature, provider,
                     r.model, r.requests, f"{r.cost_on(i)}", 0, 0]
                )  # fmt: skip
        for customer, n in (unpriced or {}).items():
            product = next(r.product for r in runs if r.customer == customer)
            for i in range(n):
                day = WINDOW_START + timedelta(days=i)
                ts = datetime(day.year, day.month, day.day, 13, tzinfo=UTC).isoformat()
                w.writerow(
                    [f"{tag}{customer}-unpriced-{i}", ts, customer, product, "answer", "acme-labs", "mystery-1",
                     0, "", 1000, 200]
                )  # fmt: skip
    return path


def load(runtime: Runtime, folder: Path, runs: list[Run], contracts: list[tuple[str, str, str]],
         *, unpriced: dict[str, int] | None = None, tag: str = "") -> None:  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    if contracts:
        import_contracts_file(runtime.engine, write_contracts(folder / f"contracts{tag}.csv", contracts))
    import_usage_file(
        runtime.engine,
        write_usage(folder / f"usage{tag}.csv", runs, unpriced=unpriced, tag=tag),
        prices=runtime.prices,
        timezone=runtime.settings.timezone,
    )


def load_book(runtime: Runtime, folder: Path) -> None:
    """The whole book of the module docstring."""
    load(runtime, folder, book_runs(), CONTRACTS, unpriced={"echo": 2})


def add_usage(runtime: Runtime, folder: Path, runs: list[Run], tag: str) -> None:
    """More usage later on (time moving forward); `tag` keeps event ids unique."""
    load(runtime, folder, runs, [], tag=tag)


def observation(
    revenue: Decimal,
    cogs: Decimal,
    *,
    events: int = 100,
    unpriced: int = 0,
    level: Level | None = None,
    previous: Figures | None = None,
) -> Observation:
    """Customer c1's window for `decide`: its level from the 40% line unless given, the previous period the same
    figures unless given."""
    now = Figures(revenue=revenue, cogs=cogs, events=events, unpriced_events=unpriced, thresholds=Thresholds())
    if level is None:
        margin = now.margin_pct
        level = Level.NO_REVENUE if revenue <= 0 else Level.BREACH if margin is not None and margin < 40 else Level.OK
    return Observation(
        kind=SubjectKind.CUSTOMER,
        key="c1",
        name="C1",
        level=level,
        current=now,
        previous=now if previous is None else previous,
        unpriced_share=Decimal(unpriced) / events,
    )
