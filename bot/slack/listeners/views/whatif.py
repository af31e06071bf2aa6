"""The what-if modal's Run: the request checked as the run will read it (errors shown beside the field), then the
result shown in the modal itself. Checking is quick, so it happens before `ack()`; the what-if runs after, on a
worker, and replaces the "working" view with the result (a view_submission must be answered within 3 seconds)."""

from __future__ import annotations

import logging
from dataclasses import replace
from functools import partial
from typing import Any

from slack_bolt import Ack, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.exc import SQLAlchemyError

from bot.answer import SORRY, answer_command
from bot.blocks.interactive import LEVER_INPUTS, WhatIfForm, notice_modal, whatif_modal
from bot.blocks.kit import clip, esc_text
from bot.blocks.messages import error_message, refusal_message
from bot.command import Command
from bot.handlers.scenarios import WHATIF_HOW
from bot.slack.alert_actions import customer_name, publish_home
from bot.slack.services import Services
from engine.periods import PeriodError, looks_like_period
from engine.runtime import Runtime
from engine.scenarios.grammar import Route, ScenarioError, parse_levers
from engine.scenarios.levers import observed_providers, resolve_target
from engine.scrub import scrub
from engine.store.meta import StaleRollups

log = logging.getLogger(__name__)

MAX_ERROR = 150  # Slack shows a field's error on one or two lines
UNREADABLE = (
    "marginbot could not read this what-if form (it may be from an older version); open the what-if again from "
    "the alert or the Home tab."
)


def lever_errors(form: WhatIfForm, runtime: Runtime) -> dict[str, str]:
    """Each field that cannot be read, with why (in Slack's `errors` shape: block id → message).

    Each field is read alone first (its own mistakes beside it); then the whole request is read the way the run
    will read it (`form.lever_words()`, the period in MARGINBOT_TIMEZONE, each route's target model against the prices),
    so that what would fail the run is shown beside the field it came from, while the form can still be fixed."""
    errors: dict[str, str] = {}
    given = [(block, form.values.get(block, "")) for block, *_ in LEVER_INPUTS]
    if not any(text for _, text in given):
        errors["route"] = "Give at least one lever: route, cache, price or usage."
    periods: list[tuple[str, str]] = []  # (field, period) for each field that gives one
    for block, text in given:
        if text:
            try:
                _, period_word = parse_levers([block, *text.split()])
            except ScenarioError as exc:
                errors[block] = clip(str(exc), MAX_ERROR)
            else:
                if period_word:
                    periods.append((block, period_word))
    typed = form.values.get("period", "")
    if typed:
        periods.append(("period", typed))
        try:
            if not looks_like_period(typed):  # the run reads the field as one word among the levers
                raise PeriodError(f"{typed!r} is not a period; write 30d, 2026-10 or 2026-Q3")
            runtime.period(typed, form.at)
        except PeriodError as exc:
            errors["period"] = clip(str(exc), MAX_ERROR)
    if len(periods) > 1:  # the run takes one period: point at each lever field that carries another
        for block, word in periods:
            if block != "period":
                others = " and ".join(w for b, w in periods if b != block)
                errors[block] = clip(f"{word} is a period, and {others} is given too: give one, in Period", MAX_ERROR)
    return errors or _run_errors(form, runtime)


def _run_errors(form: WhatIfForm, runtime: Runtime) -> dict[str, str]:
    """The whole request read as the run reads it, each failure beside the field it came from."""
    try:
        levers, period_word = parse_levers(form.lever_words())
    except ScenarioError as exc:
        return {_lever_field(form, str(exc)): clip(str(exc), MAX_ERROR)}
    try:
        period = runtime.period(period_word, form.at)
    except PeriodError as exc:
        return {_field_with(form, period_word or "") or "period": clip(str(exc), MAX_ERROR)}
    errors: dict[str, str] = {}
    routes = [lever for lever in levers if isinstance(lever, Route)]
    if not routes:
        return errors
    try:
        with runtime.connect() as conn:
            for lever in routes:
                try:
                    observed = partial(observed_providers, conn, lever.target, period)
                    resolve_target(runtime.prices, lever.target, period.end, observed)
                except ScenarioError as exc:
                    errors[_field_with(form, lever.target) or "route"] = clip(str(exc), MAX_ERROR)
    except (SQLAlchemyError, StaleRollups) as exc:  # the run itself will say what is wrong with the database
        log.warning("could not check the what-if's route targets: %s", scrub(str(exc))[:300])
    return errors


def _field_with(form: WhatIfForm, word: str) -> str | None:
    """The field whose text holds `word`: Period first, then the levers in the modal's order."""
    word = word.lower()
    if not word:
        return None
    blocks = ["period", *(block for block, *_ in LEVER_INPUTS)]
    return next((block for block in blocks if word in form.values.get(block, "").lower()), None)


def _lever_field(form: WhatIfForm, message: str) -> str:
    """The lever field a grammar error is about ("route: …", "give at most one `price` lever"), else the first
    lever given."""
    given = [block for block, *_ in LEVER_INPUTS if form.values.get(block)]
    for block in given:
        if message.startswith(f"{block}:") or f"`{block}`" in message:
            return block
    return given[0] if given else "route"


def whatif_submitted(
    ack: Ack, body: dict[str, Any], view: dict[str, Any], client: WebClient, context: BoltContext,
    logger: logging.Logger,
) -> None:  # fmt: skip
    services: Services = context["services"]
    user = str((body.get("user") or {}).get("id") or "")
    form = WhatIfForm.from_view(view)
    if form is None:  # closing the modal without a word would lose what was typed and say nothing
        logger.error("could not read a what-if submission from %s", user)
        ack(response_action="update", view=notice_modal(error_message(UNREADABLE)))
        return
    if not services.access.allows(user, form.channel):
        logger.info("refused a what-if from %s: not on the access list", user)
        ack(response_action="update", view=notice_modal(refusal_message(user)))
        if form.channel is None:
            # Opened from the Home tab (a click in a message carries its channel): the Home behind the modal still
            # shows every customer's figures to someone taken off the access list, as after a refused click.
            services.workers.submit(publish_home, services, client, user, logger)
        return
    if not form.name:  # left out of the modal when it did not fit
        form = replace(form, name=customer_name(services.runtime, form.customer))
    errors = lever_errors(form, services.runtime)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack(response_action="update", view=whatif_modal(form, note=":hourglass_flowing_sand: Working it out…"))
    services.workers.submit(run_whatif, services, client, str(view.get("id") or ""), form, logger)


def run_whatif(services: Services, client: WebClient, view_id: str, form: WhatIfForm, logger: logging.Logger) -> None:
    command = Command(kind="whatif", subject=form.customer, words=tuple(form.lever_words()))
    outcome = answer_command(services.runtime, command, now=form.at)
    if outcome.ok:
        view = whatif_modal(form, result=outcome.answer.blocks)
    else:
        # What the checks before Run could not see (no usage of that model in the period, say): one line above the
        # fields, never the whole `/margin` help; the fields' hints say how to write the levers.
        why = (outcome.problem or SORRY).removesuffix(f"; {WHATIF_HOW}")
        view = whatif_modal(form, note=f":warning: {esc_text(scrub(why))}")
    try:
        client.views_update(view_id=view_id, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.error("could not show the what-if for %s: %s", form.customer, scrub(str(exc))[:300])
