"""The alert buttons: Acknowledge, Snooze, Open, What-if. Ack first; then the work on the answer workers
(bot/slack/alert_actions.py, through `on_workers`), except what needs the click's 3-second trigger_id (a modal),
done right here (What-if through `here`: the same answer when something fails)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.answer_types import Answer
from bot.blocks.interactive import answer_modal
from bot.blocks.kit import section
from bot.blocks.messages import refusal_message
from bot.slack.alert_actions import act, here, on_workers, open_subject, open_whatif, refuse
from bot.slack.clicks import click_of, snooze_days, subject_of
from bot.slack.services import Services
from engine.scrub import scrub


def acknowledge_clicked(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    subject = subject_of(action)
    if subject is not None:
        on_workers(services, "acknowledge this alert", act, client, click_of(body), subject, logger=logger)


def snooze_chosen(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    subject, days = subject_of(action), snooze_days(action)
    if subject is not None and days is not None:
        on_workers(services, "snooze this alert", act, client, click_of(body), subject, logger=logger, snooze_for=days)


def open_clicked(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    click, subject = click_of(body), subject_of(action)
    if subject is None:
        return
    if not services.access.allows(click.user, click.channel):
        logger.info("refused Open on %s from %s in %s: not on the access list", subject, click.user, click.channel)
        refuse(services, client, click, refusal_message(click.user), logger, home_later=True)
        return
    view_id = None
    if not click.response_url and click.trigger_id:
        # Outside a channel (the Home tab) the answer goes in a modal, opened now while the trigger is fresh.
        try:
            opened = client.views_open(
                trigger_id=click.trigger_id, view=answer_modal(Answer("Working…", [section("Working it out…")]))
            )
            view_id = (opened.get("view") or {}).get("id")
        except (SlackApiError, SlackClientError, OSError) as exc:
            logger.error("could not open a modal for %s: %s", click.user, scrub(str(exc))[:300])
            return
    on_workers(services, "open this alert", open_subject, client, click, subject, logger=logger, view_id=view_id)


def whatif_clicked(
    ack: Ack, body: dict[str, Any], action: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    ack()
    services: Services = context["services"]
    click, subject = click_of(body), subject_of(action)
    if subject is None or subject[0] != "customer" or not click.trigger_id:
        return
    if not services.access.allows(click.user, click.channel):
        logger.info("refused What-if on %s from %s in %s: not on the access list", subject, click.user, click.channel)
        refuse(services, client, click, refusal_message(click.user), logger, home_later=True)
        return
    # Reading the alert (its moment, the customer's name) is quick; a database that is not (restarting, locked) gets
    # the one friendly line other buttons give, not silence.
    here(services, "open the what-if", open_whatif, client, click, subject, logger=logger)
