"""What every listener gets in `context["services"]`: the runtime, the access list and the answer workers."""

from __future__ import annotations

from concurrent.futures import Executor
from dataclasses import dataclass

from bot.slack.access import Access
from engine.runtime import Runtime


@dataclass(frozen=True)
class Services:
    runtime: Runtime
    access: Access
    workers: Executor
