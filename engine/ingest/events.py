"""One usage event: its columns, how a raw record (a CSV row, a JSON object, a connector's record) is validated into
a `ParsedEvent`, and the fast path for well-formed CSV rows (which must agree with `parse_event`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from operator import itemgetter
from typing import Any

from engine.ingest.writer import ParsedEvent
from engine.store.models import NANO
from engine.timeutil import MAX_TS as _MAX_TS
from engine.timeutil import MIN_TS as _MIN_TS
from engine.timeutil import parse_timestamp

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
)
REQUIRED = ("event_id", "ts", "customer", "product")
_LIMITS = {
    "event_id": 200,
    "customer": 200,
    "product": 200,
    "feature": 200,
    "provider": 100,
    "model": 200,
    "task_id": 200,
    "prompt_hash": 128,
}
_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


class RowError(ValueError):
    """One invalid row; the message says which field and why."""


def _text(raw: Mapping[str, Any], key: str, *, lower: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowError(f"{key} must be text, got {value!r}")
        value = str(value)
    value = value.strip()
    if len(value) > _LIMITS[key]:
        raise RowError(f"{key} is longer than {_LIMITS[key]} characters")
    return value.lower() if lower else value


def _count(raw: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = raw.get(key)
    if value is None or value == "":
        return default
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            raise RowError(f"{key} must be a non-negative integer, got {value!r}") from None
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        raise RowError(f"{key} must be a non-negative integer, got {value!r}")
    if number < 0:
        raise RowError(f"{key} must be a non-negative integer, got {value!r}")
    return number


def _amount(raw: Mapping[str, Any], key: str) -> Decimal | None:
    value = raw.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise RowError(f"{key} must be a non-negative number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise RowError(f"{key} must be a non-negative number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise RowError(f"{key} must be a non-negative number, got {value!r}")
    return number


def _flag(raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise RowError(f"{key} must be true or false, got {value!r}")


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
    cost = _amount(raw, "cost_usd")
    if (input_tokens or output) and not model and cost is None:
        raise RowError("model is required when the event has tokens (or give cost_usd)")
    compute = _amount(raw, "compute_seconds")
    compute_ms = int((compute * 1000).to_integral_value(ROUND_HALF_UP)) if compute is not None else 0
    task_id = _text(raw, "task_id") or None
    prompt_hash = _text(raw, "prompt_hash") or None
    return (
        _text(raw, "event_id"),
        ts,
        _text(raw, "customer"),
        _text(raw, "product"),
        _text(raw, "feature"),
        provider,
        model,
        input_tokens,
        cached,
        write,
        output,
        _count(raw, "requests", default=1),
        _count(raw, "retrieval_queries"),
        _count(raw, "rerank_calls"),
        compute_ms,
        int((cost * NANO).to_integral_value(ROUND_HALF_UP)) if cost is not None else None,
        task_id,
        _flag(raw, "cache_hit"),
        prompt_hash,
    )


class _Miss(Exception):
    """The fast CSV path declines a row; the full parser then decides (and explains any error)."""


_MAX_SHORT = min(_LIMITS.values())
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _csv_fast_parser(header: list[str]) -> Callable[[list[str]], ParsedEvent]:
    """A row parser specialised to one header: the same result as `parse_event`, for well-formed rows only.

    A million-row file spends most of its time here, so the common case is a handful of built-in calls; anything
    unusual (a negative count, an odd timestamp, a long id, an amount) is handed to `parse_event`.
    """
    width = len(header)
    pick = itemgetter(*[header.index(c) if c in header else width for c in COLUMNS])
    fromiso = datetime.fromisoformat

    def parse(values: list[str]) -> ParsedEvent:
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
        if ts.isdigit():
            stamp = _EPOCH + timedelta(seconds=int(ts))
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
        i = int(inp) if inp else 0
        c = int(cached) if cached else 0
        w = int(write) if write else 0
        o = int(out) if out else 0
        r = int(req) if req else 1
        q = int(retr) if retr else 0
        k = int(rer) if rer else 0
        if (i | c | w | o | r | q | k) < 0 or c + w > i:
            raise _Miss
        model = model.strip().lower()
        if (i or o) and not model:
            raise _Miss
        compute_ms = 0
        if comp:
            seconds = Decimal(comp)
            if not seconds.is_finite() or seconds < 0:
                raise _Miss
            compute_ms = int((seconds * 1000).to_integral_value(ROUND_HALF_UP))
        flag = False
        if hit:
            lowered = hit.strip().lower()
            if lowered in _TRUE:
                flag = True
            elif lowered not in _FALSE:
                raise _Miss
        return (
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
        )

    return parse


def _check_header(header: list[str], delimiter: str = ",") -> None:
    from engine.ingest.headers import separator_hint, unknown_columns

    hint = separator_hint(header, COLUMNS, delimiter)
    if hint:
        raise RowError(hint)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise RowError(unknown_columns(unknown, COLUMNS))
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise RowError(f"missing required column(s) {missing}")
    if len(set(header)) != len(header):
        raise RowError("a column name appears twice in the header")
