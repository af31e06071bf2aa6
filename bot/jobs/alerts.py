"""The scheduled alerts check: evaluate, queue (engine.alerts.evaluate), then deliver what is due."""

from __future__ import annotations

import logging
from datetime import datetime

from slack_sdk import WebClient

from bot.jobs import current
from bot.jobs.delivery import deliver, did_something
from engine.alerts.evaluate import AlertRun, check_alerts
from engine.alerts.state import ConcurrentAlertRun
from engine.runtime import Runtime

log = logging.getLogger(__name__)


def run_alerts(runtime: Runtime, client: WebClient | None, *, as_of: datetime | None = None) -> AlertRun | None:
    """One alerts check and, with a client, delivery. None when another run raced us (it posts instead)."""
    try:
        result = check_alerts(runtime, as_of=as_of)
    except ConcurrentAlertRun as exc:
        log.warning("alerts check stood down, another check ran at the same moment: %s", exc)
        return None
    # One INFO line for the whole run, delivery included (bot.logs quiets APScheduler's own two lines per run).
    delivered = ""
    if client is not None:
        report = deliver(runtime, client)
        delivered = f"; outbox: {report.summary()}" if did_something(report) else ""
    log.info("alerts: %s (%.2fs)%s", result.summary(), result.elapsed_s, delivered)
    return result


def alerts_job() -> None:
    """Scheduled every MARGINBOT_ALERT_EVERY_MINUTES."""
    ctx = current()
    if ctx.lease is not None and not ctx.lease.held():
        log.info("alerts job skipped: this process does not hold the scheduler lease")
        return
    run_alerts(ctx.runtime, ctx.client)
