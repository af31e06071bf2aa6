"""`marginbot margin CUSTOMER`, `marginbot product NAME`, `marginbot portfolio`: reports as tables, JSON or CSV."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, command, noting, period, period_args, print_notices

if TYPE_CHECKING:
    from engine.runtime import Runtime


def _csv_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--csv", action="store_true", help="print CSV for a spreadsheet (money as plain decimals)")


def register(sub: Any) -> None:
    p = command(sub, "margin", help="one customer's gross margin, COGS breakdown, P50/P99 and trend")
    p.add_argument("customer", nargs="+", metavar="CUSTOMER", help="id, name or alias")
    period_args(p)
    _csv_flag(p)
    p.set_defaults(handler=cmd_margin)

    p = command(sub, "product", help="one product's gross margin across customers")
    p.add_argument("name", nargs="+", metavar="NAME")
    period_args(p)
    _csv_flag(p)
    p.set_defaults(handler=cmd_product)

    p = command(sub, "portfolio", help="every customer and product, worst margin first")
    period_args(p)
    _csv_flag(p)
    p.add_argument("--limit", type=int, default=None, help="show at most N customers in the table")
    p.set_defaults(handler=cmd_portfolio)


def cmd_margin(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "customer", " ".join(args.customer))


def cmd_product(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "product", " ".join(args.name))


def _one_format(args: argparse.Namespace) -> None:
    if args.json and args.csv:
        raise UsageError("give --json or --csv, not both")


def _subject(args: argparse.Namespace, rt: Runtime, kind: str, ref: str) -> int:
    _one_format(args)
    from engine.reports.margin import customer_report, product_report
    from engine.reports.weekly import weekly_to_dict, weekly_trend

    build = customer_report if kind == "customer" else product_report
    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        with noting(notes):
            report = build(conn, ref, chosen, thresholds=rt.thresholds, movers=rt.movers)
        subject = {"customer": report.key} if kind == "customer" else {"product": report.key}
        weekly = weekly_trend(conn, chosen, **subject) if not args.csv else []
    if args.json:
        from engine.reports.serialize import dumps, report_to_dict

        print(dumps({**report_to_dict(report), "weekly": weekly_to_dict(weekly)}))
    elif args.csv:
        from bot.render.csv_table import report_csv

        sys.stdout.write(report_csv(report))
    else:
        from bot.render.spark import trend_line
        from bot.render.tables import render_report

        print(render_report(report) + f"\n\nWeekly margin  {trend_line(weekly)}")
    print_notices(args, notes)
    return 0


def cmd_portfolio(args: argparse.Namespace, rt: Runtime) -> int:
    _one_format(args)
    from engine.reports.portfolio import portfolio
    from engine.reports.weekly import weekly_to_dict, weekly_trend

    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        result = portfolio(conn, chosen, thresholds=rt.thresholds)
        weekly = weekly_trend(conn, chosen) if not args.csv else []
    if args.json:
        from engine.reports.serialize import dumps, portfolio_to_dict

        print(dumps({**portfolio_to_dict(result), "weekly": weekly_to_dict(weekly)}))
    elif args.csv:
        from bot.render.csv_table import portfolio_csv

        sys.stdout.write(portfolio_csv(result))
    else:
        from bot.render.spark import trend_line
        from bot.render.tables import render_portfolio

        print(render_portfolio(result, limit=args.limit) + f"\n\nWeekly margin  {trend_line(weekly)}")
    print_notices(args, notes)
    return 0
