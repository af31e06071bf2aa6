"""`marginbot whatif|forecast|floor`: scenario answers in a terminal (the Slack blocks, rendered) or as JSON.

    marginbot whatif CUSTOMER|--portfolio [--period YYYY-MM|--days N] LEVER... [--json]
    marginbot forecast CUSTOMER|--portfolio [--growth 10%|10x] [--months M] [--days N] [--json]
    marginbot floor CUSTOMER [--target PCT] [--unit request|task|1k_tokens|seat|month] [--days N] [--json]

For `whatif`, the customer is every word before the first lever word (route, cache, price, usage); name a
customer whose name holds one of those words by its id. Write FROM->TO as one word (`gpt-4o->gpt-4o-mini`).
"""

from __future__ import annotations

import argparse
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, UserError, as_of, command, noting, period, period_args, print_notices
from engine.periods import PeriodError, parse_period
from engine.scenarios.words import DEFAULT_MONTHS, FLOOR_UNITS, HISTORY_DAYS, HOW_TO

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = command(
        sub,
        "whatif",
        help="what if we route, cache, re-price or grow: before and after side by side",
        description=f"Apply levers to a customer or the portfolio. {HOW_TO}",
    )
    p.add_argument("words", nargs="*", metavar="CUSTOMER... LEVER...", help="the customer, then the levers")
    p.add_argument("--portfolio", action="store_true", help="every customer (then give only levers)")
    period_args(p)
    p.set_defaults(handler=cmd_whatif)

    p = command(
        sub, "forecast", help="margin month by month in a typical (P50) and a heavy (P99) month, and when it breaches"
    )
    p.add_argument("customer", nargs="*", metavar="CUSTOMER")
    p.add_argument(
        "--portfolio", action="store_true", help="every customer, the total and each plan (or name `portfolio`)"
    )
    p.add_argument("--growth", help="usage growth: 10%% a month (compounding) or 10x over the forecast")
    p.add_argument("--months", type=int, default=DEFAULT_MONTHS, help=f"months ahead (default {DEFAULT_MONTHS})")
    period_args(p, default_days=HISTORY_DAYS, what="the history the 30-day windows are taken from: ")
    p.set_defaults(handler=cmd_forecast)

    p = command(sub, "floor", help="the lowest price that keeps the margin at a target in a heavy (P99) month")
    p.add_argument("customer", nargs="+", metavar="CUSTOMER")
    p.add_argument("--target", help="target gross margin in percent (default MARGINBOT_HEALTHY_PCT)")
    p.add_argument(
        "--unit",
        choices=FLOOR_UNITS,
        help="price this unit (default: the unit their contracts share, else a month of everything they pay)",
    )
    period_args(p, default_days=HISTORY_DAYS, what="the history the 30-day windows are taken from: ")
    p.set_defaults(handler=cmd_floor)


def _print(d: dict[str, Any], blocks: list[dict[str, Any]], as_json: bool) -> None:
    from bot.render.terminal import render
    from engine.reports.serialize import dumps

    if as_json:
        print(dumps(d))
        return
    # Code fences mark the monthly table for Slack; a terminal shows it as it is.
    print("\n".join(line for line in render(blocks).strip("\n").splitlines() if line.strip() != "```"))


def cmd_whatif(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.blocks.scenarios import whatif_message
    from engine.scenarios.grammar import ScenarioError, parse_levers, split_subject
    from engine.scenarios.whatif import scenario_to_dict
    from engine.scenarios.whatif import whatif as whatif_report

    try:
        if args.portfolio:
            subject, rest = None, list(args.words)
        else:
            subject, rest = split_subject(args.words)
        levers, period_word = parse_levers(rest)
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    if period_word and (args.period or args.days is not None):
        raise UsageError(f"two periods given ({period_word} and --period/--days); give one")
    try:
        chosen = parse_period(period_word, today=rt.today(as_of(args, rt))) if period_word else period(args, rt)
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    try:
        with rt.connect() as conn:
            notes = rt.notices(conn)
            with noting(notes):
                result = whatif_report(conn, subject, chosen, levers, prices=rt.prices, thresholds=rt.thresholds)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    d = scenario_to_dict(result)
    _print(d, whatif_message(d).blocks, args.json)
    print_notices(args, notes)
    return 0


def cmd_forecast(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.blocks.scenarios import forecast_message
    from engine.scenarios.forecast import forecast as forecast_report
    from engine.scenarios.forecast_json import forecast_to_dict
    from engine.scenarios.growth import ForecastError, parse_growth

    # `forecast portfolio` is the portfolio, as `whatif portfolio` and `/margin forecast portfolio` read it.
    if [w.lower() for w in args.customer] == ["portfolio"]:
        args.portfolio, args.customer = True, []
    if bool(args.portfolio) == bool(args.customer):
        raise UsageError("name one customer or give --portfolio")
    try:
        growth = parse_growth(args.growth)
    except ForecastError as exc:
        raise UsageError(str(exc)) from None
    try:
        with rt.connect() as conn:
            notes = rt.notices(conn)
            with noting(notes):
                result = forecast_report(
                    conn,
                    None if args.portfolio else " ".join(args.customer),
                    period(args, rt, default_days=HISTORY_DAYS),
                    growth=growth,
                    months=args.months,
                    thresholds=rt.thresholds,
                )
    except ForecastError as exc:
        raise UserError(str(exc)) from None
    d = forecast_to_dict(result)
    _print(d, forecast_message(d).blocks, args.json)
    print_notices(args, notes)
    return 0


def cmd_floor(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.blocks.scenarios import floor_message
    from engine.scenarios.floor import FloorError, floor_to_dict, price_floor

    if [w.lower() for w in args.customer] == ["portfolio"]:
        raise UsageError("a price floor is for one customer; name one")  # as /margin floor portfolio says
    target = None
    if args.target is not None:
        try:
            target = Decimal(args.target.rstrip("%"))
        except InvalidOperation:
            raise UsageError(f"--target must be a percentage like 55, got {args.target!r}") from None
    try:
        with rt.connect() as conn:
            notes = rt.notices(conn)
            with noting(notes):
                result = price_floor(
                    conn,
                    " ".join(args.customer),
                    period(args, rt, default_days=HISTORY_DAYS),
                    thresholds=rt.thresholds,
                    target_pct=target,
                    unit=args.unit,
                )
    except FloorError as exc:
        raise UserError(str(exc)) from None
    d = floor_to_dict(result)
    _print(d, floor_message(d).blocks, args.json)
    print_notices(args, notes)
    return 0
