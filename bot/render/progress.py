"""A terminal progress bar (tqdm) for the engine's `Progress` callbacks: units, units/s and the time left.

tqdm rather than a full terminal toolkit: it costs a few milliseconds to import, and `marginbot` starts often.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.progress import Progress


@contextmanager
def progress_bar(
    label: str, *, unit: str = "rows", enabled: bool = True, min_interval: float = 0.1
) -> Iterator[Progress | None]:
    """Yields a callback drawing a bar on stderr (None when not `enabled`), redrawn at most every `min_interval`
    seconds; the bar is cleared on exit, so the command's own summary line follows on a clean terminal."""
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    # No monitor thread: an import parses big files in a forked worker only while this process has one thread
    # (engine.ingest.files), and the monitor only matters for bars that stop being updated.
    tqdm.monitor_interval = 0
    bar: Any = None

    def update(done: int, total: int | None) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(
                total=total,
                desc=label,
                unit=f" {unit}",
                unit_scale=True,
                leave=False,
                dynamic_ncols=True,
                mininterval=min_interval,
            )
        if total is not None and total != bar.total:
            bar.total = max(total, done)  # an estimate (rows from bytes read) may be overtaken: never show >100%
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        if bar is not None:
            bar.close()
