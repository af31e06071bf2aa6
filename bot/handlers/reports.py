"""`/margin CUSTOMER`, `product NAME`, `top`, `worst` and `portfolio`: engine reports as Block Kit answers."""

from __future__ import annotations

from datetime import datetime

from bot.answer_types import Answer
from bot.blocks.portfolio import portfolio_message, ranking_message
from bot.blocks.report import margin_report
from bot.command import Command
from engine.reports.margin import customer_report, product_report
from engine.reports.portfolio import portfolio as portfolio_report
from engine.reports.weekly import weekly_trend
from engine.runtime import Runtime


def customer(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        report = customer_report(conn, cmd.subject, period, thresholds=rt.thresholds, movers=rt.movers)
        return margin_report(report, weekly=weekly_trend(conn, period, customer=report.key))


def product(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        report = product_report(conn, cmd.subject, period, thresholds=rt.thresholds, movers=rt.movers)
        return margin_report(report, weekly=weekly_trend(conn, period, product=report.key))


def portfolio(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        book = portfolio_report(conn, period, thresholds=rt.thresholds)
        return portfolio_message(book, weekly=weekly_trend(conn, period))


def ranking(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    """`top N` and `worst N`: the portfolio's customers, best or worst margin first."""
    period = rt.period(cmd.period, now)
    with rt.connect() as conn:
        book = portfolio_report(conn, period, thresholds=rt.thresholds)
    return ranking_message(book, cmd.kind, cmd.n)
