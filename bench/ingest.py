"""The import alone, against its baselines in the same run: `python -m bench.ingest --events 1000000 [--runs 3]
[--row-path] [--postgres URL]`.

SQLite: `marginbot import usage` of the bench's generated CSV in a child process (its peak RSS is the import's),
then bare sqlite3 executemany of the same rows into a table of the file's own columns. PostgreSQL (with
`--postgres`, a server URL; a scratch database is created and dropped): the import, then psycopg COPY of the same
CSV into a bare table. Medians of `--runs`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.run import ensure_data, fresh
from config.settings import DEFAULT_PRICES_FILE

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.pricing.book import PriceBook
from engine.store.db import open_engine
url, usage, contracts, prices, path = sys.argv[1:6]
engine = open_engine(url)
import_contracts_file(engine, Path(contracts))
book = PriceBook.load(prices)
start = time.perf_counter()
kw = {} if path == "auto" else {"columnar": False}
result = import_usage_file(engine, Path(usage), prices=book, timezone="UTC", **kw)
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "imported": result.imported, "rss": rss}))
"""


def child_import(url: str, data: Path, path: str) -> dict[str, Any]:
    args = [url, str(data / "usage.csv"), str(data / "contracts.csv"), str(DEFAULT_PRICES_FILE), path]
    out = subprocess.run([sys.executable, "-c", _CHILD, *args], check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def sqlite_baseline(workdir: Path, data: Path) -> float:
    db = fresh(workdir / "baseline.db")
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    with (data / "usage.csv").open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        columns = ", ".join(c + (" TEXT PRIMARY KEY" if c == "event_id" else "") for c in header)
        con.execute(f"CREATE TABLE raw ({columns})")
        start = time.perf_counter()
        con.executemany(f"INSERT INTO raw VALUES ({', '.join('?' * len(header))})", reader)
    con.commit()
    seconds = time.perf_counter() - start
    rows = con.execute("SELECT COUNT(*) FROM raw").fetchone()[0]
    con.close()
    fresh(db)
    return float(rows / seconds)


def pg_copy_baseline(url: str, data: Path) -> float:
    import psycopg

    with psycopg.connect(url) as con:
        header = (data / "usage.csv").open().readline().strip().split(",")
        columns = ", ".join(c + (" text PRIMARY KEY" if c == "event_id" else " text") for c in header)
        con.execute(f"CREATE TABLE raw ({columns})")
        start = time.perf_counter()
        with (
            con.cursor().copy(f"COPY raw ({', '.join(header)}) FROM STDIN (FORMAT csv, HEADER true)") as copy,
            (data / "usage.csv").open("rb") as handle,
        ):
            while block := handle.read(1 << 20):
                copy.write(block)
        con.commit()
        seconds = time.perf_counter() - start
        row = con.execute("SELECT COUNT(*) FROM raw").fetchone()
        con.execute("DROP TABLE raw")
        con.commit()
    return float(row[0] if row else 0) / seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--row-path", action="store_true", help="import row by row (columnar=False), to compare")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL: measure there instead of SQLite")
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.workdir, args.events, args.customers)
    path = "row" if args.row_path else "auto"
    rates: list[float] = []
    bases: list[float] = []
    rss: list[float] = []
    for run in range(args.runs):
        if args.postgres:
            import psycopg

            name = f"marginbot_bench_{uuid.uuid4().hex[:8]}"
            admin = psycopg.connect(args.postgres, autocommit=True)
            admin.execute(f'CREATE DATABASE "{name}"')
            url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
            try:
                result = child_import(url.replace("postgresql://", "postgresql+psycopg://", 1), data, path)
                bases.append(pg_copy_baseline(url, data))
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
        else:
            result = child_import(f"sqlite:///{fresh(args.workdir / 'bench.db')}", data, path)
            bases.append(sqlite_baseline(args.workdir, data))
        rates.append(result["imported"] / result["seconds"])
        rss.append(result["rss"])
        print(
            f"run {run + 1}: import {rates[-1]:,.0f} events/s ({result['imported']:,} in {result['seconds']:.1f} s, "
            f"peak RSS {rss[-1]:.0f} MB); baseline {bases[-1]:,.0f} rows/s; ratio {rates[-1] / bases[-1]:.2f}",
            flush=True,
        )
    rate, base = statistics.median(rates), statistics.median(bases)
    summary = {
        "database": "postgresql" if args.postgres else "sqlite",
        "path": "row" if args.row_path else "columnar",
        "ingest_events_per_s": round(rate),
        "baseline_rows_per_s": round(base),
        "ratio": round(rate / base, 2),
        "peak_rss_mb": round(max(rss)),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
