"""Delivery to Slack: renders outbox payloads (Block Kit, charts), sends them, classifies Slack's failures.

The engine's outbox decides what to retry; this module only says which failure is which: a 429 (with its
Retry-After), a 5xx or a network error can be retried; `not_in_channel` / `channel_not_found` need a person to
invite the bot; anything else Slack refused will not succeed by retrying.
"""

from __future__ import annotations

import http.client
import logging
import urllib.error
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.blocks.alerts import alert_message
from bot.blocks.digest import digest_message
from bot.blocks.drift import drift_message
from engine.runtime import Runtime
from engine.store.outbox import (
    IN_RUN_WAIT,
    ChannelUnreachable,
    DeliveryReport,
    OutboxMessage,
    Rejected,
    RetryLater,
    deliver_pending,
)

log = logging.getLogger(__name__)

UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived", "team_access_not_granted"}
TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


def invite_fix(channel: str, name: str | None = None) -> str:
    return f"invite @marginbot to #{name or channel} (type `/invite @marginbot` in that channel)"


def channel_name(client: WebClient, channel: str) -> str | None:
    """The channel's name if Slack will tell us (public channels), for readable log lines."""
    try:
        info = client.conversations_info(channel=channel)
    except (SlackClientError, OSError):
        return None
    ch = info.get("channel") or {}
    return ch.get("name")


def _header(response: Any, name: str) -> str | None:
    headers = getattr(response, "headers", None) or {}
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value[0] if isinstance(value, list) else str(value)
    return None


def classify(exc: Exception, client: WebClient, channel: str) -> Exception:
    """The outbox error for a Slack failure."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        error = ""
        try:
            error = str(response.get("error") or "")
        except (AttributeError, TypeError):
            error = ""
        if status == 429 or error == "ratelimited":
            after = _header(response, "Retry-After")
            try:
                wait = float(after) if after is not None else None
            except ValueError:
                wait = None
            return RetryLater(f"rate limited (HTTP {status})", wait)
        if status >= 500 or error in TRANSIENT:
            return RetryLater(f"Slack error {error or status}")
        if error in UNREACHABLE:
            return ChannelUnreachable(channel, error, invite_fix(channel, channel_name(client, channel)))
        return Rejected(f"Slack refused it: {error or status}")
    if isinstance(exc, urllib.error.URLError | http.client.HTTPException | OSError | TimeoutError):
        return RetryLater(f"network error: {type(exc).__name__}: {exc}")
    return exc


class SlackSender:
    """The outbox sender: one outbox row → one Slack action (a message, or one file upload)."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def __call__(self, message: OutboxMessage) -> str:
        try:
            return self._send(message)
        except Exception as exc:
            mapped = classify(exc, self.client, message.channel)
            if mapped is exc:
                raise
            raise mapped from exc

    def _send(self, message: OutboxMessage) -> str:
        p = message.payload
        kind = p.get("type", message.kind)
        if kind == "digest_chart":
            from bot.render.charts import digest_chart_png  # matplotlib: loaded once a week, not at every start

            png = digest_chart_png(p)
            response = self.client.files_upload_v2(
                channel=message.channel,
                file=png,
                filename=f"margin-digest-{p['week']}.png",
                title=f"Gross margin and COGS by model, to {p['week']}",
                alt_txt=f"Weekly gross margin for {len(p['weeks'])} weeks and COGS by model, to {p['week']}",
                request_file_info=False,
            )
            files = response.get("files") or [{}]
            return str(files[0].get("id") or "")[:50]
        if kind == "alerts":
            content = alert_message(p)
        elif kind == "digest":
            content = digest_message(p)
        elif kind == "drift":
            content = drift_message(p)
        else:
            raise Rejected(f"unknown outbox payload type {kind!r}")
        response = self.client.chat_postMessage(
            channel=message.channel, text=content["text"], blocks=content["blocks"], unfurl_links=False
        )
        return str(response.get("ts") or "")


def deliver(runtime: Runtime, client: WebClient, *, max_wait: float = IN_RUN_WAIT) -> DeliveryReport:
    """Send every due outbox message through Slack."""
    report = deliver_pending(runtime.engine, SlackSender(client), clock=runtime.now, max_wait=max_wait)
    # DEBUG: the job that called this logs one INFO line for its whole run, delivery included.
    log.debug("outbox: %s", report.summary())
    return report


def did_something(report: DeliveryReport) -> bool:
    return bool(report.sent or report.deferred or report.failed)


def deliver_job() -> None:
    """Scheduled: flush the outbox (retries that came due since the last run)."""
    from bot.jobs import current

    ctx = current()
    if ctx.lease is not None and not ctx.lease.held():
        log.info("outbox job skipped: this process does not hold the scheduler lease")
        return
    report = deliver(ctx.runtime, ctx.client)
    # It runs every minute: a run with nothing to send is not worth an INFO line.
    log.log(logging.INFO if did_something(report) else logging.DEBUG, "outbox: %s", report.summary())
