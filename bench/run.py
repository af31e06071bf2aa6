"""`make bench`: marginbot's speed against baselines measured in the same run on the same data.

Prints a table, then (last line) one JSON object. Medians of repeated runs; this machine is shared, so compare
the ratios within one run rather than absolute numbers across runs.

Every answer is timed uncached: the engine's reports directly, and the Slack answer path with its report cache
emptied before each call (`answer_path_cached_ms` is the same question asked again before the data changes).
With `--history-days N` the answers are timed again over a database storing N days of history (bench/history.py)
and the ratios printed; with BENCH_POSTGRES_URL set, the import and the answers run on PostgreSQL too
(bench/postgres.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bench.cli import bench_cli
from bench.history import extend_history
from bench.postgres import run_postgres_stage
from bench.sync_bench import run_sync_bench
from bot.answer import answer_json
from config.settings import DEFAULT_PRICES_FILE, Settings
from engine.alerts.evaluate import check_alerts
from engine.demo import generate
from engine.ingest.rollups import UNPRICED_EVENTS
from engine.periods import Period, trailing
from engine.pricing.book import PriceBook
from engine.reports.margin import customer_report
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime
from engine.store.models import COST_COLUMNS
from engine.store.sql import COST_SUM, COST_SUMS

TODAY = date(2026, 11, 27)  # fixed, so the generated data and the periods are the same every run
DAYS = 90  # of generated usage
NOON = datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=UTC)


def median_ms(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm caches once: the bot answers from a warm process
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


# The generated files' version, in the cache folder's name: bumped when engine.demo's files change shape, so a
# cache from before is not read (2: contract rows with every column's field, which the importer now requires; 3: an
# alias only where it points to one customer).
DATA_VERSION = 3


def ensure_data(workdir: Path, events: int, customers: int) -> Path:
    data = workdir / f"data-{events}-{customers}-v{DATA_VERSION}"
    if not (data / "usage.csv").exists() or not (data / "contracts.csv").exists():
        print(f"generating {events:,} events for {customers:,} customers (cached in {data}) …", flush=True)
        tmp = data.with_suffix(".tmp")
        generate(
            tmp,
            customers=customers,
            days=DAYS,
            today=TODAY,
            seed=11,
            events=events,
            prices=PriceBook.load(DEFAULT_PRICES_FILE),
        )
        if data.exists():
            for f in data.iterdir():
                f.unlink()
            data.rmdir()
        tmp.rename(data)
    return data


def at_least_one(text: str) -> int:
    """An argparse type for a count of runs or rounds: a median of none is no figure."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def fresh(path: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


def bench_import(workdir: Path, data: Path, runs: int) -> dict[str, Any]:
    """`runs` imports, each into a fresh bench.db by a process of its own, alternating with bare sqlite3's baseline
    (`bench_sqlite_baseline`): a change in the machine's load weighs on both alike, and one disturbed run moves
    neither median. The medians of each, each pair's ratio, and the largest peak RSS of any import; the last
    import's database stays for the answers."""
    rates: list[float] = []
    baselines: list[float] = []
    peaks: list[float] = []
    events = 0
    for _ in range(runs):
        result, baseline = sqlite_run(workdir, data)
        events = result["imported"]
        rates.append(events / result["seconds"])
        peaks.append(result["rss"])
        baselines.append(baseline)
    return {
        "db": workdir / "bench.db",
        "events": events,
        "events_per_s": statistics.median(rates),
        "baseline_rows_per_s": statistics.median(baselines),
        "ratios": [r / b for r, b in zip(rates, baselines, strict=True)],
        "peak_rss_mb": max(peaks),
    }


def sqlite_run(workdir: Path, data: Path, *, row_path: bool = False) -> tuple[dict[str, Any], float]:
    """One import into a fresh `workdir`/bench.db by a process of its own (`child_import`'s JSON line), then bare
    sqlite3's baseline of the same rows (rows/s)."""
    result = child_import(f"sqlite:///{fresh(workdir / 'bench.db')}", data, row_path=row_path)
    return result, bench_sqlite_baseline(workdir, data)


def child_import(database_url: str, data: Path, *, row_path: bool = False) -> dict[str, Any]:
    """Contracts, then usage, imported into `database_url` by a process of its own (bench/import_child.py): its
    JSON line (seconds, imported, unpriced, rss)."""
    argv = [database_url, str(data / "usage.csv"), str(data / "contracts.csv"), str(DEFAULT_PRICES_FILE)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.import_child", *argv, *(["row"] if row_path else [])],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def import_in_child(database_url: str, data: Path) -> dict[str, Any]:
    """`child_import`'s events and seconds."""
    result = child_import(database_url, data)
    return {"events": result["imported"], "seconds": result["seconds"]}


def heaviest_customer(rt: Runtime, period: Period) -> str:
    """The customer with the most events in `period`: the slowest `/margin` answer."""
    with rt.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT customer FROM daily_customer_product WHERE day BETWEEN :a AND :b GROUP BY customer "
                    "ORDER BY SUM(events) DESC, customer LIMIT 1"
                ),
                {"a": period.start, "b": period.end},
            ).scalar_one()
        )


def measure_answers(
    rt: Runtime, heaviest: str, period: Period, repeat: int, *, baseline: Callable[[], object] | None = None
) -> dict[str, float]:
    """Median milliseconds of the heaviest customer's report (`repeat` calls), the portfolio (`repeat`) and the
    alerts check, a dry run (every third round, at least 3), all uncached: the engine's reports are computed afresh
    on every call. Timed in rounds of one call of each rather than in a block of each: a spell of load on this shared
    machine then weighs on all three alike, not on whichever was being timed.

    `baseline` (DuckDB's answer to the same question over the raw events, `duckdb_raw_ms`) is called right after the
    report in each of its rounds: the ratio of the two is then of calls made moments apart, not minutes."""
    with rt.connect() as conn:
        answers: dict[str, Callable[[], object]] = {
            "margin_ms": lambda: customer_report(conn, heaviest, period, thresholds=rt.thresholds),
            **({"duckdb_raw_ms": baseline} if baseline is not None else {}),
            "portfolio_ms": lambda: portfolio(conn, period, thresholds=rt.thresholds),
            "alerts_ms": lambda: check_alerts(rt, as_of=NOON, dry_run=True),
        }
        times: dict[str, list[float]] = {key: [] for key in answers}
        for answer in answers.values():  # warm caches once: the bot answers from a warm process
            answer()
        checks = max(3, repeat // 3)
        for i in range(max(repeat, 3 * checks - 2)):
            due = {key: i < repeat for key in answers} | {"alerts_ms": i % 3 == 0 and i // 3 < checks}
            for key, answer in answers.items():
                if not due[key]:
                    continue
                start = time.perf_counter()
                answer()
                times[key].append((time.perf_counter() - start) * 1000)
    return {key: statistics.median(ms) for key, ms in times.items()}


def bench_history(
    workdir: Path, rt: Runtime, db: Path, history_days: int, heaviest: str, period: Period, repeat: int
) -> dict[str, Any]:
    """The same answers over a database storing `history_days` days (bench/history.py), timed in alternating
    rounds with the imported database (`rt`), so a change in the machine's load weighs on both alike: the medians
    of each, and the ratios of the longer history's to the imported one's."""
    longer = workdir / "history.db"
    stored = extend_history(db, longer, days_stored=DAYS, history_days=history_days)
    pair = (rt, Runtime(Settings(_env_file=None, database_url=f"sqlite:///{longer}", timezone="UTC")))
    rounds: tuple[list[dict[str, float]], list[dict[str, float]]] = ([], [])
    for _ in range(3):
        for runtime, times in zip(pair, rounds, strict=True):
            times.append(measure_answers(runtime, heaviest, period, max(3, repeat // 3)))
    fresh(longer)

    def median_of(times: list[dict[str, float]], key: str) -> float:
        return statistics.median(t[key] for t in times)

    keys = ("margin_ms", "portfolio_ms", "alerts_ms")
    longer_ms = {k: median_of(rounds[1], k) for k in keys}
    return {
        "days": stored,
        **longer_ms,
        **{k.replace("_ms", "_ratio"): longer_ms[k] / median_of(rounds[0], k) for k in keys},
    }


def csv_columns(path: Path) -> tuple[str, ...]:
    """The columns the usage file has (the generator writes those it fills, not every column the importer reads)."""
    with path.open(newline="") as handle:
        return tuple(next(csv.reader(handle)))


def bench_sqlite_baseline(workdir: Path, data: Path) -> float:
    """Bare sqlite3: the same CSV rows, executemany into a table with an event_id primary key, one transaction."""
    db = fresh(workdir / "baseline.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    columns = csv_columns(data / "usage.csv")
    con.execute(
        f"CREATE TABLE raw ({', '.join(c + (' TEXT PRIMARY KEY' if c == 'event_id' else '') for c in columns)})"
    )
    start = time.perf_counter()
    with (data / "usage.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        con.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * len(columns))})", reader)
    con.commit()
    seconds = time.perf_counter() - start
    rows = con.execute("SELECT COUNT(*) FROM raw").fetchone()[0]
    con.close()
    fresh(db)
    return rows / seconds


def duckdb_answer(con: Any, customer: str, start: date, end: date, prev_start: date) -> tuple[Any, ...]:
    """The same answer as `customer_report`, from raw priced events: breakdowns now and before, days, tasks, units."""
    drivers = con.execute(
        f"SELECT day >= ? AS cur, provider, model, feature, COUNT(*), {UNPRICED_EVENTS}, {COST_SUMS} "
        "FROM ev WHERE customer = ? AND day BETWEEN ? AND ? GROUP BY ALL",
        [start, customer, prev_start, end],
    ).fetchall()
    daily = con.execute(
        f"SELECT day, SUM({COST_SUM}) FROM ev WHERE customer = ? AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
        [customer, start, end],
    ).fetchall()
    tasks = con.execute(
        f"SELECT SUM({COST_SUM}) AS c FROM ev WHERE customer = ? AND task_id IS NOT NULL GROUP BY product, task_id "
        "HAVING MIN(day) BETWEEN ? AND ? ORDER BY c",
        [customer, start, end],
    ).fetchall()
    units = con.execute(
        "SELECT day >= ? AS cur, product, SUM(requests), SUM(input_tokens + output_tokens) FROM ev "
        "WHERE customer = ? AND day BETWEEN ? AND ? GROUP BY ALL",
        [start, customer, prev_start, end],
    ).fetchall()
    return drivers, daily, tasks, units


@contextmanager
def duckdb_events(workdir: Path, db: Path) -> Iterator[Any]:
    """A DuckDB connection holding the imported database's priced events as one raw table `ev` (no rollups), for
    `duckdb_answer`."""
    import duckdb

    export = workdir / "priced_events.csv"
    cols = [
        "event_id",
        "day",
        "customer",
        "product",
        "feature",
        "provider",
        "model",
        "input_tokens",
        "output_tokens",
        "requests",
        "task_id",
        "priced",
        *COST_COLUMNS,
    ]
    src = sqlite3.connect(db)
    with export.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(cols)
        w.writerows(src.execute(f"SELECT {', '.join(cols)} FROM usage_event"))
    src.close()
    con = duckdb.connect(str(fresh(workdir / "raw.duckdb")))
    try:
        try:
            con.execute(f"CREATE TABLE ev AS SELECT * FROM read_csv('{export}', header = true)")
        finally:
            export.unlink()
        yield con
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeat", type=at_least_one, default=15)
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    parser.add_argument(
        "--import-runs",
        type=at_least_one,
        default=3,
        help="imports (each followed by its bare sqlite3 baseline) whose medians are quoted",
    )
    parser.add_argument(
        "--sync-days", type=int, default=9, help="days of hourly buckets for the sync stage (the issue's size is 90)"
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help=f"also time the answers over this many days of stored history (e.g. {4 * DAYS}: 4× the {DAYS} generated)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", ""),
        help="a PostgreSQL server to run the PostgreSQL stage on (default: BENCH_POSTGRES_URL); a database "
        "marginbot_bench is made there and dropped",
    )
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.workdir, args.events, args.customers)

    print(
        f"importing through `marginbot import usage`, then bare sqlite3 executemany of the same rows, "
        f"{args.import_runs}× in turn …",
        flush=True,
    )
    imp = bench_import(args.workdir, data, args.import_runs)

    settings = Settings(_env_file=None, database_url=f"sqlite:///{imp['db']}", timezone="UTC")
    rt = Runtime(settings)
    period = trailing(30, today=TODAY)
    heaviest = heaviest_customer(rt, period)
    print("baseline: DuckDB over the raw priced events, timed in turn with the answers …", flush=True)
    prev = period.previous()
    with duckdb_events(args.workdir, imp["db"]) as duck:
        times = measure_answers(
            rt,
            heaviest,
            period,
            args.repeat,
            baseline=lambda: duckdb_answer(duck, heaviest, period.start, period.end, prev.start),
        )
    margin_ms, scan_ms, alerts_ms = times["margin_ms"], times["portfolio_ms"], times["alerts_ms"]
    duck_ms = times["duckdb_raw_ms"]

    # The full Slack answer path (parse → engine → blocks → JSON) as the bot runs it: uncached (the report cache
    # emptied before each call, as after an import), and asked again before the data changes.
    def uncached_answer() -> None:
        rt.reports.clear()
        answer_json(rt, f"/margin {heaviest}", now=NOON)

    answer_ms = median_ms(uncached_answer, args.repeat)
    cached_ms = median_ms(lambda: answer_json(rt, f"/margin {heaviest}", now=NOON), args.repeat)

    def uncached_portfolio_answer() -> None:
        rt.reports.clear()
        answer_json(rt, "/margin portfolio", now=NOON)

    portfolio_answer_ms = median_ms(uncached_portfolio_answer, max(3, args.repeat // 3))
    history: dict[str, Any] | None = None
    if args.history_days:
        print(f"history: the same answers over {args.history_days} days stored …", flush=True)
        history = bench_history(args.workdir, rt, imp["db"], args.history_days, heaviest, period, args.repeat)
    pg: dict[str, Any] | None = None
    if args.postgres_url:
        print("PostgreSQL: the same import and answers, and psycopg COPY of the same CSV …", flush=True)

        def measure_pg(url: str) -> dict[str, float]:
            pg_rt = Runtime(Settings(_env_file=None, database_url=url, timezone="UTC"))
            return measure_answers(pg_rt, heaviest, period, args.repeat)

        pg = run_postgres_stage(
            args.postgres_url,
            data,
            columns=csv_columns(data / "usage.csv"),
            import_usage=lambda url: import_in_child(url, data),
            measure=measure_pg,
        )
    print(
        f"sync: {args.sync_days} days of hourly OpenAI buckets, 500 projects × 10 models, loopback stand-in …",
        flush=True,
    )
    sync = run_sync_bench(args.workdir / "sync", days=args.sync_days)
    print("start-up: `marginbot --help` and `marginbot margin CUSTOMER --json`, fresh processes …", flush=True)
    cli = bench_cli(settings.database_url, heaviest)
    sync_90 = sync["sync_seconds"] * 90 / args.sync_days

    result: dict[str, Any] = {
        "events": imp["events"],
        "ingest_events_per_s": round(imp["events_per_s"]),
        "baseline_sqlite_rows_per_s": round(imp["baseline_rows_per_s"]),
        "import_runs": args.import_runs,
        "ingest_ratio_runs": [round(r, 2) for r in imp["ratios"]],
        "margin_query_ms": round(margin_ms, 2),
        "duckdb_raw_ms": round(duck_ms, 2),
        "portfolio_scan_ms": round(scan_ms, 2),
        "peak_rss_mb": round(imp["peak_rss_mb"], 1),
        "answer_path_ms": round(answer_ms, 2),
        "answer_path_cached_ms": round(cached_ms, 3),
        "portfolio_answer_ms": round(portfolio_answer_ms, 2),
        "alerts_check_ms": round(alerts_ms, 1),
        "sync_days": args.sync_days,
        "sync_events": sync["sync_events"],
        "sync_seconds": round(sync["sync_seconds"], 1),
        "sync_90d_estimated_s": round(sync_90, 1),
        **cli,
    }
    if history is not None:
        result.update(
            {
                "history_days": history["days"],
                "history_margin_query_ms": round(history["margin_ms"], 2),
                "history_portfolio_scan_ms": round(history["portfolio_ms"], 2),
                "history_alerts_check_ms": round(history["alerts_ms"], 1),
                # Each against the imported database timed in the same alternating rounds (bench_history).
                "history_margin_ratio": round(history["margin_ratio"], 2),
                "history_portfolio_ratio": round(history["portfolio_ratio"], 2),
                "history_alerts_ratio": round(history["alerts_ratio"], 2),
            }
        )
    if pg is not None:
        result.update(pg)
    rows = [
        (
            "import (CSV → priced events + rollups)",
            f"{result['ingest_events_per_s']:,} events/s",
            "≥ 150,000/s",
        ),
        (
            "  baseline: bare sqlite3 executemany",
            f"{result['baseline_sqlite_rows_per_s']:,} rows/s",
            f"ratio {result['ingest_events_per_s'] / result['baseline_sqlite_rows_per_s']:.2f} (target ≥ 0.6; "
            f"runs {', '.join(f'{r:.2f}' for r in imp['ratios'])})",
        ),
        (f"margin answer, heaviest customer ({heaviest})", f"{result['margin_query_ms']} ms", "≤ 10 ms"),
        (
            "  baseline: DuckDB over raw events",
            f"{result['duckdb_raw_ms']} ms",
            f"{result['duckdb_raw_ms'] / max(result['margin_query_ms'], 1e-9):.1f}× slower (target ≥ 5×)",
        ),
        ("portfolio scan (every customer, uncached)", f"{result['portfolio_scan_ms']} ms", "≤ 50 ms"),
        (f"import peak RSS (largest of {args.import_runs})", f"{result['peak_rss_mb']} MB", "≤ 400 MB"),
        ("/margin answer path (parse → engine → blocks → JSON)", f"{result['answer_path_ms']} ms", "≤ 50 ms"),
        ("  the same question again (cached until the data changes)", f"{result['answer_path_cached_ms']} ms", ""),
        ("/margin portfolio answer path (with the 12-week trend)", f"{result['portfolio_answer_ms']} ms", ""),
        ("alerts check (every customer and product)", f"{result['alerts_check_ms']} ms", "≤ 300 ms"),
        (
            f"sync {args.sync_days} days × 500 projects × 10 models, hourly",
            f"{result['sync_seconds']} s",
            f"{sync['sync_events']:,} events",
        ),
        ("  the same scaled to 90 days", f"{result['sync_90d_estimated_s']} s", "< 60 s"),
        ("`marginbot --help` start-up (median wall)", f"{result['cli_help_s']} s", "≤ 0.30 s"),
        (f"`marginbot margin {heaviest} --json` (median wall)", f"{result['cli_margin_s']} s", "≤ 0.45 s"),
    ]
    if history is not None:
        days = result["history_days"]
        rows += [
            (
                f"margin answer, {days} days stored",
                f"{result['history_margin_query_ms']} ms",
                f"ratio {result['history_margin_ratio']:.2f} (target ≤ 1.2)",
            ),
            (
                f"portfolio scan, {days} days stored",
                f"{result['history_portfolio_scan_ms']} ms",
                f"ratio {result['history_portfolio_ratio']:.2f} (target ≤ 1.2)",
            ),
            (
                f"alerts check, {days} days stored",
                f"{result['history_alerts_check_ms']} ms",
                f"ratio {result['history_alerts_ratio']:.2f} (target ≤ 1.2)",
            ),
        ]
    if pg is not None:
        rows += [
            ("PostgreSQL import", f"{result['pg_ingest_events_per_s']:,} events/s", "≥ 80,000/s"),
            (
                "  baseline: psycopg COPY into a bare table",
                f"{result['baseline_pg_copy_rows_per_s']:,} rows/s",
                f"ratio {result['pg_ingest_events_per_s'] / result['baseline_pg_copy_rows_per_s']:.2f}",
            ),
            ("PostgreSQL margin answer, heaviest customer", f"{result['pg_margin_query_ms']} ms", ""),
            ("PostgreSQL portfolio scan", f"{result['pg_portfolio_scan_ms']} ms", ""),
            ("PostgreSQL alerts check", f"{result['pg_alerts_check_ms']} ms", ""),
        ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  {'median / rate':>20}  target")
    for name, value, target in rows:
        print(f"{name.ljust(width)}  {value:>20}  {target}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
