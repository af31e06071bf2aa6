"""`/margin whatif|forecast|floor ...`: the command's words in, an `Answer` out (registered in bot/forms.py).

    /margin whatif CUSTOMER|portfolio LEVER... [PERIOD]    e.g. whatif acme route gpt-4o->gpt-4o-mini 50
    /margin forecast CUSTOMER|portfolio [growth X] [months M] [PERIOD]    e.g. forecast acme growth 10%
    /margin floor CUSTOMER [target PCT] [unit U] [PERIOD]    e.g. floor acme target 60

The customer is every word before the first keyword (a lever word for whatif; growth/months, target/unit
otherwise). PERIOD (YYYY-MM, YYYY-Qn or Nd) is the period of a what-if, and the history a forecast or floor takes
its 30-day windows from (default the last HISTORY_DAYS days).
Words we cannot read raise AnswerError with how to write them; an unknown customer raises UnknownSubject.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from bot.answer_types import Answer, AnswerError, NotAnswerable
from bot.blocks.scenarios import floor_message, forecast_message, whatif_message
from bot.command import Command
from engine.periods import looks_like_period
from engine.runtime import Runtime
from engine.scenarios.floor import FloorError, NoHistory, floor_to_dict, price_floor
from engine.scenarios.forecast import forecast as forecast_report
from engine.scenarios.forecast_json import forecast_to_dict
from engine.scenarios.grammar import ScenarioError, parse_levers, split_subject
from engine.scenarios.growth import ForecastError, parse_growth
from engine.scenarios.whatif import scenario_to_dict
from engine.scenarios.whatif import whatif as whatif_report
from engine.scenarios.words import DEFAULT_MONTHS, FLOOR_UNIT_WORDS, FLOOR_UNITS, HISTORY_DAYS

WHATIF_HOW = "write `/margin whatif CUSTOMER LEVER...`, e.g. `/margin whatif acme route gpt-4o->gpt-4o-mini 50`"
FORECAST_OPTIONS = ("growth", "months")  # `forecast CUSTOMER [growth G] [months M]`
FLOOR_OPTIONS = ("target", "unit", "per")  # `floor CUSTOMER [target T] [unit U] [per P]`
FORECAST_HOW = "write `/margin forecast CUSTOMER|portfolio [growth 10%|10x] [months 6] [PERIOD]`"
FLOOR_HOW = "write `/margin floor CUSTOMER [target 55] [unit request|task|1k_tokens|seat|month] [PERIOD]`"


def whatif(runtime: Runtime, cmd: Command, now: datetime) -> Answer:
    """`cmd.subject`, when set (the what-if modal knows its customer), is the customer and the words are the levers
    alone; else the customer is the words before the first lever word."""
    try:
        subject, rest = (cmd.subject, list(cmd.words)) if cmd.subject else split_subject(cmd.words)
        levers, period_text = parse_levers(rest)
        period = runtime.period(period_text, now)
        with runtime.connect() as conn:
            result = whatif_report(conn, subject, period, levers, prices=runtime.prices, thresholds=runtime.thresholds)
    except ScenarioError as exc:
        raise AnswerError(f"{exc}" if "e.g." in str(exc) else f"{exc}; {WHATIF_HOW}") from None
    return whatif_message(scenario_to_dict(result))


def forecast(runtime: Runtime, cmd: Command, now: datetime) -> Answer:
    subject, options, period_text = split_options(list(cmd.words), FORECAST_OPTIONS, FORECAST_HOW)
    months = DEFAULT_MONTHS
    if "months" in options:
        try:
            months = int(options["months"])
        except ValueError:
            raise AnswerError(f"months must be a whole number, got {options['months']!r}; {FORECAST_HOW}") from None
    try:
        growth = parse_growth(options.get("growth"))
        basis = runtime.period(period_text, now, default_days=HISTORY_DAYS)
        with runtime.connect() as conn:
            result = forecast_report(
                conn,
                None if subject.lower() in ("portfolio", "--portfolio") else subject,
                basis,
                growth=growth,
                months=months,
                thresholds=runtime.thresholds,
            )
    except NoHistory as exc:
        raise NotAnswerable(str(exc)) from None
    except ForecastError as exc:
        raise AnswerError(f"{exc}; {FORECAST_HOW}") from None
    return forecast_message(forecast_to_dict(result))


def floor(runtime: Runtime, cmd: Command, now: datetime) -> Answer:
    subject, options, period_text = split_options(list(cmd.words), FLOOR_OPTIONS, FLOOR_HOW)
    if subject.lower() in ("portfolio", "--portfolio"):
        raise AnswerError(f"a price floor is for one customer; {FLOOR_HOW}")
    target = None
    if "target" in options:
        try:
            target = Decimal(options["target"].rstrip("%"))
        except InvalidOperation:
            raise AnswerError(f"target must be a percentage like 55, got {options['target']!r}") from None
    unit = options.get("unit") or options.get("per")
    if unit is not None:
        unit = FLOOR_UNIT_WORDS.get(unit.lower(), unit.lower())
        if unit not in FLOOR_UNITS:
            raise AnswerError(f"unit must be one of {', '.join(FLOOR_UNITS)}, got {unit!r}")
    try:
        basis = runtime.period(period_text, now, default_days=HISTORY_DAYS)
        with runtime.connect() as conn:
            result = price_floor(conn, subject, basis, thresholds=runtime.thresholds, target_pct=target, unit=unit)
    except NoHistory as exc:
        raise NotAnswerable(str(exc)) from None
    except FloorError as exc:
        raise AnswerError(f"{exc}; {FLOOR_HOW}" if "unit" in str(exc) else str(exc)) from None
    return floor_message(floor_to_dict(result))


def split_options(words: list[str], keys: tuple[str, ...], how: str) -> tuple[str, dict[str, str], str | None]:
    """`NAME... [key value]... [PERIOD]` → (name, {key: value}, period). `--key value` works too."""
    name: list[str] = []
    options: dict[str, str] = {}
    period: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        key = word.lower().lstrip("-")
        if key in keys and (word.startswith("-") or name):
            if i + 1 >= len(words):
                raise AnswerError(f"`{key}` needs a value; {how}")
            if key in options:  # the last would win silently, and the answer be of a value not meant
                raise AnswerError(f"`{key}` given twice ({options[key]} and {words[i + 1]}); {how}")
            options[key] = words[i + 1]
            i += 2
            continue
        if looks_like_period(word):
            if period is not None:
                raise AnswerError(f"two periods given ({period} and {word}); {how}")
            period = word
        elif options:
            raise AnswerError(f"{word!r} after the options is not understood; {how}")
        else:
            name.append(word)
        i += 1
    if not name:
        raise AnswerError(f"say which customer; {how}")
    return " ".join(name), options, period
