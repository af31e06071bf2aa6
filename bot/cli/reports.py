"""`marginbot margin CUSTOMER`, `marginbot product NAME`, `marginbot portfolio`: reports as tables or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import period, period_args

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = sub.add_parser("margin", help="one customer's gross margin, COGS breakdown, P50/P99 and trend")
    p.add_argument("customer", nargs="+", metavar="CUSTOMER", help="id, name or alias")
    period_args(p)
    p.set_defaults(handler=cmd_margin)

    p = sub.add_parser("product", help="one product's gross margin across customers")
    p.add_argument("name", nargs="+", metavar="NAME")
    period_args(p)
    p.set_defaults(handler=cmd_product)

    p = sub.add_parser("portfolio", help="every customer and product, worst margin first")
    period_args(p)
    p.add_argument("--limit", type=int, default=None, help="show at most N customers in the table")
    p.set_defaults(handler=cmd_portfolio)


def cmd_margin(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "customer", " ".join(args.customer))


def cmd_product(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "product", " ".join(args.name))


def _subject(args: argparse.Namespace, rt: Runtime, kind: str, ref: str) -> int:
    from bot.render.spark import trend_line
    from bot.render.tables import render_report
    from engine.reports.margin import customer_report, product_report
    from engine.reports.serialize import dumps, report_to_dict
    from engine.reports.weekly import weekly_to_dict, weekly_trend

    build = customer_report if kind == "customer" else product_report
    chosen = period(args, rt)
    with rt.connect() as conn:
        report = build(conn, ref, chosen, thresholds=rt.thresholds)
        subject = {"customer": report.key} if kind == "customer" else {"product": report.key}
        weekly = weekly_trend(conn, chosen, **subject)
    if args.json:
        print(dumps({**report_to_dict(report), "weekly": weekly_to_dict(weekly)}))
    else:
        print(render_report(report) + f"\n\nWeekly margin  {trend_line(weekly)}")
    return 0


def cmd_portfolio(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.render.spark import trend_line
    from bot.render.tables import render_portfolio
    from engine.reports.portfolio import portfolio
    from engine.reports.serialize import dumps, portfolio_to_dict
    from engine.reports.weekly import weekly_to_dict, weekly_trend

    chosen = period(args, rt)
    with rt.connect() as conn:
        result = portfolio(conn, chosen, thresholds=rt.thresholds)
        weekly = weekly_trend(conn, chosen)
    if args.json:
        print(dumps({**portfolio_to_dict(result), "weekly": weekly_to_dict(weekly)}))
    else:
        print(render_portfolio(result, limit=args.limit) + f"\n\nWeekly margin  {trend_line(weekly)}")
    return 0
