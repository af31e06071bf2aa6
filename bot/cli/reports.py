"""`marginbot margin CUSTOMER`, `marginbot product NAME`, `marginbot portfolio`: reports as tables or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import noting, period, period_args, print_notices

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
    from bot.render.tables import render_report
    from engine.reports.margin import customer_report, product_report
    from engine.reports.serialize import dumps, report_to_dict

    build = customer_report if kind == "customer" else product_report
    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        with noting(notes):
            report = build(conn, ref, chosen, thresholds=rt.thresholds, movers=rt.movers)
    print(dumps(report_to_dict(report)) if args.json else render_report(report))
    print_notices(args, notes)
    return 0


def cmd_portfolio(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.render.tables import render_portfolio
    from engine.reports.portfolio import portfolio
    from engine.reports.serialize import dumps, portfolio_to_dict

    chosen = period(args, rt)
    with rt.connect() as conn:
        notes = rt.notices(conn)
        result = portfolio(conn, chosen, thresholds=rt.thresholds)
    print(dumps(portfolio_to_dict(result)) if args.json else render_portfolio(result, limit=args.limit))
    print_notices(args, notes)
    return 0
