"""This checkout's answers against another checkout's, call for call: `python -m bench.compare OTHER [DATABASE_URL]
[--rounds N]`.

OTHER is another checkout of marginbot (say `git worktree add --detach ../base main`), DATABASE_URL a database
`make bench` built (default bench/.work/bench.db). Each checkout answers in a process of its own, started once:
the portfolio, an alerts dry run and the heaviest customer's report, one call at a time, the two processes in turn
(the order flipped every round). A machine whose speed drifts by a third within minutes (a shared VM) moves both
sides of each pair alike, where blocks of runs timed one after the other would measure the drift. Prints, per
question, each side's median milliseconds and the median (and interquartile range) of the per-pair ratios
this/other; the last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import IO, Any

QUESTIONS = {"portfolio": "p", "alerts": "a", "margin": "m"}


def _worker(database_url: str, today: str, customer: str) -> None:
    """Answer each question named on stdin, printing its milliseconds (wall: on PostgreSQL the server's work is
    part of it): run by `compare` with the checkout under test first on sys.path, so what it imports below is that
    checkout's code."""
    import time
    from datetime import UTC, datetime

    import engine

    # The checkout under test is the working folder; marginbot installed in the environment (an editable install
    # of this checkout) would otherwise answer for a folder that holds no marginbot at all.
    if not Path(engine.__file__).resolve().is_relative_to(Path.cwd().resolve()):
        sys.exit(f"{Path.cwd()} holds no marginbot (engine is imported from {Path(engine.__file__).parent})")

    from config.settings import Settings
    from engine.alerts.evaluate import check_alerts
    from engine.periods import trailing
    from engine.reports.margin import customer_report
    from engine.reports.portfolio import portfolio
    from engine.runtime import Runtime

    rt = Runtime(Settings(_env_file=None, database_url=database_url, timezone="UTC"))
    day = date.fromisoformat(today)
    period = trailing(30, today=day)
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    with rt.connect() as conn:
        answers = {
            "p": lambda: portfolio(conn, period, thresholds=rt.thresholds),
            "a": lambda: check_alerts(rt, as_of=noon, dry_run=True),
            "m": lambda: customer_report(conn, customer, period, thresholds=rt.thresholds),
        }
        for answer in answers.values():  # warmed up: imports, prepared statements, the page cache
            answer()
        print("ready", flush=True)
        for line in sys.stdin:
            start = time.perf_counter()
            answers[line.strip()]()
            print(f"{(time.perf_counter() - start) * 1000:.3f}", flush=True)


def _start(checkout: Path, database_url: str, customer: str) -> subprocess.Popen[str]:
    # This file run as a script by its path: nothing of this checkout is imported before the worker's own imports.
    from bench.run import TODAY

    env = {**os.environ, "PYTHONPATH": str(checkout)}
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", database_url, TODAY.isoformat(), customer]
    worker = subprocess.Popen(argv, cwd=checkout, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if _read(worker.stdout) != "ready":
        _stop(worker)
        raise SystemExit(f"{checkout}: the worker did not start (see its error above)")
    return worker


def _stop(worker: subprocess.Popen[str]) -> None:
    """End a worker (its stdin closed, it leaves its loop) and let go of its pipes."""
    for stream in (worker.stdin, worker.stdout):
        if stream is not None:
            stream.close()
    worker.wait()


def _read(stream: IO[str] | None) -> str:
    assert stream is not None
    return stream.readline().strip()


def _ask(worker: subprocess.Popen[str], question: str) -> float:
    assert worker.stdin is not None
    worker.stdin.write(question + "\n")
    worker.stdin.flush()
    return float(_read(worker.stdout))


def compare(this: Path, other: Path, database_url: str, customer: str, rounds: int) -> dict[str, Any]:
    workers = {"this": _start(this, database_url, customer)}
    try:
        workers["other"] = _start(other, database_url, customer)
        times: dict[str, dict[str, list[float]]] = {q: {"this": [], "other": []} for q in QUESTIONS}
        for i in range(rounds):
            for name, code in QUESTIONS.items():
                for side in ("this", "other") if i % 2 == 0 else ("other", "this"):
                    times[name][side].append(_ask(workers[side], code))
    finally:
        for worker in workers.values():
            _stop(worker)
    result: dict[str, Any] = {}
    for name, sides in times.items():
        ratios = sorted(a / b for a, b in zip(sides["this"], sides["other"], strict=True))
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        result[name] = {
            "this_ms": round(statistics.median(sides["this"]), 2),
            "other_ms": round(statistics.median(sides["other"]), 2),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_iqr": [round(quartiles[0], 3), round(quartiles[2], 3)],
        }
    return result


def main(argv: list[str] | None = None) -> int:
    args_in = sys.argv[1:] if argv is None else argv
    if args_in[:1] == ["--worker"]:
        _worker(*args_in[1:4])
        return 0
    from bench.run import at_least_one

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("other", type=Path, help="the other checkout")
    parser.add_argument("database_url", nargs="?", default="sqlite:///bench/.work/bench.db")
    parser.add_argument("--rounds", type=at_least_one, default=20)
    parser.add_argument("--customer", default="acme-corp", help="whose report is timed (the bench's heaviest)")
    args = parser.parse_args(args_in)
    this = Path(__file__).resolve().parent.parent
    url = args.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):  # relative: the workers run elsewhere
        url = f"sqlite:///{(Path.cwd() / url.removeprefix('sqlite:///')).resolve()}"
    result = compare(this, args.other.resolve(), url, args.customer, args.rounds)
    for name, r in result.items():
        print(
            f"{name:10} this {r['this_ms']:8.2f} ms  other {r['other_ms']:8.2f} ms  "
            f"this/other {r['ratio']:.3f} (IQR {r['ratio_iqr'][0]:.3f}-{r['ratio_iqr'][1]:.3f})"
        )
    print(json.dumps({"rounds": args.rounds, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
