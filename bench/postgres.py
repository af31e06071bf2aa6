"""The PostgreSQL stage of `make bench` (when BENCH_POSTGRES_URL is set): the same CSV imported through marginbot,
the same answers timed, against psycopg COPY of the same CSV into a bare table, all in the same run.

The stage works in a database of its own (`marginbot_bench`, made afresh on the server BENCH_POSTGRES_URL names and
dropped at the end), so the database in the URL is never touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DATABASE = "marginbot_bench"


def _libpq(url: str) -> str:
    """`url` as libpq (psycopg) reads it: without SQLAlchemy's driver name."""
    scheme, sep, rest = url.partition("://")
    return "postgresql://" + rest if sep and scheme.startswith("postgres") else url


def _with_database(url: str, name: str) -> str:
    base, _, tail = _libpq(url).rpartition("/")
    query = tail.partition("?")[2]
    return f"{base}/{name}" + (f"?{query}" if query else "")


@contextmanager
def bench_database(url: str) -> Iterator[str]:
    """A fresh database for the stage on the server of `url`, dropped afterwards; yields its libpq URL."""
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{BENCH_DATABASE}"')
    try:
        yield _with_database(url, BENCH_DATABASE)
    finally:
        from engine.store.db import forget_engine

        forget_engine("postgresql+psycopg://" + _with_database(url, BENCH_DATABASE).partition("://")[2])
        with psycopg.connect(_libpq(url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)')


def copy_baseline(url: str, usage_csv: Path, columns: tuple[str, ...]) -> float:
    """Rows per second of psycopg COPY of the CSV into a bare table with an event_id primary key, one transaction
    (the PostgreSQL counterpart of the bare sqlite3 executemany baseline)."""
    import psycopg

    cols = ", ".join(c + (" TEXT PRIMARY KEY" if c == "event_id" else " TEXT") for c in columns)
    with psycopg.connect(_libpq(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS raw_copy")
        conn.execute(f"CREATE TABLE raw_copy ({cols})")
        conn.commit()
        start = time.perf_counter()
        with (
            conn.cursor() as cur,
            cur.copy("COPY raw_copy FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            usage_csv.open("rb") as f,
        ):
            while block := f.read(1 << 20):
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - start
        rows = conn.execute("SELECT COUNT(*) FROM raw_copy").fetchone()
        conn.execute("DROP TABLE raw_copy")
        conn.commit()
    return (rows[0] if rows else 0) / seconds


def run_postgres_stage(
    url: str,
    data: Path,
    *,
    columns: tuple[str, ...],
    import_usage: Callable[[str], dict[str, Any]],
    measure: Callable[[str], dict[str, float]],
) -> dict[str, Any]:
    """Import through marginbot (`import_usage(database_url)`), time the answers (`measure(database_url)`) and
    the COPY baseline, in a fresh database; the JSON keys of the stage."""
    with bench_database(url) as libpq_url:
        sqlalchemy_url = "postgresql+psycopg://" + libpq_url.partition("://")[2]
        imp = import_usage(sqlalchemy_url)
        times = measure(sqlalchemy_url)
        copy_rate = copy_baseline(libpq_url, data / "usage.csv", columns)
    return {
        "pg_ingest_events_per_s": round(imp["events"] / imp["seconds"]),
        "baseline_pg_copy_rows_per_s": round(copy_rate),
        "pg_margin_query_ms": round(times["margin_ms"], 2),
        "pg_portfolio_scan_ms": round(times["portfolio_ms"], 2),
        "pg_alerts_check_ms": round(times["alerts_ms"], 1),
    }
