"""`/margin CUSTOMER`, `product NAME`, `top`, `worst` and `portfolio`: engine reports as Block Kit answers.

The reports come through the runtime's report cache (engine/reports/cache.py): a question asked again before the
data changes is answered without reading the database again.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from bot.answer_types import Answer
from bot.blocks.portfolio import portfolio_message, ranking_message
from bot.blocks.report import margin_report
from bot.command import Command
from engine.periods import Period
from engine.reports.margin import customer_report, product_report
from engine.reports.portfolio import Portfolio
from engine.reports.portfolio import portfolio as portfolio_report
from engine.reports.weekly import Week, weekly_trend
from engine.runtime import Runtime


def customer(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:

        def build() -> Answer:
            report = customer_report(conn, cmd.subject, period, thresholds=rt.thresholds, movers=rt.movers)
            return margin_report(report, weekly=weekly_trend(conn, period, customer=report.key))

        # The answer is kept whole: its builder is pure, and what someone typed resolves to the same customer
        # until the data (customers, contracts) changes.
        return rt.reports.get(conn, ("customer", cmd.subject, period, rt.thresholds, rt.movers), build)


def product(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:

        def build() -> Answer:
            report = product_report(conn, cmd.subject, period, thresholds=rt.thresholds, movers=rt.movers)
            return margin_report(report, weekly=weekly_trend(conn, period, product=report.key))

        return rt.reports.get(conn, ("product", cmd.subject, period, rt.thresholds, rt.movers), build)


def cached_portfolio(rt: Runtime, conn: Connection, period: Period) -> Portfolio:
    """The portfolio over `period`, shared by `/margin portfolio`, `top`, `worst` and the App Home."""
    return rt.reports.get(
        conn, ("portfolio", period, rt.thresholds), lambda: portfolio_report(conn, period, thresholds=rt.thresholds)
    )


def cached_trend(rt: Runtime, conn: Connection, period: Period) -> list[Week]:
    """The portfolio's 12-week trend up to `period`'s end (read once per data generation)."""
    return rt.reports.get(conn, ("weekly", period), lambda: weekly_trend(conn, period))


def portfolio(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        return portfolio_message(cached_portfolio(rt, conn, period), weekly=cached_trend(rt, conn, period))


def ranking(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    """`top N` and `worst N`: the portfolio's customers, best or worst margin first."""
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        book = cached_portfolio(rt, conn, period)
    return ranking_message(book, cmd.kind, cmd.n)
