"""What a click says (who, where, about which subject) and how to answer only the person who clicked.

A click on a message in a channel carries a `response_url`: answers go there as ephemeral messages. A click on
the Home tab or in a modal has no channel: answers open a modal instead, with the click's `trigger_id`, which
Slack honours for about 3 seconds only (so refusals and modals are opened by the listener itself, right after
`ack()`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.answer_types import Answer
from bot.blocks.alerts import MAX_BLOCK_ID, names_subject, parse_ref
from bot.blocks.interactive import notice_modal
from bot.slack.client import make_webhook
from engine.scrub import scrub


@dataclass(frozen=True, kw_only=True)
class Click:
    user: str
    channel: str | None  # the channel of the clicked message; None on the Home tab or in a modal
    message_ts: str | None
    response_url: str | None
    trigger_id: str | None
    in_home: bool


def click_of(body: dict[str, Any]) -> Click:
    container = body.get("container") or {}
    view = body.get("view") or {}
    return Click(
        user=str((body.get("user") or {}).get("id") or ""),
        channel=container.get("channel_id") or (body.get("channel") or {}).get("id"),
        message_ts=container.get("message_ts") or (body.get("message") or {}).get("ts"),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
        in_home=view.get("type") == "home",
    )


# The kind `subject_of` gives a subject the click names only by a token: the subject's digest (a key too long for
# the option value or block id), or the block id of an older message, which may have been clipped. Never a real
# kind; `resolve_subject` finds the subject among those with an alert.
BY_TOKEN = "token"


def subject_of(action: dict[str, Any]) -> tuple[str, str] | None:
    """The subject a button or a Snooze option names (`customer:acme`), else what its block id says; a subject
    named by a token comes back as (BY_TOKEN, token), for `resolve_subject`."""
    value = str(action.get("value") or (action.get("selected_option") or {}).get("value") or "")
    if action.get("type") == "overflow":
        value = value.partition(":")[2]  # "7d:customer:acme"; before digests, "7d" alone for a long key
    if value.startswith("#"):
        return BY_TOKEN, value
    found = parse_ref(value) if value else None
    if found is not None:
        return found
    block = str(action.get("block_id") or "")
    if not block.startswith("alert:"):
        return None
    if block.startswith("alert:#"):
        return BY_TOKEN, block.removeprefix("alert:")
    if len(block) >= MAX_BLOCK_ID:
        # An older message's block id at the limit may be a long key clipped: never read it as a key itself.
        return BY_TOKEN, block
    return parse_ref(block.removeprefix("alert:"))


def resolve_subject(subject: tuple[str, str], known: Iterable[tuple[str, str]]) -> tuple[str, str] | None:
    """`subject` itself, or the one subject of `known` its token names (None when none does, or several: two long
    keys an older version clipped to the same block id cannot be told apart, and a guess could act on the wrong one)."""
    if subject[0] != BY_TOKEN:
        return subject
    found = {(kind, key) for kind, key in known if names_subject(subject[1], kind, key)}
    return found.pop() if len(found) == 1 else None


def snooze_days(action: dict[str, Any]) -> int | None:
    """1, 7 or 30 from a Snooze option's value (`7d:customer:acme`)."""
    value = str((action.get("selected_option") or {}).get("value") or "")
    days = value.partition(":")[0].removesuffix("d")
    # Our values are ASCII; a forged "²d" passes isdigit but not int().
    return int(days) if days.isascii() and days.isdigit() else None


def reply_privately(client: WebClient, click: Click, answer: Answer, logger: logging.Logger) -> None:
    """Show `answer` to the person who clicked and nobody else."""
    try:
        if click.response_url:
            reply = make_webhook(click.response_url).send(
                text=answer.text, blocks=answer.blocks, response_type="ephemeral", replace_original=False
            )
            if reply.status_code != 200:
                logger.error("response_url refused the reply: HTTP %s %s", reply.status_code, scrub(reply.body[:200]))
        elif click.trigger_id:
            client.views_open(trigger_id=click.trigger_id, view=notice_modal(answer))
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.error("could not answer %s's click: %s", click.user, scrub(str(exc))[:300])
