"""Runs one import in its own process, so the parent can read this process's peak RSS and nothing else.

`python -m bench.import_child DATABASE USAGE CONTRACTS PRICES [row]`: `row` imports row by row (columnar=False), to
compare the paths. Prints one JSON line: seconds, events imported and unpriced, peak RSS in MB.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.pricing.book import PriceBook
from engine.store.db import open_engine


def main() -> None:
    database, usage, contracts, prices = sys.argv[1:5]
    columnar = False if sys.argv[5:6] == ["row"] else None  # None: the importer's own choice
    # A database URL (the PostgreSQL stage), or a SQLite file's path.
    engine = open_engine(database if "://" in database else f"sqlite:///{database}")
    import_contracts_file(engine, Path(contracts))
    book = PriceBook.load(prices)
    start = time.perf_counter()
    result = import_usage_file(engine, Path(usage), prices=book, timezone="UTC", columnar=columnar)
    seconds = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "imported": result.imported, "unpriced": result.unpriced_events, "rss": rss}))


if __name__ == "__main__":
    main()
