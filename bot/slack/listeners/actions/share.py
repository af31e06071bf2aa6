"""Share to channel, under an ephemeral answer: the same answer, posted in the channel for everyone."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient

from bot.blocks.interactive import shared_command
from bot.blocks.messages import refusal_message
from bot.slack.alert_actions import on_workers, share
from bot.slack.clicks import click_of, reply_privately
from bot.slack.services import Services


def share_clicked(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    click = click_of(body)
    if not services.access.allows(click.user, click.channel):
        logger.info("refused Share from %s in %s: not on the access list", click.user, click.channel)
        reply_privately(client, click, refusal_message(click.user), logger)
        return
    question = shared_command(str(action.get("value") or ""))
    if question is not None:
        on_workers(services, "share this answer", share, client, click, *question, logger=logger)
