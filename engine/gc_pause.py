"""Python's cyclic garbage collector held off while a batch computation runs (`gc_paused`).

An alerts check allocates several hundred thousand objects it drops again within the run (rows, Decimals, lists),
none of them in reference cycles: reference counting frees them all. Each few hundred allocations still start a
collection, and the oldest generation's walks over the whole heap cost a fifth of the check. Pausing the collector
for the run and starting it again afterwards changes nothing but when cycles made meanwhile are found.

The collector is process-wide, so pauses nest and overlap across threads: it is started again when the last one
ends, and only if it was running when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_pauses = 0  # pauses now in force, in every thread
_resume = False  # the collector ran before the first of them


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold off cyclic garbage collection inside the block (see the module's docstring)."""
    global _pauses, _resume
    with _lock:
        if _pauses == 0:
            _resume = gc.isenabled()
            gc.disable()
        _pauses += 1
    try:
        yield
    finally:
        with _lock:
            _pauses -= 1
            if _pauses == 0 and _resume:
                gc.enable()
