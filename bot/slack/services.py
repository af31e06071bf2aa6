"""What every listener gets in `context["services"]`: the runtime, the access list and the answer workers.

The workers run what a listener hands them after its ack, where nothing else would hear of a failure: whatever a
job raises is logged with its traceback (`Workers`), never lost in a Future nobody reads. A click's work also
answers the person who clicked when it fails (bot/slack/alert_actions.py, `on_workers`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any

from bot.slack.access import Access
from engine.runtime import Runtime

log = logging.getLogger(__name__)


class Workers(Executor):
    """An executor whose jobs never fail silently: an exception a job lets out is logged with its traceback."""

    def __init__(self, pool: Executor) -> None:
        self.pool = pool

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.pool.submit(_logged, fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def _logged(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except Exception:
        log.exception("%s failed on the answer workers", getattr(fn, "__qualname__", repr(fn)))
        return None


@dataclass(frozen=True)
class Services:
    runtime: Runtime
    access: Access
    workers: Executor

    def __post_init__(self) -> None:
        if not isinstance(self.workers, Workers):
            object.__setattr__(self, "workers", Workers(self.workers))
