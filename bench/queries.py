"""The answers alone, on a database `make bench` already built: `python -m bench.queries [DATABASE_URL]`.

Times the heaviest customer's report, the portfolio and the alerts check (uncached, as `make bench` does, same
medians), without importing anything first: for working on the queries. Default database: bench/.work/bench.db.
"""

from __future__ import annotations

import argparse
import json
import sys

from bench.run import TODAY, at_least_one, heaviest_customer, measure_answers
from config.settings import Settings
from engine.periods import trailing
from engine.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("database_url", nargs="?", default="sqlite:///bench/.work/bench.db")
    parser.add_argument("--repeat", type=at_least_one, default=15)
    args = parser.parse_args(argv)
    rt = Runtime(Settings(_env_file=None, database_url=args.database_url, timezone="UTC"))
    period = trailing(30, today=TODAY)
    heaviest = heaviest_customer(rt, period)
    times = measure_answers(rt, heaviest, period, args.repeat)
    print(json.dumps({"customer": heaviest, **{k: round(v, 2) for k, v in times.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
