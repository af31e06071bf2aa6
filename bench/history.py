"""`make bench --history-days N`: the same answers over a database that stores N days of history instead of the
generated 90, to show their time follows the window asked about (the trailing 30 days), not the history kept.

The longer database is the imported one with its rollups (daily_rollup, daily_customer_product, task_rollup)
repeated back in time by whole multiples of the days generated: every day of the window is exactly as imported,
and the days before it are as many and as busy as the generated ones. The raw events are not repeated: the
answers timed here (`/margin`, the portfolio, the alerts check) read the rollups only, and copying millions of
events would only make the stage slow.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

ROLLUPS = ("daily_rollup", "daily_customer_product", "task_rollup")


def extend_history(source: Path, target: Path, *, days_stored: int, history_days: int) -> int:
    """Copy the SQLite database `source` to `target` with its rollups repeated back in time until at least
    `history_days` days are stored; the days now stored."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    copies = max(1, -(-history_days // days_stored))
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)  # a consistent copy, the write-ahead log included
    con = sqlite3.connect(target)
    try:
        for table in ROLLUPS:
            columns = [row[1] for row in con.execute(f"PRAGMA table_info({table})")]
            (first,) = con.execute(f"SELECT MIN(day) FROM {table}").fetchone()
            if first is None:
                continue
            for k in range(1, copies):
                shifted = {"day": f"date(day, '-{k * days_stored} days')", "task_id": f"task_id || '~{k}'"}
                select = ", ".join(shifted.get(c, c) for c in columns)
                con.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} WHERE day >= ?", (first,)
                )
        con.commit()
    finally:
        con.close()
    return copies * days_stored
