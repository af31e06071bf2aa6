"""`marginbot`: the command line. Engine commands live here; other areas register theirs via EXTENSIONS."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bot.render.tables import render_portfolio, render_report
from config.settings import Settings
from engine.ingest.contracts import ContractFileError, import_contracts_file
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.reprice import reprice
from engine.periods import DEFAULT_DAYS, Period, PeriodError, parse_period, trailing
from engine.pricing.book import PriceFileError
from engine.reports.margin import customer_report, product_report
from engine.reports.names import UnknownSubject
from engine.reports.portfolio import portfolio
from engine.reports.serialize import dumps, portfolio_to_dict, report_to_dict
from engine.runtime import Runtime
from engine.store.meta import StaleRollups
from engine.timeutil import parse_timestamp

log = logging.getLogger("marginbot")

# Modules that add subcommands: each has `register(subparsers) -> None`, and its handlers take (args, runtime).
EXTENSIONS: tuple[str, ...] = ("bot.cli.slack", "bot.cli.sync", "bot.cli.scenarios", "bot.cli.jobs")

Handler = Callable[[argparse.Namespace, Runtime], int]


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def _period_args(p: argparse.ArgumentParser) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("--period", metavar="YYYY-MM", help="a calendar month")
    group.add_argument("--days", type=int, metavar="N", help=f"the last N complete days (default {DEFAULT_DAYS})")
    p.add_argument("--as-of", metavar="TIMESTAMP", help="pretend it is this moment (default: now)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _period(args: argparse.Namespace, rt: Runtime) -> Period:
    now = _as_of(args, rt)
    if args.period:
        return parse_period(args.period, today=rt.today(now))
    if args.days is not None:
        return trailing(args.days, today=rt.today(now))
    return trailing(DEFAULT_DAYS, today=rt.today(now))


def _as_of(args: argparse.Namespace, rt: Runtime) -> datetime:
    if getattr(args, "as_of", None):
        try:
            return parse_timestamp(args.as_of)
        except ValueError as exc:
            raise UserError(f"--as-of: {exc}") from None
    return rt.now()


def cmd_import_usage(args: argparse.Namespace, rt: Runtime) -> int:
    status = 0
    for path in args.files:
        if not Path(path).is_file():
            print(f"{path}: no such file", file=sys.stderr)
            status = 1
            continue
        try:
            result = import_usage_file(
                rt.engine,
                path,
                prices=rt.prices,
                timezone=rt.settings.timezone,
                skip_invalid=args.skip_invalid,
            )
        except ImportRefused as exc:
            print(str(exc), file=sys.stderr)
            status = 1
            continue
        print(result.summary())
    return status


def cmd_import_contracts(args: argparse.Namespace, rt: Runtime) -> int:
    if not Path(args.file).is_file():
        raise UserError(f"{args.file}: no such file")
    try:
        result = import_contracts_file(rt.engine, args.file)
    except ContractFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def cmd_margin(args: argparse.Namespace, rt: Runtime) -> int:
    period = _period(args, rt)
    with rt.connect() as conn:
        report = customer_report(conn, " ".join(args.customer), period, thresholds=rt.thresholds)
    print(dumps(report_to_dict(report)) if args.json else render_report(report))
    return 0


def cmd_product(args: argparse.Namespace, rt: Runtime) -> int:
    period = _period(args, rt)
    with rt.connect() as conn:
        report = product_report(conn, " ".join(args.name), period, thresholds=rt.thresholds)
    print(dumps(report_to_dict(report)) if args.json else render_report(report))
    return 0


def cmd_portfolio(args: argparse.Namespace, rt: Runtime) -> int:
    period = _period(args, rt)
    with rt.connect() as conn:
        result = portfolio(conn, period, thresholds=rt.thresholds)
    print(dumps(portfolio_to_dict(result)) if args.json else render_portfolio(result, limit=args.limit))
    return 0


def cmd_reprice(args: argparse.Namespace, rt: Runtime) -> int:
    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UserError(f"--since must be a date like 2026-10-01, got {args.since!r}") from None
    result = reprice(rt.engine, prices=rt.prices, timezone=rt.settings.timezone, since=since)
    print(result.summary())
    return 0


def cmd_demo(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.demo import run_demo

    return run_demo(rt, db_path=Path(args.db), customers=args.customers, days=args.days, seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginbot",
        description="Gross margin per AI customer and product: priced usage joined to contract revenue.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    imp = sub.add_parser("import", help="import usage events or contracts")
    imp_sub = imp.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = imp_sub.add_parser("usage", help="import usage events (CSV with a header, or JSONL)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-invalid", action="store_true", help="import the good rows, write rejects beside the file")
    p.set_defaults(handler=cmd_import_usage)
    p = imp_sub.add_parser("contracts", help="import contracts (CSV); re-importing replaces a contract")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_import_contracts)

    p = sub.add_parser("margin", help="one customer's gross margin, COGS breakdown, P50/P99 and trend")
    p.add_argument("customer", nargs="+", metavar="CUSTOMER", help="id, name or alias")
    _period_args(p)
    p.set_defaults(handler=cmd_margin)

    p = sub.add_parser("product", help="one product's gross margin across customers")
    p.add_argument("name", nargs="+", metavar="NAME")
    _period_args(p)
    p.set_defaults(handler=cmd_product)

    p = sub.add_parser("portfolio", help="every customer and product, worst margin first")
    _period_args(p)
    p.add_argument("--limit", type=int, default=None, help="show at most N customers in the table")
    p.set_defaults(handler=cmd_portfolio)

    p = sub.add_parser("reprice", help="re-price stored events after the price file changed")
    p.add_argument("--since", metavar="DATE", help="only events from this date on (default: all)")
    p.set_defaults(handler=cmd_reprice)

    p = sub.add_parser("demo", help="build a demo database of generated data and show what marginbot says")
    p.add_argument("--db", default="marginbot-demo.db", help="SQLite file to (re)create")
    p.add_argument("--customers", type=int, default=60)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=cmd_demo)

    for name in EXTENSIONS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None, runtime: Runtime | None = None) -> int:
    """Entry point of the `marginbot` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces every schema check at INFO; only its warnings matter to a user.
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    try:
        rt = runtime or Runtime(settings or Settings())
        handler: Handler = args.handler
        return handler(args, rt)
    except ValidationError as exc:
        print(f"marginbot: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (UserError, UnknownSubject, PeriodError, PriceFileError, StaleRollups) as exc:
        print(f"marginbot: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        # Unreachable server, wrong credentials, unwritable file: say which database (password hidden) and why.
        url = make_url((runtime.settings if runtime else settings or Settings()).database_url)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(
            f"marginbot: cannot use the database {url.render_as_string(hide_password=True)}: {reason}", file=sys.stderr
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
