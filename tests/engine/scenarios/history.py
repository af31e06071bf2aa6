"""A 90-day history with one heavy week, for forecasts and floors judged on real 30-day windows (by hand).

History: the 90 complete days before 2026-11-01, Aug 3 to Oct 31. Every customer below has the same usage on its
product `app`: each day 100 requests costing $1.00, except Oct 10–14, five days of 500 requests costing $21.00.

Rolling 30-day windows: 61 of them, ending Sep 1 … Oct 31.
  ending before Oct 10 (39 windows): 3,000 requests, COGS $30
  ending Oct 10, 11, 12, 13: one to four heavy days: $50, $70, $90, $110
  ending Oct 14 … Oct 31 (18 windows): all five heavy days: 5,000 requests, COGS $130
  P50 = nearest rank ⌈30.5⌉ = 31st: a $30 window, the 31st by date: Sep 2 – Oct 1
  P99 = rank ⌈60.39⌉ = 61st: $130, the latest: Oct 2 – Oct 31 (25 × $1 + 5 × $21; 2,500 + 2,500 requests)
  The P99 day is a heavy day ($21): 30 such days would be $630, five times any month that happened.

Customers:
  flat1    flat $300/mo
  flat2    flat $200/mo on app and flat $100/mo on extra
  usage1   usage $0.05 a request
  mixed    usage $0.05 a request on app, and flat $100/mo on extra
  seats    4 seats × $75
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from engine.periods import Period, trailing
from engine.runtime import Runtime
from tests.engine.scenarios.book import load_book

HISTORY: Period = trailing(90, today=date(2026, 11, 1))
HEAVY = {date(2026, 10, d) for d in range(10, 15)}
CUSTOMERS = ("flat1", "flat2", "usage1", "mixed", "seats")
CONTRACTS = [
    ["customer", "customer_name", "product", "plan", "start", "seats", "seat_price_usd", "platform_fee_usd", "unit",
     "unit_price_usd"],
    ["flat1", "Flat One", "", "flat", "2026-01-01", "", "", "300", "", ""],
    ["flat2", "Flat Two", "app", "flat", "2026-01-01", "", "", "200", "", ""],
    ["flat2", "Flat Two", "extra", "flat", "2026-01-01", "", "", "100", "", ""],
    ["usage1", "Usage One", "", "usage", "2026-01-01", "", "", "", "request", "0.05"],
    ["mixed", "Mixed", "app", "usage", "2026-01-01", "", "", "", "request", "0.05"],
    ["mixed", "Mixed", "extra", "flat", "2026-01-01", "", "", "100", "", ""],
    ["seats", "Seats", "", "seat", "2026-01-01", "4", "75", "", "", ""],
]  # fmt: skip


def events(customer: str, first: date = HISTORY.start, last: date = HISTORY.end) -> list[list[object]]:
    """One event a day from `first` to `last`, in the columns of tests/engine/scenarios/book.USAGE_HEADER: acme/small
    input tokens at the book's $1 a million, so a million tokens is $1.00 of COGS."""
    out: list[list[object]] = []
    day = first
    while day <= last:
        heavy = day in HEAVY
        out.append([f"{customer}-{day}", f"{day}T12:00:00Z", customer, "app", "chat", "acme", "small",
                    21_000_000 if heavy else 1_000_000, 0, 0, 500 if heavy else 100, 0, "", ""])  # fmt: skip
        day += timedelta(days=1)
    return out


def load_history(rt: Runtime, tmp_path: Path, extra: list[list[object]] | None = None) -> None:
    rows = [row for c in CUSTOMERS for row in events(c)] + (extra or [])
    load_book(rt, tmp_path, rows, CONTRACTS)
