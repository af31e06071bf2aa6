"""The one path from `/margin` words to an answer, shared by the Slack command, `marginbot ask` and the bench.

parse → engine → blocks. Nothing here knows about Slack's transport: the result is an `Answer` (text + blocks)
that a listener sends to a response_url and the terminal renders. Every failure becomes a friendly answer:
bad words → the help with what was wrong, an unknown name → "no customer X; did you mean ...", anything else →
one line for the user and the traceback in the log.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot.answer_types import Answer, AnswerError, NotAnswerable
from bot.blocks.home import LastImport, home_error_view, home_view
from bot.blocks.home_trend import trend_section
from bot.blocks.kit import clip
from bot.blocks.messages import (
    ambiguous_subject_message,
    error_message,
    help_message,
    unknown_subject_message,
    with_notices,
)
from bot.command import Command
from bot.forms import BY_KIND, FORMS
from bot.grammar import parse
from bot.handlers.reports import cached_portfolio
from engine.alerts.state import load_states
from engine.alerts.threads import shown_for_state
from engine.periods import PeriodError, PeriodNotBegun, month_to_date, parse_period
from engine.reports.names import AmbiguousSubject, UnknownSubject
from engine.reports.weekly import weekly_by_customer
from engine.runtime import Runtime
from engine.store.meta import StaleRollups
from engine.store.models import ImportRun
from engine.store.sql import SUMS_TOO_LARGE_TO_ANSWER, answer_sum_too_large

log = logging.getLogger(__name__)

SORRY = "Sorry, something went wrong while answering; it has been logged. Please try again in a minute."
FAILED_RUNS = ("refused", "failed", "error", "running")


@dataclass(frozen=True)
class Outcome:
    """An answer and whether the question was understood and answered (the CLI's exit status)."""

    answer: Answer
    ok: bool
    # Why it was not answered, in one plain line (unescaped): where the whole answer does not fit, as in the
    # what-if modal, which shows this instead of the help.
    problem: str | None = None
    # The question answered: the one asked, or its customer reading (Command.fallback). A Share button repeats it.
    command: Command | None = None
    # Not answered for a reason the asker caused (words that fit no form, a name or period that names nothing).
    misread: bool = False


def answer(runtime: Runtime, text: str, *, now: datetime | None = None) -> Answer:
    """Answer `/margin ...` text. Never raises for anything a user can type."""
    return answer_command(runtime, parse(text), now=now).answer


def answer_json(runtime: Runtime, text: str, *, now: datetime | None = None) -> str:
    """The full path the bench times: parse → engine → blocks → the JSON Slack would receive."""
    result = answer(runtime, text, now=now)
    return json.dumps({"text": result.text, "blocks": result.blocks})


def answer_command(runtime: Runtime, cmd: Command, *, now: datetime | None = None) -> Outcome:
    """Run the form's handler; every failure a user can cause becomes a friendly answer, never a traceback. When the
    form's reading fails as a user's mistake would and the whole text names a customer (`Command.fallback`: "Top Gun",
    "Why Labs"), that customer is the answer; otherwise the form's own refusal is. Words with `share` that name a
    customer as they are (`Command.literals`: "Fair Share Foods") are that customer, answered privately."""
    now = now or runtime.now()
    outcome = _first_answered(runtime, cmd, now)
    # `help` with other words is answered with the help unless the words name a customer ("Help Scout").
    if cmd.fallback is not None and (outcome.misread or cmd.kind == "help"):
        other = _first_answered(runtime, cmd.fallback, now)
        if other.ok:
            return other
    return outcome


def _first_answered(runtime: Runtime, cmd: Command, now: datetime) -> Outcome:
    """`cmd` answered, its readings keeping `share` in a name first ("Fair Share Foods": a customer's name, not Fair
    Foods to share): the first that answers, else `cmd`'s own outcome."""
    for literal in cmd.literals:
        outcome = _answered(runtime, literal, now)
        if outcome.ok:
            return outcome
    return _answered(runtime, cmd, now)


def _answered(runtime: Runtime, cmd: Command, now: datetime) -> Outcome:
    try:
        result = BY_KIND[cmd.kind].handler(runtime, cmd, now)
        if cmd.kind != "help":
            result = with_notices(result, _notices(runtime))
    except AmbiguousSubject as exc:  # a name several customers share: which one is the asker's to say
        which = ambiguous_subject_message(exc.kind, exc.ref, exc.fits, exc.listed, len(exc.candidates))
        return Outcome(with_notices(which, _notices(runtime)), ok=False, problem=_user_safe(exc), misread=True)
    except UnknownSubject as exc:
        unknown = unknown_subject_message(exc.kind, exc.ref, exc.suggestions)
        return Outcome(with_notices(unknown, _notices(runtime)), ok=False, problem=_user_safe(exc), misread=True)
    except PeriodNotBegun as exc:  # a well-formed period in the future: one short line, not the whole help
        return Outcome(error_message(_user_safe(exc)), ok=False, problem=_user_safe(exc), misread=True)
    except NotAnswerable as exc:  # understood, with nothing in the data to answer it: one line, not the help
        return Outcome(error_message(_user_safe(exc)), ok=False, problem=_user_safe(exc))
    except (PeriodError, AnswerError) as exc:
        return Outcome(help_message(_user_safe(exc), FORMS), ok=False, problem=_user_safe(exc), misread=True)
    except StaleRollups as exc:
        log.error("cannot answer %r: %s", cmd.kind, exc)
        return Outcome(error_message(str(exc)), ok=False, problem=str(exc))
    except Exception as exc:
        why = _sorry(exc, f"answering /margin {cmd.kind}")
        return Outcome(error_message(why), ok=False, problem=why)
    misread = cmd.kind == "help" and cmd.problem is not None
    return Outcome(result, ok=not misread, misread=misread, command=cmd)


def _notices(runtime: Runtime) -> list[str]:
    """What every answer must carry when its figures may mislead (prices changed since the last reprice, an empty
    database beside the demo's); see Runtime.notices."""
    with runtime.connect() as conn:
        return runtime.notices(conn)


def _user_safe(exc: Exception) -> str:
    # These messages quote what the user typed: clip it and keep it from becoming mrkdwn links or pings.
    return clip(str(exc), 300)


# ---------------------------------------------------------------- App Home


def last_import(rt: Runtime) -> LastImport | None:
    """The most recent finished import or sync (any source), shown in the settings' time zone."""
    runs = ImportRun.__table__.c  # type: ignore[attr-defined]
    query = (
        select(runs.source, runs.finished_at, runs.rows_imported)
        .where(runs.finished_at.is_not(None), runs.status.not_in(FAILED_RUNS))
        .order_by(runs.finished_at.desc())
        .limit(1)
    )
    with rt.connect() as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return LastImport(str(row.source), row.finished_at.astimezone(rt.settings.tz), int(row.rows_imported or 0))


def home(runtime: Runtime, *, now: datetime | None = None) -> dict[str, Any]:
    """The App Home view for someone with access: the last 30 days of the portfolio, and the month to date."""
    try:
        today = runtime.today(now or runtime.now())
        period = parse_period(None, today=today)
        with runtime.connect() as conn:
            # The reports are kept until the data changes (engine/reports/cache.py); the notices, alert states
            # and last import are read every time (they change without an import).
            result = cached_portfolio(runtime, conn, period)
            mtd = month_to_date(today)
            current = cached_portfolio(runtime, conn, mtd) if mtd is not None else None
            notes = runtime.notices(conn)
            breached = [
                r for r in result.customers if r.current.status == "breach" and r.current.revenue and r.current.material
            ]
            weeks, each = runtime.reports.get(
                conn,
                ("weekly_by_customer", period, tuple(r.key for r in breached)),
                lambda: weekly_by_customer(conn, period, [r.key for r in breached]),
            )
            states = load_states(conn)
        trend = trend_section(weeks, [(r, each[r.key]) for r in breached])
        at = now or runtime.now()
        shown = {key: shown_for_state(state, now=at) for key, state in states.items()}
        return home_view(
            result,
            last_import(runtime),
            trend,
            month=current,
            notices=notes,
            shown=shown,
            timezone=runtime.settings.timezone,
        )
    except StaleRollups as exc:  # the fix is the user's to make (`marginbot reprice`): said as /margin says it
        log.error("cannot build the App Home view: %s", exc)
        return home_error_view(str(exc))
    except Exception as exc:
        return home_error_view(_sorry(exc, "building the App Home view"))


def _sorry(exc: Exception, doing: str) -> str:
    """What a person is told of a failure they cannot fix by typing otherwise, logged: why, when trying again will
    not help (sums past what the database holds: the stored usage needs fixing), else SORRY and the traceback."""
    if answer_sum_too_large(exc):
        log.error("%s failed: %s", doing, SUMS_TOO_LARGE_TO_ANSWER)
        return SUMS_TOO_LARGE_TO_ANSWER
    log.exception("%s failed", doing)
    return SORRY
