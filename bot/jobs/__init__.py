"""Scheduled jobs: thin functions that call the engine and hand messages to Slack.

Jobs stored in the database (APScheduler's SQLAlchemyJobStore) are textual references to module-level
functions without arguments, because a Runtime or a WebClient cannot be pickled. The scheduler binds each
worker thread to the process's JobContext when the thread starts; a job asks for it with `current()`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from engine.runtime import Runtime
from engine.store.lease import Lease

_local = threading.local()


@dataclass(frozen=True)
class JobContext:
    runtime: Runtime
    client: Any  # slack_sdk.WebClient
    lease: Lease | None = None


def bind(context: JobContext) -> None:
    """Make `context` the one jobs on this thread see (the scheduler's thread pool initializer)."""
    _local.context = context


def current() -> JobContext:
    context: JobContext | None = getattr(_local, "context", None)
    if context is None:
        raise RuntimeError("no job context on this thread: jobs run inside the scheduler started by start_scheduler")
    return context
