"""Alert messages as they stand: rendered with how each subject shows now, and re-rendered in place.

An alert message is rendered from its outbox payload plus, for each subject, what happened since (acknowledged,
snoozed, recovered: engine.alerts.threads.shown). The same rendering serves the first post, an Acknowledge or
Snooze click (chat.update of every root of that subject's episode, in every channel) and a recovery (chat.update
of the root it replies under), so a message never shows buttons for something already dealt with. An update Slack
cannot take just then (a 429, a 5xx) is retried through the outbox (bot.jobs.delivery.refresh_or_queue).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Connection

from bot.blocks.alerts import alert_message
from engine.alerts.threads import open_threads, shown
from engine.runtime import Runtime
from engine.scrub import scrub
from engine.store.outbox import SENT, posted

log = logging.getLogger(__name__)


def render_alert(conn: Connection, key: str, payload: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """{"text", "blocks"} of the alert message `key` as it should show at `now`."""
    subjects = [(str(e["subject_kind"]), str(e["subject"])) for e in payload.get("events", [])]
    return alert_message(payload, shown(conn, key, subjects, now=now))


@dataclass(frozen=True)
class UpdateFailed:
    """An alert message Slack did not update in place: its outbox key, channel, and Slack's error."""

    key: str
    channel: str
    error: Exception


def refresh_roots(runtime: Runtime, client: WebClient, keys: Iterable[str]) -> list[UpdateFailed]:
    """Re-render these alert messages in place (those already posted). Returns those Slack did not take, each
    logged; whether to try them again is the caller's (bot.jobs.delivery.refresh_alerts says which are worth it)."""
    failed: list[UpdateFailed] = []
    with runtime.connect() as conn:
        found = posted(conn, list(dict.fromkeys(keys)))
        contents = {
            key: render_alert(conn, key, p.payload, now=runtime.now())
            for key, p in found.items()
            if p.status == SENT and p.slack_ts and p.kind == "alerts"
        }
    for key, content in contents.items():
        p = found[key]
        try:
            client.chat_update(channel=p.channel, ts=p.slack_ts, text=content["text"], blocks=content["blocks"])
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not update alert message %s in %s: %s", p.slack_ts, p.channel, scrub(str(exc))[:300])
            failed.append(UpdateFailed(key, p.channel, exc))
    return failed


def subject_roots(runtime: Runtime, kind: str, subject: str) -> list[str]:
    """The roots of this subject's open episode, one per channel (what an Acknowledge or Snooze re-renders)."""
    with runtime.connect() as conn:
        return [t.root_key for t in open_threads(conn, (kind, subject)).values() if t.live]
