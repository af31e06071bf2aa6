"""What every connector hands to the sync: one window's events (usage CSV column names), provider costs and
revenue lines, plus the small helpers they share (time windows, stable ids, strict number parsing)."""

from __future__ import annotations

import contextlib
import hashlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Protocol

import httpx

from config.settings import Settings
from engine.ingest.events import COUNT_MAX, shown
from engine.ingest.mapping import SourceMap
from engine.ingest.sources.http import Fetcher, SourceError
from engine.money import round_to
from engine.vocab import ServiceTier

FIRST_SYNC_DAYS = 60  # a first sync reads this far back: the current 30 days and the 30 before, for trends
# The model of a vendor record that names none (e.g. usage not grouped by model): imported, shown as unpriced
# under this name, instead of failing the window it came in.
UNKNOWN_MODEL = "unknown"
# The usage counters a second record with the same event id adds onto the first.
SUMMED = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "requests",
    "web_searches",
)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# An amount's largest decimal exponent (under 10¹⁹ USD, past anything one event or one provider's bill can cost): a
# JSON 1e999999999, read as a Decimal, is refused here rather than carried on to where it would be expanded.
_MONEY_EXPONENT = 18
# What provider_cost.amount_usd holds (NUMERIC(24, 9)): a bill's line past it is refused as that, not as a sum past
# what the database holds.
NANO_STEP: Final = Decimal("1e-9")
PROVIDER_COST_MAX: Final = Decimal(10) ** 15 - NANO_STEP


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [start, end), the unit of one transaction."""

    start: datetime
    end: datetime
    # Provider buckets read at another width than the configured one (the rest of the bucket a width switch
    # found the cursor in, read at the width it was synced with); None is the configured width.
    width: str | None = None
    # Provider costs are read from this day instead of the window's first (a sync re-reading the last days' costs,
    # which vendors revise after the day ends); None is the window's own days.
    costs_from: datetime | None = None
    # Whether the window also reads what the source holds now rather than by time (Stripe's subscriptions, whose
    # seats are added up across all of them): read whole, once a sync, by its last window.
    reads_state: bool = True


@dataclass
class Batch:
    """Everything one window produced, ready to be written in one transaction."""

    events: list[dict[str, Any]] = field(default_factory=list)
    provider_costs: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → row
    revenue: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → revenue_actual row
    # id → revenue_unconverted row: invoice lines in another currency than USD, left out of revenue and said so.
    unconverted: dict[str, dict[str, Any]] = field(default_factory=dict)
    void_invoices: set[str] = field(default_factory=set)
    # The UTC days [first, end) whose provider costs were read whole: the rows stored for them are replaced by the
    # batch's, so a line the vendor no longer lists does not linger.
    cost_days: tuple[date, date] | None = None
    seats: list[dict[str, Any]] = field(default_factory=list)  # {customer, product, seats, subscription}
    unmapped: Counter[str] = field(default_factory=Counter)
    read: int = 0  # vendor records read (bucket results, log rows, spans, invoice lines)
    notes: list[str] = field(default_factory=list)
    # Ids of events with tokens the source costed at exactly 0, priced from the price book instead (`source_cost`).
    zero_costed: set[str] = field(default_factory=set)


@dataclass
class Context:
    settings: Settings
    mapping: SourceMap
    now: datetime
    cache: dict[str, dict[Any, Any]] = field(default_factory=dict)  # per-sync lookups a connector memoises


class Connector(Protocol):
    """One source. `fetch` talks HTTP only; the sync writes what it returns."""

    name: str
    reads_usage: bool  # usage (priced into COGS), rather than revenue (Stripe)

    def missing(self, settings: Settings) -> str | None:
        """What setting is missing for this source to run (None when it is configured)."""

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher: ...

    def windows(
        self, ctx: Context, cursor: Mapping[str, Any] | None, since: datetime | None, until: datetime | None
    ) -> list[Window]: ...

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch: ...

    def cursor_after(self, window: Window, cursor: Mapping[str, Any] | None, ctx: Context) -> dict[str, Any]: ...


# ---- time ----
def leaves_a_gap(window: Window, synced_to: datetime | None) -> bool:
    """Whether `window` starts after what the cursor says is synced (a `--since` backfill later than it): the cursor
    then stays where it is, so the days between are still read by the next sync."""
    return synced_to is not None and window.start > synced_to


def floor_to(ts: datetime, step: timedelta) -> datetime:
    """`ts` rounded down to a multiple of `step` since the Unix epoch (UTC hours and days)."""
    seconds = int(step.total_seconds())
    epoch = int((ts - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=epoch - epoch % seconds)


def split(start: datetime, end: datetime, chunk: timedelta, align: timedelta) -> list[Window]:
    """[start, end) cut into windows of at most `chunk`, boundaries on multiples of `align` where possible."""
    out: list[Window] = []
    cursor = start
    while cursor < end:
        stop = min(end, floor_to(cursor, align) + chunk)
        if stop <= cursor:
            stop = min(end, cursor + chunk)
        out.append(Window(cursor, stop))
        cursor = stop
    return out


def from_unix(value: Any, what: str, source: str) -> datetime:
    """A UTC moment from Unix seconds: an integer, or a JSON number with a fraction (a Decimal, read to the
    microsecond through a float). Infinite, NaN, or outside the years a datetime holds is refused in one line."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise SourceError(source, f"{what} must be Unix seconds, got {shown(value)}")
    try:
        return _EPOCH + timedelta(seconds=value if isinstance(value, int) else float(value))
    except (OverflowError, ValueError):  # inf, NaN, or past year 9999 (a Decimal past a float's range is inf)
        raise SourceError(
            source, f"{what} must be Unix seconds within the years 1 to 9999, got {shown(value)}"
        ) from None


def parse_rfc3339(value: Any, what: str, source: str) -> datetime:
    if not isinstance(value, str):
        raise SourceError(source, f"{what} must be an RFC 3339 timestamp, got {value!r}")
    try:
        ts = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(source, f"{what} must be an RFC 3339 timestamp, got {value!r}") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def rfc3339(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_day(ts: datetime) -> date:
    return ts.astimezone(UTC).date()


# ---- values ----
def count(value: Any, what: str, source: str, *, limit: int = COUNT_MAX) -> int:
    """A non-negative integer up to `limit` (one event's count, by default) that may arrive as a number or a
    decimal string (OTLP int64); None is 0."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise SourceError(source, f"{what} must be a non-negative integer, got {shown(value)}")
    number: int | None = None
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        # A JSON number written with a point or an exponent (vendor JSON is read with parse_float=Decimal): 120.0
        # counts. Its size is checked before int() writes it out, which for 1e999999999 would not come back.
        if value < 0:
            raise SourceError(source, f"{what} must be a non-negative integer, got {shown(value)}")
        if value > limit:
            raise SourceError(source, f"{what} must be at most {limit}, got {shown(value)}")
        number = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        with contextlib.suppress(ValueError):  # digits int() does not read ("²"), or more than 4,300 of them
            number = int(value)
    if number is None or number < 0:
        raise SourceError(source, f"{what} must be a non-negative integer, got {shown(value)}")
    if number > limit:
        raise SourceError(source, f"{what} must be at most {limit}, got {shown(value)}")
    return number


def money(value: Any, what: str, source: str) -> Decimal:
    """A USD amount from a JSON number or decimal string, kept exact: vendor JSON's numbers with a point or an
    exponent arrive as Decimals, digit for digit (a float, from elsewhere, as str() gives it: its shortest repr).
    An amount of 10¹⁹ USD or more is refused as too large, its exponent checked before anything expands it."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise SourceError(source, f"{what} must be a number, got {shown(value)}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (ArithmeticError, ValueError):  # not a number; an int of more than 4,300 digits str() will not write
        raise SourceError(source, f"{what} must be a number, got {shown(value)}") from None
    if not amount.is_finite():
        raise SourceError(source, f"{what} must be a finite number, got {shown(value)}")
    if amount and amount.adjusted() > _MONEY_EXPONENT:
        raise SourceError(source, f"{what} is too large, got {shown(value)}")
    return amount


def source_cost(value: Any, what: str, source: str, *, tokens: int, event_id: str, batch: Batch) -> Decimal | None:
    """What the source charged for a record (`money`), or None for the price book to price it: when it gives none,
    and when it gives exactly 0 for a record with tokens. LiteLLM and Langfuse cost a model missing from their own
    price lists at 0; stored as given, that usage would count as free, where priced by the book (or flagged unpriced
    when the book has no price either) it is never $0 silently. The event is noted in `batch.zero_costed`."""
    if value is None:
        return None
    amount = money(value, what, source)
    if amount == 0 and tokens:
        batch.zero_costed.add(event_id)
        return None
    return amount


def zero_cost_note(source: str, batch: Batch) -> None:
    """Say in the batch's notes how many of its events the source costed at 0 (`source_cost`)."""
    n = sum(1 for event in batch.events if event["event_id"] in batch.zero_costed)
    if n:
        batch.notes.append(
            f"{source}: {n} record(s) with tokens came with a cost of 0 (what the source gives a model missing from "
            "its price list): priced from the price file instead, or flagged as unpriced where it has no price"
        )


def stable_id(*parts: object, limit: int = 200) -> str:
    """Parts joined with ':'; hashed (keeping the readable prefix) when longer than the column allows."""
    text = ":".join("" if p is None else str(p) for p in parts)
    if len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    return f"{text[: limit - 34]}~{digest}"


def records(page: Any, key: str, what: str, source: str) -> list[Any]:
    """page[key] as a list, or a SourceError naming the field."""
    if not isinstance(page, Mapping):
        raise SourceError(source, f"{what}: expected a JSON object, got {type(page).__name__}")
    value = page.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise SourceError(source, f"{what}: `{key}` must be a list, got {type(value).__name__}")
    return value


def merge_event(events: dict[str, dict[str, Any]], event: dict[str, Any]) -> None:
    """Add an event; a second result with the same id (same bucket and keys) is summed into the first."""
    known = events.get(event["event_id"])
    if known is None:
        events[event["event_id"]] = event
        return
    for key in SUMMED:
        known[key] = known.get(key, 0) + event.get(key, 0)


def tier_of(value: Any, words: Mapping[str, ServiceTier], source: str, notes: list[str]) -> ServiceTier:
    """A vendor's service-tier word as marginbot's tier. An unknown word is priced as standard and said once in
    the sync's notes (so a new vendor tier never passes silently)."""
    if value is None or value == "":
        return ServiceTier.STANDARD
    tier = words.get(str(value).lower())
    if tier is None:
        note = f"{source}: service tier {shown(value)} is unknown to marginbot; its usage is priced at standard rates"
        if note not in notes:
            notes.append(note)
        return ServiceTier.STANDARD
    return tier


def stored_cost(amount: Decimal) -> Decimal:
    """A provider's billed amount as provider_cost keeps it (NUMERIC(24, 9)): half up to the nano-dollar, once (a
    vendor's 1e-999999 is 0, where PostgreSQL refused it as a sum past what it holds)."""
    return round_to(amount, NANO_STEP)


def cost_range(window: Window, batch: Batch) -> tuple[datetime, datetime]:
    """The whole UTC days a window's provider costs are read for (from `costs_from` when set), noted in the batch."""
    day_start = floor_to(window.costs_from or window.start, DAY)
    day_end = floor_to(window.end - timedelta(seconds=1), DAY) + DAY
    batch.cost_days = (day_start.date(), day_end.date())
    return day_start, day_end


def add_provider_cost(
    batch: Batch, source: str, bucket: object, day: date, project: str, line_item: str, amount: Decimal
) -> None:
    """Add what a provider billed for one bucket, project and line item to the batch's provider_cost rows.

    The row id is built from those four, so a re-read bucket replaces its rows; a line item a bucket lists twice
    (the same id) is summed into the first.
    """
    row_id = stable_id(source, bucket, project, line_item, limit=300)
    row = batch.provider_costs.get(row_id)
    if row is not None:
        amount += row["amount_usd"]  # exactly: the sum is rounded once, where it is written (`stored_cost`)
    if abs(stored_cost(amount)) > PROVIDER_COST_MAX:
        raise SourceError(
            source,
            f"{line_item} on {day}: ${amount.normalize():,f} is more than one bill's line can be (at most $"
            f"{PROVIDER_COST_MAX:,}); is the amount in the right unit?",
        )
    if row is not None:
        row["amount_usd"] = amount
        return
    batch.provider_costs[row_id] = {
        "id": row_id,
        "source": source,
        "provider": source,  # both billing sources (OpenAI, Anthropic) bill their own models
        "day": day,
        "project": project[:200],
        "line_item": line_item[:300],
        "amount_usd": amount,
    }
