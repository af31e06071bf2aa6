"""One parsed `/margin` request, and the shapes of words a form can take. Pure data, imported by everything."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_N = 5
PERIOD_HELP = (
    "PERIOD is YYYY-MM (a month), YYYY-Qn (a quarter), YYYY-Www (an ISO week) or Nd (the last N complete days); "
    "without it, the last 30 days"
)
SHARE_HELP = "add `share` anywhere to post the answer in the channel; otherwise only you see it"
QUOTE_HELP = (
    'a customer whose name starts like a form ("Top Gun", "Why Labs") is found by its whole name; quote a name to '
    'be sure, e.g. `/margin "Top 5" 2026-10`'
)


class Shape(StrEnum):
    """How a form's words are read (the grammar knows these; a new form picks one)."""

    SUBJECT = "subject"  # NAME... [PERIOD]
    RANKING = "ranking"  # [N] [PERIOD]
    PERIOD = "period"  # [PERIOD]
    WORDS = "words"  # the handler reads the words itself (what-if levers, options)
    HELP = "help"


@dataclass(frozen=True)
class Command:
    """One parsed `/margin` request. `problem` says why the words did not fit a form (the help is shown)."""

    kind: str  # a form's kind: customer | product | top | worst | portfolio | help | whatif | forecast | floor
    subject: str = ""
    period: str | None = None
    n: int = DEFAULT_N
    words: tuple[str, ...] = field(default_factory=tuple)
    share: bool = False
    problem: str | None = None
    # The whole text read as a customer, when its first word is a form's keyword ("Top Gun", "Why Labs"): answered
    # instead when the form's reading fails (its words do not fit, or name nothing) and this one names a customer.
    # Not part of what the command is (equality, repr): a reading kept in reserve.
    fallback: Command | None = field(default=None, compare=False, repr=False)
    # Readings of the words that keep `share` as a word of the name, when `share` was taken as the request to post
    # (bot.grammar._literals): the name as typed ("Fair Share Foods", "why Fair Share Foods": answered privately,
    # since a name that holds the word asks for nothing), then with some `share`s left out (each asking to post).
    # Each is answered first, in turn, when it names what it asks about; without them "Fair Share Foods" answered for
    # Fair Foods, in the channel. Kept in reserve, as `fallback` is.
    literals: tuple[Command, ...] = field(default=(), compare=False, repr=False)
