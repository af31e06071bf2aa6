"""What the alert buttons and Share to channel do, once acknowledged: ask the engine, then update Slack.

- Acknowledge / Snooze: people on MARGINBOT_ALLOWED_USERS (and the customer's owners) only; the state changes in
  the engine (engine.alerts.state), then every root of the subject's episode, in every channel, is re-rendered in
  place ("Acknowledged by @pat at 14:02", its buttons gone), and the clicked message too when it is a thread reply.
  Once the change is committed the click has worked: an update Slack cannot take just then is retried through the
  outbox, and the person who clicked is told privately that it is done (never that it failed).
- Open: the full `/margin` answer for the alert's own period and moment, ephemeral, with Share to channel.
- Share to channel: the same question answered at the same moment, posted in the channel by who shared it.
A stranger gets an ephemeral refusal and nothing changes (from the Home tab, their Home is published again, so
no figures stay on it). Each runs on the answer workers through `on_workers`:
whatever fails unexpectedly is logged with its traceback and the person who clicked is told, in one line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import text

from bot.answer import answer_command, home
from bot.answer_types import Answer
from bot.blocks.home import home_no_access_view
from bot.blocks.interactive import WhatIfForm, answer_modal, shared_answer, whatif_modal, with_share_button
from bot.blocks.messages import action_refusal, already_acknowledged, done_not_shown_yet, error_message
from bot.command import Command
from bot.jobs.alert_updates import subject_roots
from bot.jobs.delivery import refresh_or_queue
from bot.slack.clicks import BY_TOKEN, Click, reply_privately, resolve_subject
from bot.slack.client import make_webhook
from bot.slack.services import Services
from engine.alerts.state import ActionRefused, ConcurrentAlertRun, acknowledge, load_states, snooze
from engine.reports.accounts import accounts
from engine.runtime import Runtime
from engine.scrub import scrub
from engine.store.outbox import find_posted

# A click that names no single subject: an older message whose clipped block id two long keys share, or a subject
# whose alert state is gone. Nothing is changed, rather than guessing.
CHANGED_SINCE = (
    "The figures changed since you asked (new data arrived: an import or sync), so this answer was not shared: the "
    "channel would see other figures than the ones you checked. Ask again, then share the new answer."
)
UNRESOLVED = (
    "Sorry, marginbot could not tell which customer or product this button is for, so nothing was changed. "
    "Use the buttons of its next reminder, or of its row on marginbot's Home tab."
)


def on_workers(
    services: Services,
    what: str,
    job: Callable[..., None],
    client: WebClient,
    click: Click,
    *args: Any,
    logger: logging.Logger,
    **kwargs: Any,
) -> None:
    """Run a click's work, `job(services, client, click, *args, logger, **kwargs)`, on the answer workers (the
    click is acknowledged already). Whatever it did not expect (the database restarting, say) is logged with its
    traceback, and the person who clicked gets one friendly line ("could not acknowledge this alert; try again")
    rather than silence. `what` says what they asked for, in words that follow "could not"."""
    services.workers.submit(_answered, services, what, job, client, click, args, kwargs, logger)


def here(
    services: Services,
    what: str,
    job: Callable[..., None],
    client: WebClient,
    click: Click,
    *args: Any,
    logger: logging.Logger,
    **kwargs: Any,
) -> None:
    """`on_workers`, but on the listener's own thread: for work that needs the click's trigger_id, which Slack honours
    for 3 seconds only (opening a modal). Whatever it did not expect is logged and answered the same way."""
    _answered(services, what, job, client, click, args, kwargs, logger)


def _answered(
    services: Services,
    what: str,
    job: Callable[..., None],
    client: WebClient,
    click: Click,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    logger: logging.Logger,
) -> None:
    try:
        job(services, client, click, *args, logger, **kwargs)
    except Exception:
        logger.exception("could not %s for %s", what, click.user)
        failed = error_message(f"Sorry, marginbot could not {what} (something went wrong on its side); try again.")
        view_id = kwargs.get("view_id")
        if view_id:  # the modal opened for it (a click on the Home tab) says so, instead of "Working…" for ever
            try:
                client.views_update(view_id=view_id, view=answer_modal(failed, "Open"))
            except (SlackApiError, SlackClientError, OSError) as exc:
                logger.error("could not answer %s's click: %s", click.user, scrub(str(exc))[:300])
        else:
            reply_privately(client, click, failed, logger)


def owners_of(rt: Runtime, kind: str, key: str) -> tuple[str, ...]:
    if kind != "customer":
        return ()
    with rt.connect() as conn:
        account = accounts(conn, [key]).get(key)
    return account.owners if account is not None else ()


def act(
    services: Services,
    client: WebClient,
    click: Click,
    subject: tuple[str, str],
    logger: logging.Logger,
    *,
    snooze_for: int | None = None,
) -> None:
    """Acknowledge (or, with `snooze_for` days, Snooze) a subject's alert for whoever clicked, if they may."""
    rt = services.runtime
    found = resolved(rt, click, subject, logger)
    if found is None:
        reply_privately(client, click, error_message(UNRESOLVED), logger)
        return
    kind, key = found
    what = "Snooze" if snooze_for else "Acknowledge"
    if not services.access.may_act(click.user, owners_of(rt, kind, key)):
        logger.info("refused %s on %s %s from %s: not on the access list", what, kind, key, click.user)
        refuse(services, client, click, action_refusal(click.user, what), logger)
        return
    try:
        with rt.engine.connect() as conn:
            if snooze_for:
                result = snooze(conn, kind, key, user=click.user, at=rt.now(), days=snooze_for)
            else:
                result = acknowledge(conn, kind, key, user=click.user, at=rt.now())
    except (ActionRefused, ConcurrentAlertRun) as exc:
        reply_privately(client, click, error_message(str(exc)), logger)
        return
    # Committed: the click has done what was asked, whatever befalls the messages showing it. An update Slack cannot
    # take now is retried through the outbox, and never reported as the action failing.
    if result.changed:
        logger.info("%s on %s %s by %s", what, kind, key, click.user)
    else:
        # The first acknowledgement stands; the messages are re-rendered anyway, in case this one was stale.
        reply_privately(client, click, already_acknowledged(result.state.acked_by), logger)
    shown = show_change(rt, client, click, (kind, key), logger)
    if result.changed and not shown and not click.in_home:  # from Home, the Home published below shows it
        done = f"Snoozed for {snooze_for} day{'s' if snooze_for != 1 else ''}" if snooze_for else "Acknowledged"
        reply_privately(client, click, done_not_shown_yet(done), logger)
    if click.in_home:
        publish_home(services, client, click.user, logger)


def show_change(rt: Runtime, client: WebClient, click: Click, subject: tuple[str, str], logger: logging.Logger) -> bool:
    """Re-render the subject's alert messages in place: every root of its episode, in every channel, and the clicked
    message when it is a thread reply with the same buttons. True when they all show it now; what Slack could not
    take is retried through the outbox (bot.jobs.delivery.refresh_or_queue). Never raises."""
    try:
        keys = subject_roots(rt, *subject)
        if click.channel and click.message_ts:
            with rt.connect() as conn:
                clicked = find_posted(conn, click.channel, click.message_ts)
            if clicked is not None and clicked.dedupe_key not in keys:
                keys.append(clicked.dedupe_key)
    except Exception:
        logger.exception("could not find the alert messages of %s %s to show %s's change", *subject, click.user)
        return False
    return refresh_or_queue(rt, client, keys)


def resolved(rt: Runtime, click: Click, subject: tuple[str, str], logger: logging.Logger) -> tuple[str, str] | None:
    """The subject a click names: a token (bot/slack/clicks.py) is looked up among the subjects with an alert state
    (every subject with buttons to act on has one). None when it names none of them, or several."""
    if subject[0] != BY_TOKEN:
        return subject
    with rt.engine.connect() as conn:
        found = resolve_subject(subject, load_states(conn))
    if found is None:
        logger.info("%s's click names no single subject: %s", click.user, subject[1][:80])
    return found


def refuse(
    services: Services,
    client: WebClient,
    click: Click,
    refusal: Answer,
    logger: logging.Logger,
    *,
    home_later: bool = False,
) -> None:
    """Say `refusal` to whoever clicked; from the Home tab, publish their Home again too: access taken away since it
    was published leaves every customer's figures on their screen until they reopen it, and this replaces them
    with how to get access. A listener passes `home_later`: the refusal goes at once, while the click's trigger is
    fresh (from Home it opens a modal), and the Home on a worker."""
    reply_privately(client, click, refusal, logger)
    if click.in_home and home_later:
        services.workers.submit(publish_home, services, client, click.user, logger)
    elif click.in_home:
        publish_home(services, client, click.user, logger)


def publish_home(services: Services, client: WebClient, user: str, logger: logging.Logger) -> None:
    """Publish `user`'s App Home: the dashboard for people on the access list, how to get access for anyone else.

    The one place a Home is published (on app_home_opened, and after a click on the Home tab), because who may act
    on an alert is not who may see figures: a customer's owner may acknowledge it without being on the list, and
    must not be shown every customer's figures for it."""
    try:
        view = home(services.runtime) if services.access.allows(user) else home_no_access_view(user)
        client.views_publish(user_id=user, view=view)
    except (SlackApiError, SlackClientError, OSError) as exc:
        logger.error("could not publish the App Home for %s: %s", user, scrub(str(exc))[:300])
    except Exception:  # on a worker, where nothing else would log it
        logger.exception("could not publish the App Home for %s", user)


def alert_moment(rt: Runtime, click: Click) -> tuple[datetime, str | None]:
    """The moment and period words of the alert clicked (its own window), or now and the default period."""
    if click.channel and click.message_ts:
        with rt.connect() as conn:
            clicked = find_posted(conn, click.channel, click.message_ts)
        if clicked is not None and clicked.kind == "alerts" and clicked.payload.get("as_of"):
            days = clicked.payload.get("window_days") or rt.settings.alert_window_days
            return datetime.fromisoformat(clicked.payload["as_of"]), f"{days}d"
    return rt.now(), None


def customer_name(rt: Runtime, key: str) -> str:
    """A customer's name from the customer table (its key when it has none, or is not there)."""
    with rt.connect() as conn:
        name = conn.execute(text("SELECT name FROM customer WHERE id = :k"), {"k": key}).scalar()
    return str(name or key)


def subject_name(rt: Runtime, click: Click, subject: tuple[str, str]) -> str:
    """The subject's name as the clicked alert gives it; a click with no alert behind it (a Home row) reads a
    customer's name from the customer table, so the what-if is titled by the name people know (its key otherwise)."""
    if click.channel and click.message_ts:
        with rt.connect() as conn:
            clicked = find_posted(conn, click.channel, click.message_ts)
        for e in clicked.payload.get("events", []) if clicked is not None else []:
            if (e.get("subject_kind"), e.get("subject")) == subject:
                return str(e.get("name") or subject[1])
    if subject[0] == "customer":
        return customer_name(rt, subject[1])
    return subject[1]


def open_whatif(
    services: Services, client: WebClient, click: Click, subject: tuple[str, str], logger: logging.Logger
) -> None:
    """The what-if modal for a customer, titled with its name and prefilled with the clicked alert's period; run by
    the listener itself (`here`), while the click's trigger_id is fresh."""
    rt = services.runtime
    at, period = alert_moment(rt, click)
    form = WhatIfForm(
        customer=subject[1],
        name=subject_name(rt, click, subject),
        at=at,
        values={"period": period or ""},
        channel=click.channel,
    )
    client.views_open(trigger_id=click.trigger_id, view=whatif_modal(form))


def open_subject(
    services: Services,
    client: WebClient,
    click: Click,
    subject: tuple[str, str],
    logger: logging.Logger,
    *,
    view_id: str | None = None,
) -> None:
    """The full answer about a subject, to whoever clicked: ephemeral in the channel, or in the modal `view_id`."""
    rt = services.runtime
    found = resolved(rt, click, subject, logger)
    if found is None:
        answer = shown = error_message(UNRESOLVED)
    else:
        at, period = alert_moment(rt, click)
        cmd = Command(kind=found[0], subject=found[1], period=period)
        generation = rt.data_generation()  # read before the answer, as /margin does (see `share`)
        outcome = answer_command(rt, cmd, now=at)
        answer = outcome.answer
        shown = with_share_button(answer, cmd, at, generation) if outcome.ok else answer
    if view_id is not None:
        try:
            client.views_update(view_id=view_id, view=answer_modal(answer, "Open"))
        except (SlackApiError, SlackClientError, OSError) as exc:
            logger.error("could not show %s %s in the modal: %s", *subject, scrub(str(exc))[:300])
        return
    reply_privately(client, click, shown, logger)


def share(
    services: Services,
    client: WebClient,
    click: Click,
    cmd: Command,
    at: datetime,
    generation: int | None,
    logger: logging.Logger,
) -> None:
    """Post the answer in the channel for everyone, saying who shared it, then remove the private copy. The answer is
    asked again at the same moment; if the data changed since (an import or sync), it would not be the figures the
    user checked under that moment's label, so it is refused privately and the private copy kept."""
    if generation is not None and services.runtime.data_generation() != generation:
        reply_privately(client, click, error_message(CHANGED_SINCE), logger)
        return
    outcome = answer_command(services.runtime, cmd, now=at)
    if not outcome.ok or not click.response_url:
        reply_privately(client, click, outcome.answer, logger)
        return
    posted = shared_answer(outcome.answer, click.user, at)
    webhook = make_webhook(click.response_url)
    reply = webhook.send(text=posted.text, blocks=posted.blocks, response_type="in_channel", replace_original=False)
    if reply.status_code != 200:
        logger.error("response_url refused the shared answer: HTTP %s %s", reply.status_code, scrub(reply.body[:200]))
        return
    webhook.send(delete_original=True)
