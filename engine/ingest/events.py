"""One usage event: its columns, how a raw record (a CSV row, a JSON object, a connector's record) is validated into
a `ParsedEvent`, and the fast path for well-formed CSV rows (which must agree with `parse_event`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, NamedTuple

from engine.money import NANO
from engine.store.bounds import PLAIN_NUMBER, character_kind, control_character, number_hint
from engine.timeutil import MAX_TS as _MAX_TS
from engine.timeutil import MIN_TS as _MIN_TS
from engine.timeutil import parse_timestamp, unix_time
from engine.vocab import ServiceTier

COLUMNS = (
    "event_id",
    "ts",
    "customer",
    "product",
    "feature",
    "provider",
    "model",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "requests",
    "retrieval_queries",
    "rerank_calls",
    "compute_seconds",
    "cost_usd",
    "task_id",
    "cache_hit",
    "prompt_hash",
    "cache_write_1h_tokens",
    "web_searches",
    "service_tier",
)
REQUIRED = ("event_id", "ts", "customer", "product")


class ParsedEvent(NamedTuple):
    """One valid usage event, as every source produces it: the CSV columns made exact and typed.

    The fields are usage_event's columns of the same names, in its order, less what the writer adds (`day`, the
    costs, `priced`, `source`). Times are aware UTC; money is integer nano-USD; text is stripped (provider and model
    lowered).
    """

    event_id: str
    ts: datetime
    customer: str
    product: str
    feature: str
    provider: str
    model: str
    input_tokens: int  # the total input, cached and cache-write tokens included
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int
    requests: int
    retrieval_queries: int
    rerank_calls: int
    compute_ms: int  # compute_seconds, in whole milliseconds (half up)
    source_cost_nano: int | None  # cost_usd, what the source already charged; None: the price book prices it
    task_id: str | None
    cache_hit: bool
    prompt_hash: str | None
    cache_write_1h_tokens: int  # the part of cache_write_tokens written with a 1-hour TTL
    web_searches: int  # server-side web search calls
    service_tier: ServiceTier


TEXT_LIMITS = {
    "event_id": 200,
    "customer": 200,
    "product": 200,
    "feature": 200,
    "provider": 100,
    "model": 200,
    "task_id": 200,
    "prompt_hash": 128,
}
# usage_event's integer columns and the rollups that add them up are BIGINT (at most 2**63 - 1 ≈ 9.2e18), on SQLite
# as on PostgreSQL. One event's count is bounded well below that, so that the sums of thousands of events still fit:
# fifteen digits (a quadrillion tokens is no real request; a day of a whole company's traffic is some billions).
# Past the bound a row is refused here, naming the field, instead of failing the write (or a rollup's sum) later.
COUNT_MAX = 10**15 - 1
BIGINT_MAX = 2**63 - 1
# What one event can cost, as given (cost_usd) or as priced: $10 million, in nano-USD. 922 such events still fit in
# one rollup row; anything dearer is a unit mistake (cents or nano-dollars written as dollars).
COST_MAX_NANO = 10**16
# Values longer than this are cut short when a message quotes them (a 100,000-character cell is not echoed back).
_QUOTED = 60
TRUE_WORDS = {"1", "true", "t", "yes", "y"}
FALSE_WORDS = {"0", "false", "f", "no", "n", ""}
# service_tier as written (lowered) → the tier; blank is standard, and OpenAI's own word for it is accepted too.
TIER_WORDS: dict[str, ServiceTier] = {t.value: t for t in ServiceTier} | {
    "": ServiceTier.STANDARD,
    "default": ServiceTier.STANDARD,
}


class RowError(ValueError):
    """One invalid row; the message says which field and why."""


def shown(value: Any) -> str:
    """`value` as a message quotes it: its repr, cut short when long."""
    try:
        text = str(value) if isinstance(value, Decimal) else repr(value)  # a JSON number as written: 1E+400
    except (ValueError, RecursionError):  # an int of thousands of digits, a deeply nested list
        return f"a {type(value).__name__} too large to show"
    return text if len(text) <= _QUOTED else text[: _QUOTED - 1] + "…"


def _control(key: str, value: str) -> None:
    """Refuse control characters, lone surrogates and invisible ones: PostgreSQL cannot store NUL in text and no
    encoder can write a lone surrogate, so SQLite and PostgreSQL would otherwise disagree about the same file; an
    invisible character makes a customer or a model that looks like another (engine.store.bounds.INVISIBLE)."""
    code = control_character(value)
    if code:
        raise RowError(f"{key} contains {character_kind(code)} ({code}); only printable text can be stored")


def _text(raw: Mapping[str, Any], key: str, *, lower: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int) or not -(10**30) < value < 10**30:
            raise RowError(f"{key} must be text, got {shown(value)}")
        value = str(value)
    value = value.strip()
    if len(value) > TEXT_LIMITS[key]:
        raise RowError(f"{key} is longer than {TEXT_LIMITS[key]} characters")
    _control(key, value)
    return value.lower() if lower else value


_DIGITS = re.compile(r"[+-]?[0-9]+")


def _count(raw: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        # ASCII digits only, as the docs say: int() also reads 100_000, ４２ and ٤٢, which a count written by hand
        # or by a spreadsheet in another locale should not pass as.
        if not _DIGITS.fullmatch(value.strip()):
            raise RowError(f"{key} must be a non-negative integer, got {shown(value)}{number_hint(value)}")
        try:
            number = int(value)
        except ValueError:  # more digits than int() reads
            raise RowError(f"{key} must be a non-negative integer, got {shown(value)}") from None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        # A JSON line's 120.0 (its numbers with a point are read as Decimals). An exponent past any count is refused
        # before int() writes it out: 1e1000000 took half a minute.
        if value.adjusted() > 18:
            raise RowError(f"{key} must be at most {COUNT_MAX} (one event), got {shown(value)}")
        number = int(value)
    else:
        raise RowError(f"{key} must be a non-negative integer, got {shown(value)}")
    if number < 0:
        raise RowError(f"{key} must be a non-negative integer, got {shown(value)}")
    if number > COUNT_MAX:
        raise RowError(f"{key} must be at most {COUNT_MAX} (one event), got {shown(value)}")
    return number


def _amount(raw: Mapping[str, Any], key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise RowError(f"{key} must be a non-negative number, got {shown(value)}")
    if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value.strip()):  # Decimal() too reads 1_000 and ４２
        raise RowError(f"{key} must be a non-negative number, got {shown(value)}{number_hint(value)}")
    try:
        number = Decimal(value.strip() if isinstance(value, str) else str(value))
    except (InvalidOperation, ValueError):
        raise RowError(f"{key} must be a non-negative number, got {shown(value)}") from None
    if not number.is_finite() or number < 0:
        raise RowError(f"{key} must be a non-negative number, got {shown(value)}")
    return number


def _whole(amount: Decimal, scale: int, limit: int) -> int:
    """`amount` × `scale` rounded half up to a whole number (USD → nano-USD, seconds → ms).

    Raises OverflowError beyond `limit`, checking the exponent first so that no absurd amount (1e999000) is ever
    expanded: the check costs the same whatever the exponent, the multiplication would not.
    """
    if amount and amount.adjusted() > 18:  # ≥ 10¹⁹, beyond any limit whatever the scale (0E+99 is just 0)
        raise OverflowError(amount)
    whole = int((amount * scale).to_integral_value(ROUND_HALF_UP))
    if whole > limit:
        raise OverflowError(amount)
    return whole


def _scaled(raw: Mapping[str, Any], key: str, scale: int, limit: int) -> int | None:
    amount = _amount(raw, key)
    if amount is None:
        return None
    try:
        return _whole(amount, scale, limit)
    except OverflowError:
        most = Decimal(limit) / scale
        raise RowError(f"{key} is too large (at most {most:,f} for one event), got {shown(raw.get(key))}") from None


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise RowError(f"{key} must be true or false, got {shown(value)}")


def _tier(raw: Mapping[str, Any]) -> ServiceTier:
    value = raw.get("service_tier")
    if value is None:
        return ServiceTier.STANDARD
    tier = TIER_WORDS.get(str(value).strip().lower()) if isinstance(value, str) else None
    if tier is None:
        raise RowError(f"service_tier must be one of {', '.join(ServiceTier)} (blank: standard), got {shown(value)}")
    return tier


def parse_event(raw: Mapping[str, Any]) -> ParsedEvent:
    """Validate one event given as a mapping of the documented columns; raises RowError naming the field."""
    for key in REQUIRED:
        value = raw.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise RowError(f"{key} is required")
    try:
        ts = parse_timestamp(raw["ts"])
    except ValueError as exc:
        raise RowError(f"ts: {exc}") from None
    except OverflowError:  # an ISO date past what a datetime holds, once moved to UTC
        raise RowError(f"ts: timestamp {shown(raw['ts'])} is outside 2000–2099") from None
    provider = _text(raw, "provider", lower=True)
    model = _text(raw, "model", lower=True)
    input_tokens = _count(raw, "input_tokens")
    cached = _count(raw, "cached_input_tokens")
    write = _count(raw, "cache_write_tokens")
    output = _count(raw, "output_tokens")
    if cached + write > input_tokens:
        raise RowError(
            f"cached_input_tokens + cache_write_tokens ({cached} + {write}) exceed input_tokens ({input_tokens});"
            " input_tokens is the total input, cached and cache-write tokens included"
        )
    write_1h = _count(raw, "cache_write_1h_tokens")
    if write_1h > write:
        raise RowError(
            f"cache_write_1h_tokens ({write_1h}) exceed cache_write_tokens ({write}); cache_write_tokens is every"
            " cache write, the 1-hour ones included"
        )
    source_cost_nano = _scaled(raw, "cost_usd", NANO, COST_MAX_NANO)
    if (input_tokens or output) and not model and source_cost_nano is None:
        raise RowError("model is required when the event has tokens (or give cost_usd)")
    compute_ms = _scaled(raw, "compute_seconds", 1000, COUNT_MAX) or 0
    task_id = _text(raw, "task_id") or None
    prompt_hash = _text(raw, "prompt_hash") or None
    return ParsedEvent(
        event_id=_text(raw, "event_id"),
        ts=ts,
        customer=_text(raw, "customer"),
        product=_text(raw, "product"),
        feature=_text(raw, "feature"),
        provider=provider,
        model=model,
        input_tokens=input_tokens,
        cached_input_tokens=cached,
        cache_write_tokens=write,
        output_tokens=output,
        requests=_count(raw, "requests", default=1),
        retrieval_queries=_count(raw, "retrieval_queries"),
        rerank_calls=_count(raw, "rerank_calls"),
        compute_ms=compute_ms,
        source_cost_nano=source_cost_nano,
        task_id=task_id,
        cache_hit=_flag(raw, "cache_hit"),
        prompt_hash=prompt_hash,
        cache_write_1h_tokens=write_1h,
        web_searches=_count(raw, "web_searches"),
        service_tier=_tier(raw),
    )


class _Miss(Exception):
    """The fast CSV path declines a row; the full parser then decides (and explains any error)."""


# What the fast path raises when it declines a row: its own _Miss, or what a built-in conversion raises on an odd
# value (int("x"), datetime.fromisoformat, an overflow). Such a row goes to `parse_event`, which decides.
FAST_PATH_DECLINES = (_Miss, ValueError, ArithmeticError)


_MAX_SHORT = min(TEXT_LIMITS.values())
_new = tuple.__new__  # ParsedEvent(...) without its generated __new__'s frame (see engine.pricing.book._new)


def _csv_fast_parser(header: list[str]) -> Callable[[list[str]], ParsedEvent]:
    """A row parser specialised to one header: the same result as `parse_event`, for well-formed rows only.

    A million-row file spends most of its time here, so the common case is a handful of built-in calls; anything
    unusual (a negative count, an odd timestamp, a long id, an amount) is handed to `parse_event`.
    """
    # A column the header leaves out reads as a blank cell: its index is one past the row, where a "" is added.
    width = len(header)
    pick = itemgetter(*[header.index(c) if c in header else width for c in COLUMNS])
    partial = any(c not in header for c in COLUMNS)
    fromiso = datetime.fromisoformat

    def parse(values: list[str]) -> ParsedEvent:
        if partial:
            values = [*values, ""]
        (
            event_id,
            ts,
            customer,
            product,
            feature,
            provider,
            model,
            inp,
            cached,
            write,
            out,
            req,
            retr,
            rer,
            comp,
            cost,
            task,
            hit,
            prompt,
            write_1h,
            searches,
            tier,
        ) = pick(values)
        event_id, customer, product = event_id.strip(), customer.strip(), product.strip()
        feature, task, prompt = feature.strip(), task.strip(), prompt.strip()
        if not (event_id and customer and product) or cost:
            raise _Miss
        if (
            max(
                len(event_id),
                len(customer),
                len(product),
                len(feature),
                len(model),
                len(task),
                len(provider),
                len(prompt),
            )
            > _MAX_SHORT
        ):
            raise _Miss
        # Control characters (and whatever else is not plainly printable): parse_event decides and explains.
        if not (event_id + customer + product + feature + task + prompt + provider + model).isprintable():
            raise _Miss
        if ts.isdigit():
            stamp = unix_time(int(ts))
        else:
            stamp = fromiso(ts)
            if stamp.tzinfo is None:
                stamp = stamp.replace(tzinfo=UTC)
            elif stamp.utcoffset():
                stamp = stamp.astimezone(UTC)
            else:
                stamp = stamp.replace(tzinfo=UTC)
        if not _MIN_TS <= stamp < _MAX_TS:
            raise _Miss
        # int() and Decimal() also read 1_000 and non-ASCII digits, which parse_event refuses: those go to it.
        counts = inp + cached + write + out + req + retr + rer + write_1h + searches + comp
        if not counts.isascii() or "_" in counts:
            raise _Miss
        i = int(inp) if inp else 0
        c = int(cached) if cached else 0
        w = int(write) if write else 0
        o = int(out) if out else 0
        r = int(req) if req else 1
        q = int(retr) if retr else 0
        k = int(rer) if rer else 0
        w1 = int(write_1h) if write_1h else 0
        s = int(searches) if searches else 0
        # One test for all nine: the bitwise OR is negative if any is, and above a BIGINT if any is.
        if not 0 <= (i | c | w | o | r | q | k | w1 | s) <= COUNT_MAX or c + w > i or w1 > w:
            raise _Miss
        service_tier = TIER_WORDS.get(tier) if tier else ServiceTier.STANDARD
        if service_tier is None:  # spaces or capitals (or a wrong word): parse_event decides
            raise _Miss
        model = model.strip().lower()
        if (i or o) and not model:
            raise _Miss
        compute_ms = 0
        if comp:
            seconds = Decimal(comp)
            if not seconds.is_finite() or seconds < 0:
                raise _Miss
            compute_ms = _whole(seconds, 1000, COUNT_MAX)
        flag = False
        if hit:
            lowered = hit.strip().lower()
            if lowered in TRUE_WORDS:
                flag = True
            elif lowered not in FALSE_WORDS:
                raise _Miss
        return _new(
            ParsedEvent,
            (
                event_id,
                stamp,
                customer,
                product,
                feature,
                provider.strip().lower(),
                model,
                i,
                c,
                w,
                o,
                r,
                q,
                k,
                compute_ms,
                None,
                task or None,
                flag,
                prompt or None,
                w1,
                s,
                service_tier,
            ),
        )

    return parse


def check_header(header: list[str], delimiter: str = ",") -> None:
    from engine.ingest.headers import json_hint, separator_hint, unknown_columns

    hint = json_hint(header) or separator_hint(header, COLUMNS, delimiter)
    if hint:
        raise RowError(hint)
    if "" in header:  # "a,b," : a delimiter at the end of the header, or two in a row
        raise RowError("the header has an empty column name (a delimiter at its end, or two in a row): remove it")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise RowError(unknown_columns(unknown, COLUMNS))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RowError(f"missing required column(s) {missing}")
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise RowError(f"a column name appears twice in the header: {', '.join(repeated)} (keep one)")
