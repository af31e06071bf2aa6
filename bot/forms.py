"""The `/margin` registry: every form with its words, its handler and its help line.

The grammar reads the keywords and shapes, the answer path calls the handlers, and `/margin help`, README, docs
and the manifest's usage hint list the forms in this order (tests keep them in step). A new form is one entry
here plus a handler that returns an `Answer` (built by a pure builder in bot/blocks).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bot.answer_types import Answer
from bot.blocks.messages import help_message
from bot.command import DEFAULT_N, Command, Shape
from bot.handlers import report, reports, scenarios, why
from engine.runtime import Runtime
from engine.scenarios.grammar import LEVER_WORDS

Handler = Callable[[Runtime, Command, datetime], Answer]


@dataclass(frozen=True, kw_only=True)
class Form:
    kind: str
    keyword: str | None  # the first word; None for the customer form (any other first word is a customer)
    shape: Shape
    usage: str  # as shown in the help, README and the manifest
    summary: str
    example: str
    handler: Handler
    # The words that end a WORDS form's subject (a what-if's levers, a forecast's options): a `share` after one of
    # them asks to post and is never a word of the name (bot.grammar._literals), even where the form's own words
    # would take it (`price hybrid ... incl 50000 share`).
    subject_ends: frozenset[str] = frozenset()


def _help(runtime: Runtime, cmd: Command, now: datetime) -> Answer:
    return help_message(cmd.problem, FORMS)


FORMS: tuple[Form, ...] = (
    Form(
        kind="customer",
        keyword=None,
        shape=Shape.SUBJECT,
        usage="/margin CUSTOMER [PERIOD]",
        summary="one customer's gross margin, COGS and biggest lever",
        example="/margin acme corp 2026-10",
        handler=reports.customer,
    ),
    Form(
        kind="product",
        keyword="product",
        shape=Shape.SUBJECT,
        usage="/margin product NAME [PERIOD]",
        summary="one product across customers",
        example="/margin product agent 7d",
        handler=reports.product,
    ),
    Form(
        kind="top",
        keyword="top",
        shape=Shape.RANKING,
        usage="/margin top [N] [PERIOD]",
        summary=f"the N best customers by margin (default {DEFAULT_N})",
        example="/margin top 10",
        handler=reports.ranking,
    ),
    Form(
        kind="worst",
        keyword="worst",
        shape=Shape.RANKING,
        usage="/margin worst [N] [PERIOD]",
        summary="the N worst customers by margin",
        example="/margin worst",
        handler=reports.ranking,
    ),
    Form(
        kind="portfolio",
        keyword="portfolio",
        shape=Shape.PERIOD,
        usage="/margin portfolio [PERIOD]",
        summary="every customer and product, blended margin",
        example="/margin portfolio 2026-10",
        handler=reports.portfolio,
    ),
    Form(
        kind="why",
        keyword="why",
        shape=Shape.WORDS,
        usage="/margin why CUSTOMER|product NAME|portfolio [PERIOD]",
        summary="why the margin moved since the period before, part by part in dollars and points",
        example="/margin why acme 2026-10",
        handler=why.why,
    ),
    Form(
        kind="whatif",
        keyword="whatif",
        shape=Shape.WORDS,
        usage="/margin whatif CUSTOMER LEVER...",
        summary="what if we route, cache, re-price or grow",
        example="/margin whatif acme cache 30",
        handler=scenarios.whatif,
        subject_ends=frozenset(LEVER_WORDS),
    ),
    Form(
        kind="forecast",
        keyword="forecast",
        shape=Shape.WORDS,
        usage="/margin forecast CUSTOMER ...",
        summary="margin month by month in a typical and a heavy month",
        example="/margin forecast acme",
        handler=scenarios.forecast,
        subject_ends=frozenset(scenarios.FORECAST_OPTIONS),
    ),
    Form(
        kind="floor",
        keyword="floor",
        shape=Shape.WORDS,
        usage="/margin floor CUSTOMER ...",
        summary="the lowest price that keeps the margin healthy in a heavy month",
        example="/margin floor acme",
        handler=scenarios.floor,
        subject_ends=frozenset(scenarios.FLOOR_OPTIONS),
    ),
    Form(
        kind="report",
        keyword="report",
        shape=Shape.PERIOD,
        usage="/margin report [PERIOD]",
        summary="the board pack (.xlsx) for a month or quarter, sent to you as a file",
        example="/margin report 2026-Q3",
        handler=report.report,
    ),
    Form(
        kind="help",
        keyword="help",
        shape=Shape.HELP,
        usage="/margin help",
        summary="this help",
        example="/margin help",
        handler=_help,
    ),
)
BY_KIND: dict[str, Form] = {form.kind: form for form in FORMS}
BY_KEYWORD: dict[str, Form] = {form.keyword: form for form in FORMS if form.keyword}


def usage_hint() -> str:
    """The manifest's usage hint for /margin: every form after `/margin`, in registry order."""
    return " | ".join(form.usage.removeprefix("/margin ") for form in FORMS) + " — add share to post in the channel"
