"""`marginbot demo`: a fresh SQLite database of generated data, imported the regular way, and what marginbot says.

The data tells a story a newcomer reads in one screen (engine/demo.py sets it up): two customers bleeding on flat
fees, one heading for the breach line, one that usage pricing keeps healthy, a model nobody priced. Every figure
printed here is read back from the database through the same engine calls the bot makes.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, bounded_int, command

if TYPE_CHECKING:
    from engine.periods import Period
    from engine.reports.portfolio import Portfolio
    from engine.runtime import Runtime

# Each generated row stands for this many requests, and no contract is under this a month: an AI company's
# enterprise book (a few thousand to about a hundred thousand dollars a month), from a demo-sized file.
SCALE = 300
MIN_FEE = Decimal(2500)
SHOWN_CUSTOMERS = 8


MAX_DEMO_CUSTOMERS = 10_000
MAX_DEMO_DAYS = 3660  # ten years, as a period may be


def register(sub: Any) -> None:
    p = command(sub, "demo", help="build a demo database of generated data and show what marginbot says")
    p.add_argument("--db", default="marginbot-demo.db", help="SQLite file to (re)create")
    # Bounded: the data is generated and imported in full, so a slip of the keyboard (1000000) would fill the disk.
    customers = f"up to {MAX_DEMO_CUSTOMERS:,}"
    p.add_argument("--customers", type=bounded_int(MAX_DEMO_CUSTOMERS), default=60, help=customers)
    p.add_argument("--days", type=bounded_int(MAX_DEMO_DAYS), default=90, help=f"up to {MAX_DEMO_DAYS:,}")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, rt: Runtime) -> int:
    import shutil

    from bot.render.tables import render_portfolio
    from config.settings import Settings
    from engine.demo import generate
    from engine.ingest.contracts import import_contracts_file
    from engine.ingest.files import import_usage_file
    from engine.periods import trailing
    from engine.reports.portfolio import portfolio
    from engine.runtime import Runtime
    from engine.store.db import forget_engine

    db_path = Path(args.db)
    if db_path.is_dir():
        raise UsageError(
            f"--db {args.db} is a directory: name the SQLite file to (re)create, e.g. {db_path / 'demo.db'}"
        )
    url = f"sqlite:///{db_path}"
    # An error from here on is about the demo's database, not the one DATABASE_URL names: main() names this one.
    args.database_in_use = url
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    forget_engine(url)
    settings = Settings(**{**rt.settings.model_dump(), "database_url": url})
    demo = Runtime(settings, now_override=rt.now_override)
    today = demo.today()
    data_dir = db_path.parent / "demo-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    print(f"Generating {args.customers} customers × {args.days} days of usage into {data_dir}/ …", flush=True)
    files = generate(
        data_dir,
        customers=args.customers,
        days=args.days,
        today=today,
        seed=args.seed,
        events=2500 * args.days,
        prices=demo.prices,
        scale=SCALE,
        min_fee=MIN_FEE,
    )
    print(import_contracts_file(demo.engine, files.contracts).summary())
    print(import_usage_file(demo.engine, files.usage, prices=demo.prices, timezone=settings.timezone).summary())
    period = trailing(30, today=today)
    with demo.connect() as conn:
        book = portfolio(conn, period, thresholds=demo.thresholds)
    print()
    print(render_portfolio(book, limit=SHOWN_CUSTOMERS, rest=f"`DATABASE_URL={url} marginbot portfolio` lists all"))
    if args.customers >= 5:  # the story's customers exist
        print()
        print(story(demo, book, days=args.days))
    print(f"\nDemo database: {db_path}. To ask it yourself: export DATABASE_URL={url}")
    sys.stdout.flush()
    return 0


def story(rt: Runtime, book: Portfolio, *, days: int) -> str:
    """What the demo shows and where to look next, with the figures read from the database."""
    from engine.alerts.trend import customer_trends
    from engine.demo import BLEEDING, METERED, TRENDING, _customer_ids
    from engine.periods import Period
    from engine.reports.margin import customer_report
    from engine.reports.portfolio import portfolio
    from engine.scenarios.grammar import parse_levers
    from engine.scenarios.whatif import whatif

    ids = [cid for cid, _ in _customer_ids(max(BLEEDING) + 1)]
    rows = {r.key: r for r in book.customers}
    bleeding = [rows[ids[i]] for i in BLEEDING]
    trending, metered = rows[ids[TRENDING]], rows[ids[METERED]]
    period = book.period
    data_start = period.end - timedelta(days=days - 1)
    first = Period(data_start, data_start + timedelta(days=29), "the first 30 days")
    with rt.connect() as conn:
        trend = customer_trends(conn, period, {trending.key}, breach_pct=rt.settings.breach_pct).get(trending.key)
        earlier = {r.key: r for r in portfolio(conn, first, thresholds=rt.thresholds).customers}
        # The what-if that saves the smaller bleeder: charge per task at twice what a task costs.
        target = bleeding[-1]
        report = customer_report(conn, target.key, period, thresholds=rt.thresholds)
        per_task = (target.current.cogs / max(report.tasks, 1) * 2).quantize(Decimal("0.01"), ROUND_CEILING)
        lever = f"price usage {per_task}/task"
        levers, _ = parse_levers(lever.split())
        saved = whatif(conn, target.key, period, levers, prices=rt.prices, thresholds=rt.thresholds)
    after = saved.after.margin_pct
    grew = metered.current.events / max(earlier[metered.key].current.events, 1) if metered.key in earlier else None
    unpriced = sum(r.current.unpriced_events for r in book.customers)
    lines = ["What this demo shows"]
    lines.append(
        "  ● "
        + " and ".join(f"{r.name} ({_pct(r.current.margin_pct)})" for r in bleeding)
        + " bleed on flat fees: their agents' usage outgrew what they pay."
    )
    heading = f"  ● {trending.name} is at {_pct(trending.current.margin_pct)} on a flat fee while its usage grows"
    if trend is not None and trend.crosses_on is not None:
        heading += f": {abs(trend.slope_pts_per_day):.1f} pts a day down, at the breach line around {trend.crosses_on}"
    lines.append(heading + ".")
    lines.append(
        f"  ● {metered.name} grew as fast"
        + (f" ({grew:.1f}× the events of the first 30 days)" if grew else "")
        + f" and holds {_pct(metered.current.margin_pct)}: it pays per request."
    )
    if book.unpriced_models:
        lines.append(
            f"  ● {unpriced:,} events of {', '.join(book.unpriced_models)} {_during(period)} have no price: COGS is "
            "understated until it gets one."
        )
    saves = f"{_pct(target.current.margin_pct)} → {_pct(after)}"
    look = [
        (f"marginbot margin {bleeding[0].key}", f"a breach: where {bleeding[0].name}'s COGS goes"),
        (f"marginbot whatif {target.key} {lever}", f"per-task pricing saves {target.name}: {saves}"),
        (
            f"marginbot forecast {trending.key} --growth 10%",
            f"the month {trending.name} breaches if usage keeps growing",
        ),
        ("marginbot alerts check --dry-run", "the alerts Slack would get"),
        ('marginbot ask "/margin portfolio"', "what Slack shows; the Home tab: `marginbot serve` (docs/slack.md)"),
    ]
    width = max(len(cmd) for cmd, _ in look)
    lines += ["", "Where to look next (with DATABASE_URL set as below)"]
    lines += [f"  {cmd:<{width}}  {why}" for cmd, why in look]
    return "\n".join(lines)


def _during(period: Period) -> str:
    """ "in the last 30 days", or "in 2026-11": the window the figures cover, named by its own label (a trailing
    window spans two months, so it is not "this month")."""
    return f"in the {period.label}" if period.unit == "days" else f"in {period.title}"


def _usd(value: Decimal) -> str:
    from bot.render.fmt import money

    return money(value)


def _pct(value: Decimal | None) -> str:
    from bot.render.fmt import percent

    return percent(value)
