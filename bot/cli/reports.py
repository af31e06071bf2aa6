"""`marginbot margin CUSTOMER`, `marginbot product NAME`, `marginbot portfolio`: reports as tables, JSON or CSV."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, UserError, command, noting, period, period_args, positive_int, print_notices

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
    p.add_argument("--limit", type=positive_int, default=None, help="show at most N customers in the table")
    p.set_defaults(handler=cmd_portfolio)


def cmd_margin(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "customer", args.customer)


def cmd_product(args: argparse.Namespace, rt: Runtime) -> int:
    return _subject(args, rt, "product", args.name)


def _one_format(args: argparse.Namespace) -> None:
    if args.json and args.csv:
        raise UsageError("give --json or --csv, not both")


def _period_hint(args: argparse.Namespace, rt: Runtime, kind: str, words: list[str]) -> str | None:
    """How to ask for the period, when the name's last word is one (`marginbot margin acme 2026-10`, as one types in
    Slack): None otherwise, or when a period was given as a flag too. A word shaped like a period that is none
    (2026-13, 0d) gets why, not a flag the command would then refuse."""
    from engine.periods import PeriodError, looks_like_period

    if len(words) < 2 or not looks_like_period(words[-1]) or args.period or args.days is not None:
        return None
    last = words[-1].strip()
    try:
        rt.period(last)
    except PeriodError as exc:
        return f"{last} is not a period either: {exc}"
    flag = f"--days {last[:-1]}" if last.lower().endswith("d") else f"--period {last}"
    command = "margin" if kind == "customer" else "product"
    return f"to ask about {last}, give it as {flag}: marginbot {command} {' '.join(words[:-1])} {flag}"


def _subject(args: argparse.Namespace, rt: Runtime, kind: str, words: list[str]) -> int:
    _one_format(args)
    from engine.reports.margin import customer_report, product_report
    from engine.reports.names import AmbiguousSubject, UnknownSubject
    from engine.reports.weekly import weekly_to_dict, weekly_trend

    build = customer_report if kind == "customer" else product_report
    ref = " ".join(words)
    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        with noting(notes):
            try:
                report = build(conn, ref, chosen, thresholds=rt.thresholds, movers=rt.movers)
            except UnknownSubject as exc:
                hint = None if isinstance(exc, AmbiguousSubject) else _period_hint(args, rt, kind, words)
                if hint is None:
                    raise
                raise UserError("; ".join([f"{exc} ({hint})", *notes])) from None
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
