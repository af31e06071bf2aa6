"""Start-up of the `marginbot` command, as a person at a terminal feels it: median wall time of fresh processes.

Targets (issue 13): `marginbot --help` ≤ 0.30 s, `marginbot margin CUSTOMER --json` ≤ 0.45 s on the benchmark's
data. Each run is a new interpreter, as every real call is; the first run is discarded (cold file cache).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

MARGINBOT = Path(sys.executable).with_name("marginbot")


def median_wall_s(argv: list[str], *, env: dict[str, str] | None = None, runs: int = 9) -> float:
    """Median wall seconds of `marginbot ARGV` over `runs` fresh processes (after one warm-up run)."""
    command = [str(MARGINBOT), *argv] if MARGINBOT.exists() else [sys.executable, "-m", "bot.cli.main", *argv]
    full_env = {**os.environ, **(env or {})}
    times = []
    for i in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        if i:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_cli(database_url: str, customer: str, *, runs: int = 9) -> dict[str, float]:
    """`cli_help_s` and `cli_margin_s` for the JSON line of `make bench`."""
    env = {"DATABASE_URL": database_url}
    return {
        "cli_help_s": round(median_wall_s(["--help"], runs=runs), 3),
        "cli_margin_s": round(median_wall_s(["margin", customer, "--json"], env=env, runs=runs), 3),
    }


if __name__ == "__main__":
    # `python -m bench.cli DATABASE_URL CUSTOMER`: just these two, on any database.
    print(bench_cli(sys.argv[1], sys.argv[2]))
