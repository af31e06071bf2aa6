"""`/margin`: check access and parse (no I/O), ack, then answer on a worker and post to the response_url."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.answer import answer_command
from bot.answer_types import Answer
from bot.blocks.interactive import with_share_button
from bot.blocks.kit import context as context_block
from bot.blocks.kit import unesc
from bot.blocks.messages import error_message, help_message, refusal_message
from bot.command import Command
from bot.forms import FORMS
from bot.grammar import parse
from bot.slack.access import HOW_TO_CONFIGURE
from bot.slack.client import make_webhook
from bot.slack.files import UploadFailed, send_files
from bot.slack.services import Services
from engine.scrub import scrub


def margin_command(
    ack: Ack, command: dict[str, Any], context: BoltContext, client: WebClient, logger: logging.Logger
) -> None:
    services: Services = context["services"]
    user, channel = command.get("user_id"), command.get("channel_id")
    if not services.access.allows(user, channel):
        refusal = refusal_message(user or "")
        ack(response_type="ephemeral", text=refusal.text, blocks=refusal.blocks)
        logger.info("refused /margin from %s in %s: not on the access list", user, channel)
        if services.access.closed:
            logger.warning(HOW_TO_CONFIGURE)
        return
    cmd = parse(as_typed(command.get("text")))
    if cmd.kind == "help" and cmd.fallback is None and not cmd.literals:
        # The help needs no database: it goes back in the acknowledgement itself. (With a fallback, the text may
        # name a customer whose name starts with a keyword: only the database can tell.)
        shown = help_message(cmd.problem, FORMS)
        ack(response_type="ephemeral", text=shown.text, blocks=shown.blocks)
        return
    ack()
    asker = (client, str(user or ""), channel)
    services.workers.submit(deliver, services, cmd, command["response_url"], logger, asker)


def as_typed(text: str | None) -> str:
    """A slash command's text as the person typed it: Slack sends its &, < and > as &amp;, &lt; and &gt;, so "AT&T"
    named no customer and `route gpt-4o->gpt-4o-mini` no model."""
    return unesc(text or "")


def deliver(
    services: Services,
    cmd: Command,
    response_url: str,
    logger: logging.Logger,
    asker: tuple[WebClient, str, str | None] | None = None,
) -> None:
    """Answer and post. Only a real answer is shared in the channel; mistakes stay between bot and asker. Files
    (the board pack) go to the asker first (bot/slack/files.py); the answer says where they went. A private answer
    carries Share to channel (the same question at the same moment, posted for everyone)."""
    try:
        at = services.runtime.now()
        # Read before the answer: data that changes in between makes a later Share refuse, never post other figures.
        generation = services.runtime.data_generation()
        outcome = answer_command(services.runtime, cmd, now=at)
        answered = outcome.command or cmd  # a name holding the word `share` answered is not shared (Command.literals)
        answer, shared = outcome.answer, answered.share and outcome.ok
        if answer.files and asker is not None:
            client, user, channel = asker
            try:
                where = send_files(client, answer.files, user=user, channel=channel, share=answered.share)
                answer.blocks.append(context_block(f":inbox_tray: The workbook was sent {where}."))
            except UploadFailed as exc:
                answer, shared = error_message(f"The board pack is ready but could not be sent: {exc}"), False
        elif outcome.ok and not shared:
            # Not for files: sharing would upload them again. The question answered, which may be the fallback's.
            answer = with_share_button(answer, answered, at, generation)
        respond(response_url, answer, in_channel=shared, logger=logger)
    except Exception:
        logger.exception("could not deliver the answer to /margin %s", cmd.kind)


def respond(response_url: str, answer: Answer, *, in_channel: bool, logger: logging.Logger) -> None:
    reply = make_webhook(response_url).send(
        text=answer.text,
        blocks=answer.blocks,
        response_type="in_channel" if in_channel else "ephemeral",
        replace_original=False,
    )
    if reply.status_code != 200:
        logger.error("response_url refused the answer: HTTP %s %s", reply.status_code, scrub(reply.body[:200]))
