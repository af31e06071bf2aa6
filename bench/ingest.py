"""The import alone, against its baselines in the same run: `python -m bench.ingest --events 1000000 [--runs 3]
[--row-path] [--postgres URL]`.

SQLite: `marginbot import usage` of the bench's generated CSV in a child process (its peak RSS is the import's),
then bare sqlite3 executemany of the same rows into a table of the file's own columns. PostgreSQL (with
`--postgres`, a server URL; a scratch database is created and dropped): the import, then psycopg COPY of the same
CSV into a bare table. Medians of `--runs`; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import uuid
from pathlib import Path

from bench.postgres import copy_baseline
from bench.run import at_least_one, child_import, csv_columns, ensure_data, sqlite_run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--runs", type=at_least_one, default=3)
    parser.add_argument("--row-path", action="store_true", help="import row by row (columnar=False), to compare")
    parser.add_argument("--postgres", default="", help="a PostgreSQL server URL: measure there instead of SQLite")
    parser.add_argument("--workdir", type=Path, default=Path("bench/.work"))
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    data = ensure_data(args.workdir, args.events, args.customers)
    row = args.row_path
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
                result = child_import(url.replace("postgresql://", "postgresql+psycopg://", 1), data, row_path=row)
                bases.append(copy_baseline(url, data / "usage.csv", csv_columns(data / "usage.csv")))
            finally:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.close()
        else:
            result, base = sqlite_run(args.workdir, data, row_path=row)
            bases.append(base)
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
