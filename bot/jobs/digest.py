"""The scheduled weekly digest: queue last week's digest once per channel (engine.alerts.digest), then deliver."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.jobs import current
from bot.jobs.delivery import deliver, did_something
from engine.alerts.digest import DigestRun, queue_digest
from engine.runtime import Runtime

log = logging.getLogger(__name__)


def run_digest(runtime: Runtime, client: WebClient | None, *, as_of: datetime | None = None) -> DigestRun:
    result = queue_digest(runtime, as_of=as_of)
    # One INFO line for the whole run, delivery included.
    delivered = ""
    if client is not None:
        report = deliver(runtime, client)
        delivered = f"; outbox: {report.summary()}" if did_something(report) else ""
    log.info("digest: %s%s", result.summary(), delivered)
    return result


def digest_job() -> None:
    """Scheduled on MARGINBOT_DIGEST_CRON; a late (misfired) run still sends last week's digest, once."""
    ctx = current()
    if ctx.lease is not None and not ctx.lease.held():
        log.info("digest job skipped: this process does not hold the scheduler lease")
        return
    run_digest(ctx.runtime, ctx.client)
