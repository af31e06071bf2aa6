"""The scenario words the command line's help shows (levers, floor units, forecast horizon), in a module that
imports nothing heavy: `marginbot --help` builds every parser, and must not load the scenario engine to do it."""

from __future__ import annotations

from engine.vocab import Unit

HOW_TO = (
    "levers: route FROM->TO [PCT] [feature F] · cache [PCT] [feature F] · price PLAN TERMS · usage xN; "
    "e.g. `whatif acme route gpt-4o->gpt-4o-mini 50 cache 20`"
)
SEAT, MONTH = "seat", "month"  # besides a metered unit, a floor can price a seat or a flat plan's month
FLOOR_UNITS: tuple[str, ...] = (*Unit, SEAT, MONTH)
# How people write a unit: in `price usage 0.40/task`, and as a floor's `unit` in Slack.
UNIT_WORDS = {
    "request": Unit.REQUEST,
    "requests": Unit.REQUEST,
    "req": Unit.REQUEST,
    "task": Unit.TASK,
    "tasks": Unit.TASK,
    "1k_tokens": Unit.TOKENS_1K,
    "1k-tokens": Unit.TOKENS_1K,
    "1k tokens": Unit.TOKENS_1K,
    "1ktokens": Unit.TOKENS_1K,
    "1k": Unit.TOKENS_1K,
    "ktok": Unit.TOKENS_1K,
}
FLOOR_UNIT_WORDS: dict[str, str] = {**UNIT_WORDS, "seat": SEAT, "seats": SEAT, "month": MONTH, "months": MONTH}
DEFAULT_MONTHS = 6
HISTORY_DAYS = 180  # how far back forecasts and floors look for their 30-day windows by default
