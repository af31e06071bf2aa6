"""The scenario words the command line's help shows (levers, floor units, forecast horizon), in a module that
imports nothing heavy: `marginbot --help` builds every parser, and must not load the scenario engine to do it."""

from __future__ import annotations

HOW_TO = (
    "levers: route FROM->TO [PCT] [feature F] · cache [PCT] [feature F] · price PLAN TERMS · usage xN; "
    "e.g. `whatif acme route gpt-4o->gpt-4o-mini 50 cache 20`"
)
FLOOR_UNITS = ("request", "task", "1k_tokens", "seat", "month")
DEFAULT_MONTHS = 6
