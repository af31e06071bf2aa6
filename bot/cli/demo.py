"""`marginbot demo`: a fresh SQLite database of generated data, imported the regular way, and what marginbot says."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import command

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = command(sub, "demo", help="build a demo database of generated data and show what marginbot says")
    p.add_argument("--db", default="marginbot-demo.db", help="SQLite file to (re)create")
    p.add_argument("--customers", type=int, default=60)
    p.add_argument("--days", type=int, default=90)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(handler=cmd_demo)


def cmd_demo(args: argparse.Namespace, rt: Runtime) -> int:
    import shutil

    from bot.render.tables import render_portfolio, render_report
    from config.settings import Settings
    from engine.demo import generate
    from engine.ingest.contracts import import_contracts_file
    from engine.ingest.files import import_usage_file
    from engine.periods import trailing
    from engine.reports.margin import customer_report
    from engine.reports.portfolio import portfolio
    from engine.runtime import Runtime
    from engine.store.db import forget_engine

    db_path = Path(args.db)
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
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
    )
    print(import_contracts_file(demo.engine, files.contracts).summary())
    print(import_usage_file(demo.engine, files.usage, prices=demo.prices, timezone=settings.timezone).summary())
    period = trailing(30, today=today)
    with demo.connect() as conn:
        book = portfolio(conn, period, thresholds=demo.thresholds)
        print()
        print(render_portfolio(book, limit=15))
        biggest = max(book.customers, key=lambda r: r.current.cogs)
        print()
        print(render_report(customer_report(conn, biggest.key, period, thresholds=demo.thresholds)))
    print(f"\nDemo database: {db_path} (DATABASE_URL={url})")
    sys.stdout.flush()
    return 0
