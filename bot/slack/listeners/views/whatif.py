"""The what-if modal's Run: levers checked field by field (errors shown beside the field), then the result shown
in the modal itself. Parsing is instant, so it happens before `ack()`; the what-if runs after, on a worker, and
replaces the "working" view with the result (a view_submission must be answered within 3 seconds)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.answer import answer_command
from bot.blocks.interactive import LEVER_INPUTS, WhatIfForm, notice_modal, whatif_modal
from bot.blocks.kit import clip
from bot.blocks.messages import refusal_message
from bot.command import Command
from bot.slack.services import Services
from engine.periods import PeriodError, parse_period
from engine.scenarios.grammar import ScenarioError, parse_levers
from engine.scrub import scrub

MAX_ERROR = 150  # Slack shows a field's error on one or two lines


def lever_errors(form: WhatIfForm) -> dict[str, str]:
    """Each field that cannot be read, with why (in Slack's `errors` shape: block id → message)."""
    errors: dict[str, str] = {}
    given = [(block, form.values.get(block, "")) for block, *_ in LEVER_INPUTS]
    if not any(text for _, text in given):
        errors["route"] = "Give at least one lever: route, cache, price or usage."
    for block, text in given:
        if text:
            try:
                parse_levers([block, *text.split()])
            except ScenarioError as exc:
                errors[block] = clip(str(exc), MAX_ERROR)
    period = form.values.get("period", "")
    if period:
        try:
            parse_period(period, today=form.at.date())
        except PeriodError as exc:
            errors["period"] = clip(str(exc), MAX_ERROR)
    return errors


def whatif_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    services: Services = context["services"]
    user = str((body.get("user") or {}).get("id") or "")
    form = WhatIfForm.from_view(view)
    if form is None:
        ack()
        return
    if not services.access.allows(user, form.channel):
        logger.info("refused a what-if from %s: not on the access list", user)
        ack(response_action="update", view=notice_modal(refusal_message(user)))
        return
    errors = lever_errors(form)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=whatif_modal(form, note=":hourglass_flowing_sand: Working it out…"))
    services.workers.submit(run_whatif, services, client, str(view.get("id") or ""), form, logger)


def run_whatif(services: Services, client: WebClient, view_id: str, form: WhatIfForm, logger: logging.Logger) -> None:
    outcome = answer_command(services.runtime, Command(kind="whatif", words=tuple(form.words())), now=form.at)
    try:
        client.views_update(view_id=view_id, view=whatif_modal(form, result=outcome.answer.blocks))
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.error("could not show the what-if for %s: %s", form.customer, scrub(str(exc))[:300])
