"""Alert messages as they stand: rendered with how each subject shows now, and re-rendered in place.

An alert message is rendered from its outbox payload plus, for each subject, what happened since (acknowledged,
snoozed, recovered: engine.alerts.threads.shown). The same rendering serves the first post, an Acknowledge or
Snooze click (chat.update of every root of that subject's episode, in every channel) and a recovery (chat.update
of the root it replies under), so a message never shows buttons for something already dealt with.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
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


def refresh_roots(runtime: Runtime, client: WebClient, keys: Iterable[str]) -> int:
    """Re-render these alert messages in place (those already posted). Returns how many were updated; a failure
    is logged and skipped: the click or the reply that asked for it has already done its job."""
    updated = 0
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
            updated += 1
        except (SlackApiError, SlackClientError, OSError) as exc:
            log.warning("could not update alert message %s in %s: %s", p.slack_ts, p.channel, scrub(str(exc))[:300])
    return updated


def subject_roots(runtime: Runtime, kind: str, subject: str) -> list[str]:
    """The roots of this subject's open episode, one per channel (what an Acknowledge or Snooze re-renders)."""
    with runtime.connect() as conn:
        return [t.root_key for t in open_threads(conn, (kind, subject)).values() if t.live]
