"""The margin bridge's ends are the margin answer's and the portfolio's figures for every kind of period: a month or
quarter to date (compared with the same days of the one before, with days between the two that belong to
neither), and complete ones. The book has usage on days inside and outside each compared stretch."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from config.settings import Settings
from engine.money import CENT, TENTH, round_to
from engine.reports.bridge import Bridge, margin_bridge
from engine.reports.figures import Figures, margin_change
from engine.reports.margin import customer_report, product_report
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime
from engine.vocab import SubjectKind
from tests.engine.reports.bridge_books import load_rows

AS_OF = datetime(2026, 11, 8, 12, tzinfo=UTC)  # November to date is Nov 1–7, against Oct 1–7
CONTRACTS: list[dict[str, object]] = [
    {"customer": "acme", "customer_name": "Acme Corp", "plan": "usage", "start": "2026-01-01", "unit": "request",
     "unit_price_usd": "0.05"},
    {"customer": "bolt", "customer_name": "Bolt Inc", "product": "chat", "plan": "flat", "start": "2026-01-01",
     "platform_fee_usd": "90.00"},
]  # fmt: skip
# Days with usage: Oct 20 lies between Oct 1–7 and November to date; Aug 20, Sep 10 and Sep 25 between Jul 1 –
# Aug 7 and the fourth quarter to date. Each day's usage differs, so a day counted in the wrong period moves every
# figure.
DAYS = ["2026-04-10", "2026-06-10", "2026-07-03", "2026-08-05", "2026-08-20", "2026-09-10", "2026-09-25",
        "2026-10-03", "2026-10-20", "2026-11-03"]  # fmt: skip


def _usage() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, day in enumerate(DAYS, start=1):
        ts = f"{day}T12:00:00Z"
        rows += [
            {"event_id": f"a{i}", "ts": ts, "customer": "acme", "product": "agent", "feature": "agent-run",
             "provider": "acme", "model": "big", "requests": 100 * i, "input_tokens": 100_000 * i,
             "output_tokens": 10_000 * i * i},
            {"event_id": f"b{i}", "ts": ts, "customer": "bolt", "product": "chat", "feature": "chat",
             "provider": "acme", "model": "small", "requests": 50 * i, "input_tokens": 400_000 * i * i,
             "output_tokens": 80_000 * i},
            {"event_id": f"c{i}", "ts": ts, "customer": "acme", "product": "chat", "feature": "chat",
             "provider": "acme", "model": "big", "requests": 10, "input_tokens": 20_000 * i, "output_tokens": 5_000},
        ]  # fmt: skip
    return rows


def _agrees(b: Bridge, previous: Figures, current: Figures) -> None:
    assert b.revenue == (round_to(previous.revenue, CENT), round_to(current.revenue, CENT))
    assert b.cogs == (round_to(previous.cogs, CENT), round_to(current.cogs, CENT))
    change = margin_change(current, previous)
    assert change is not None
    assert b.margin_change(CENT) == round_to(change, CENT)
    assert b.margin_change(TENTH) == round_to(change, TENTH)
    assert sum((p.margin_pts or Decimal(0) for p in b.parts), Decimal(0)) == round_to(change, CENT)


@pytest.mark.parametrize(
    ("period_text", "to_date"), [("2026-11", True), ("2026-Q4", True), ("2026-10", False), ("2026-Q3", False)]
)
def test_why_has_the_margin_answers_figures_for_both_periods(
    settings: Settings, tmp_path: Path, period_text: str, to_date: bool
) -> None:
    rt: Runtime = load_rows(settings, tmp_path, usage=_usage(), contracts=CONTRACTS, now=AS_OF)
    period = rt.period(period_text)
    assert period.complete is not to_date and period.previous().complete is not to_date
    tz = rt.settings.timezone
    with rt.connect() as conn:
        book = portfolio(conn, period, thresholds=rt.thresholds)
        b = margin_bridge(conn, SubjectKind.PORTFOLIO, None, period, prices=rt.prices, timezone=tz)
        _agrees(b, book.previous_total, book.total)
        for customer in ("acme", "bolt"):
            report = customer_report(conn, customer, period, thresholds=rt.thresholds)
            b = margin_bridge(conn, SubjectKind.CUSTOMER, customer, period, prices=rt.prices, timezone=tz)
            _agrees(b, report.previous, report.current)
        for product in ("agent", "chat"):
            report = product_report(conn, product, period, thresholds=rt.thresholds)
            b = margin_bridge(conn, SubjectKind.PRODUCT, product, period, prices=rt.prices, timezone=tz)
            _agrees(b, report.previous, report.current)
