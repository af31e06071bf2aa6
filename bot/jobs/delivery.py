"""Delivery to Slack: renders outbox payloads (Block Kit, charts), sends them, classifies Slack's failures.

The engine's outbox decides what to retry; this module says which failure is which: a 429 or `rate_limited`
(with its Retry-After), a 5xx or a network error can be retried; `not_in_channel` / `channel_not_found` need a
person to invite the bot; a message Slack refuses for its size or its blocks is posted again as plain text (in
chunks of whole subjects), and only what even that cannot deliver fails. An alert message that fails for good
leaves its subjects un-announced in that channel (engine.alerts.threads), and the log says the next check retries.
Plain-text chunks are paced like any other posts to a channel (PACE), and each chunk that went out is recorded on the
outbox row (`fallback_sent` in its payload): a chunk that must wait (a 429) makes the whole row wait, and its retry
resumes from that chunk, so no chunk is lost or posted twice, and the row is marked sent only with its last chunk.
An alert message updated in place (a recovery's root losing its buttons, an Acknowledge) that Slack cannot take just
then (a 429, a 5xx) becomes an `alert_refresh` row of its own, retried like any message: the reply that asked for
it is not posted again, and an update Slack refuses for good (message_not_found) is logged, not retried.
Every error string is scrubbed of credentials (engine.scrub) before it reaches a log, the CLI or `last_error`.
"""

from __future__ import annotations

import http.client
import logging
import time
import urllib.error
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError, SlackRequestError

from bot.blocks.alerts import alert_fallback
from bot.blocks.digest import digest_message
from bot.blocks.drift import drift_message
from bot.jobs.alert_updates import refresh_roots, render_alert
from bot.slack.client import BAD_TOKEN, retry_after_seconds
from engine.runtime import Runtime
from engine.scrub import scrub
from engine.store.delivery import BACKOFF_FIRST, IN_RUN_WAIT, PACE, deliver_pending
from engine.store.outbox import (
    ChannelUnreachable,
    DeliveryReport,
    OutboxMessage,
    Paused,
    Rejected,
    RetryLater,
    enqueue,
    posted,
    update_payload,
)

log = logging.getLogger(__name__)

UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived", "team_access_not_granted"}
TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
RATE_LIMITED = {"ratelimited", "rate_limited"}  # the 429 one, and chat.postMessage's "too many messages"
# Slack's answers about the token itself (bot.slack.client.BAD_TOKEN): nothing can be sent until a person fixes it,
# so the outbox pauses rather than fail every message.
TOKEN_FIX = (
    "set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-...) from its OAuth & Permissions page, "
    "reinstalling the app to the workspace if it was revoked or uninstalled, and restart marginbot"
)
# Refusals of the message's content: posted again as plain text, which has neither blocks nor their size limit.
CONTENT = {"invalid_blocks", "invalid_blocks_format", "msg_blocks_too_long", "msg_too_long", "too_many_blocks"}


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


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code, or a short, scrubbed note when the answer was not Slack's JSON (a proxy's HTML page)."""
    try:
        error = str(exc.response.get("error") or "")
    except (AttributeError, TypeError):
        error = ""
    return scrub(error)[:200]


def classify(exc: Exception, client: WebClient, channel: str) -> Exception:
    """The outbox error for a Slack failure (reasons scrubbed of credentials)."""
    if isinstance(exc, SlackApiError):
        response = exc.response
        status = getattr(response, "status_code", 200)
        error = slack_error(exc)
        if status == 429 or error in RATE_LIMITED:
            wait = retry_after_seconds(getattr(response, "headers", None))
            return RetryLater(f"rate limited (HTTP {status}{', ' + error if error else ''})", wait)
        if status >= 500 or error in TRANSIENT:
            return RetryLater(f"Slack error {status}: {error}" if error else f"Slack error {status}")
        if error in BAD_TOKEN:
            return Paused(f"Slack refused the bot token ({error})", TOKEN_FIX)
        if error in UNREACHABLE:
            return ChannelUnreachable(channel, error, invite_fix(channel, channel_name(client, channel)))
        return Rejected(f"Slack refused it: {error or status}")
    if isinstance(exc, SlackRequestError):  # a file upload's transfer step failed: worth another try
        return RetryLater(scrub(f"upload failed: {exc}")[:300])
    if isinstance(exc, urllib.error.URLError | http.client.HTTPException | OSError | TimeoutError):
        return RetryLater(scrub(f"network error: {type(exc).__name__}: {exc}")[:300])
    return exc


@dataclass(frozen=True)
class Unrefreshed:
    """Alert messages whose update in place is worth another try, and the failure to retry them by."""

    keys: list[str]
    error: RetryLater | Paused


def refresh_alerts(runtime: Runtime, client: WebClient, keys: Iterable[str]) -> Unrefreshed | None:
    """Update these alert messages in place (bot.jobs.alert_updates.refresh_roots). Those Slack could not take now
    (a 429 with its Retry-After, a 5xx, a network error, the token refused) come back to be tried again; one it
    refuses for good (message_not_found, channel_not_found, …) is logged and left as it is. None: nothing to retry."""
    again: list[str] = []
    error: RetryLater | Paused | None = None
    for failed in refresh_roots(runtime, client, keys):
        mapped = classify(failed.error, client, failed.channel)
        if isinstance(mapped, RetryLater | Paused):
            again.append(failed.key)
            error = _longer(error, mapped)
        else:
            log.error(
                "alert message %s in %s cannot be updated in place (%s): it keeps showing what it showed",
                failed.key,
                failed.channel,
                scrub(str(mapped))[:300],
            )
    return Unrefreshed(again, error) if error is not None else None


def _longer(a: RetryLater | Paused | None, b: RetryLater | Paused) -> RetryLater | Paused:
    """The failure that makes the retry wait longest (a refused token stops the outbox, so it wins)."""
    if a is None or isinstance(b, Paused):
        return b
    if isinstance(a, Paused):
        return a
    return b if (b.retry_after or 0.0) > (a.retry_after or 0.0) else a


def queue_refresh(runtime: Runtime, stale: Unrefreshed) -> None:
    """Queue the update of these alert messages as outbox rows (`alert_refresh`, one per channel), due when Slack
    said to try again: from then on they are retried like any message (backoff, Retry-After, MAX_ATTEMPTS)."""
    now = runtime.now()
    wait = stale.error.retry_after if isinstance(stale.error, RetryLater) else 0.0
    due = now + timedelta(seconds=BACKOFF_FIRST if wait is None else wait)
    with runtime.engine.begin() as conn:
        found = posted(conn, stale.keys)
        channels: dict[str, list[str]] = {}
        for key in stale.keys:
            if key in found:
                channels.setdefault(found[key].channel, []).append(key)
        for channel, keys in channels.items():
            enqueue(
                conn,
                dedupe_key=f"refresh:{uuid.uuid4().hex}",
                channel=channel,
                kind="alert_refresh",
                payload={"type": "alert_refresh", "refresh_roots": keys, "events": []},
                now=now,
                due=due,
            )
    log.info("alert messages %s: their update in place is queued, to try again at %s", stale.keys, due.isoformat())


def refresh_or_queue(runtime: Runtime, client: WebClient, keys: Iterable[str]) -> bool:
    """Update these alert messages in place now; what Slack cannot take now is queued in the outbox and retried
    there. Never raises: what asked for it (a reply posted, a click whose change is committed) has done its job.
    True when every message shows what it should (or is past updating for good)."""
    keys = list(dict.fromkeys(keys))
    try:
        stale = refresh_alerts(runtime, client, keys)
    except Exception as exc:  # the database, say: try them all again later
        log.exception("could not update the alert messages %s in place", keys)
        stale = Unrefreshed(keys, RetryLater(scrub(f"{type(exc).__name__}: {exc}")[:300]))
    if stale is None:
        return True
    try:
        queue_refresh(runtime, stale)
    except Exception:
        log.exception(
            "could not queue the update of the alert messages %s: they show their old state until their subject's "
            "next update",
            stale.keys,
        )
    return False


FALLBACK_SENT = "fallback_sent"  # the payload's record of the plain-text chunks already posted


class SlackSender:
    """The outbox sender: one outbox row → one Slack message (or a file in a thread, or updates in place)."""

    def __init__(self, client: WebClient, runtime: Runtime, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.runtime = runtime
        self.sleep = sleep
        # Plain-text chunks already posted, by outbox row: (how many, the first one's ts). Also stored on the row,
        # for a retry in a later run (this run's copy of the payload would not have it).
        self._chunks_sent: dict[int, tuple[int, str]] = {}

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
            return self._chart(message)
        if kind == "alert_refresh":
            stale = refresh_alerts(self.runtime, self.client, p.get("refresh_roots") or [])
            if stale is not None:
                raise stale.error  # retried like any message: after Retry-After or the backoff, within MAX_ATTEMPTS
            return ""
        if kind == "alerts":
            with self.runtime.connect() as conn:
                content = render_alert(conn, message.dedupe_key, p, now=self.runtime.now())
            ts = self._post(message, content, fallback=alert_fallback(p))
            if p.get("refresh_roots"):
                # The reply is out; the roots it closes lose their buttons. Nothing here may raise (the outbox would
                # post the reply again): an update Slack cannot take now is queued as a row of its own.
                refresh_or_queue(self.runtime, self.client, p["refresh_roots"])
            return ts
        if kind == "digest":
            content = digest_message(p)
            return self._post(message, content, fallback=[content["text"]])
        if kind == "drift":
            content = drift_message(p)
            return self._post(message, content, fallback=[content["text"]])
        raise Rejected(f"unknown outbox payload type {kind!r}")

    def _post(self, message: OutboxMessage, content: dict[str, Any], *, fallback: list[str]) -> str:
        thread: dict[str, Any] = {}
        if message.thread_ts:
            thread = {"thread_ts": message.thread_ts}
            if message.payload.get("broadcast"):
                thread["reply_broadcast"] = True  # "trending → breach" is news for the whole channel
        sent, first = self._progress(message)
        posted = False  # a call to chat.postMessage in this send already: the next one is paced
        if not sent:
            try:
                response = self.client.chat_postMessage(
                    channel=message.channel,
                    text=content["text"],
                    blocks=content["blocks"],
                    unfurl_links=False,
                    unfurl_media=False,
                    **thread,
                )
                return str(response.get("ts") or "")
            except SlackApiError as exc:
                error = slack_error(exc)
                if error not in CONTENT:
                    raise
                log.warning(
                    "Slack refused outbox message %s to %s (%s): posting it as plain text instead",
                    message.id,
                    message.channel,
                    error,
                )
            posted = True
        # Plain text in chunks of whole subjects: no blocks to refuse, each well under every size limit. The first
        # chunk is the message threads hang from. A chunk that fails raises (a 429 is a RetryLater honouring its
        # Retry-After): the chunks before it are recorded, and the retry goes on from it.
        for n in range(sent, len(fallback)):
            if posted:
                self.sleep(PACE)
            response = self.client.chat_postMessage(
                channel=message.channel, text=fallback[n], unfurl_links=False, unfurl_media=False, **thread
            )
            posted = True
            if n == 0:
                first = str(response.get("ts") or "")
            if n + 1 < len(fallback):
                self._record(message, n + 1, first)
        self._chunks_sent.pop(message.id, None)
        return first

    def _progress(self, message: OutboxMessage) -> tuple[int, str]:
        """How many plain-text chunks of this row went out before (and the first one's ts): (0, "") if none."""
        if message.id in self._chunks_sent:
            return self._chunks_sent[message.id]
        stored = message.payload.get(FALLBACK_SENT) or {}
        return int(stored.get("chunks") or 0), str(stored.get("ts") or "")

    def _record(self, message: OutboxMessage, chunks: int, first: str) -> None:
        """Remember on the row (claimed by this send) that its first `chunks` plain-text chunks are out."""
        self._chunks_sent[message.id] = (chunks, first)
        with self.runtime.engine.begin() as conn:
            update_payload(conn, message.id, {**message.payload, FALLBACK_SENT: {"chunks": chunks, "ts": first}})

    def _chart(self, message: OutboxMessage) -> str:
        from bot.render.charts import digest_chart_png  # matplotlib: loaded once a week, not at every start

        p = message.payload
        png = digest_chart_png(p)
        title = f"Gross margin and COGS by model, to {p['week']}"
        response = self.client.files_upload_v2(
            channel=message.channel,
            # In the digest's thread (reply_to), with a comment saying what it is; a digest that never made it
            # leaves the chart to stand on its own.
            thread_ts=message.thread_ts,
            initial_comment=f"Chart for the {p['week']} digest: weekly gross margin ({len(p['weeks'])} weeks) "
            "against the breach and healthy lines, and COGS by model per week.",
            file=png,
            filename=f"margin-digest-{p['week']}.png",
            title=title,
            alt_txt=f"Weekly gross margin for {len(p['weeks'])} weeks and COGS by model, to {p['week']}",
            request_file_info=False,
        )
        files = response.get("files") or [{}]
        return str(files[0].get("id") or "")[:50]


def _undelivered(message: OutboxMessage, why: str) -> None:
    """Say in the log what a message given up for good means for the people it was for."""
    if message.payload.get("type") == "alert_refresh":
        log.error(
            "could not update the alert messages %s in %s in place (%s): they keep showing their buttons",
            ", ".join(message.payload.get("refresh_roots") or []),
            message.channel,
            why,
        )
        return
    if message.payload.get("type") != "alerts":
        log.error("could not deliver %s message %s to %s: %s", message.kind, message.id, message.channel, why)
        return
    names = ", ".join(dict.fromkeys(str(e.get("name")) for e in message.payload.get("events", [])))
    if message.payload.get("thread"):
        log.error("could not deliver the alert update for %s to %s (%s)", names, message.channel, why)
    else:
        log.error(
            "could not deliver the alerts for %s to %s (%s): they stay un-announced there, and the next alerts "
            "check posts them again",
            names,
            message.channel,
            why,
        )


def deliver(
    runtime: Runtime,
    client: WebClient,
    *,
    max_wait: float = IN_RUN_WAIT,
    sleep: Callable[[float], None] | None = None,
) -> DeliveryReport:
    """Send every due outbox message through Slack."""
    options: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
    report = deliver_pending(
        runtime.engine,
        SlackSender(client, runtime, **options),
        clock=runtime.now,
        max_wait=max_wait,
        on_failed=_undelivered,
        **options,
    )
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
