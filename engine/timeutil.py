"""Time helpers: parsing event timestamps and cutting calendar days in the configured time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)
_QUARTER = 900


# Unix times are read by their size: 2000–2099 in seconds is 9.5e8–4.1e9, in milliseconds 9.5e11–4.1e12, in
# microseconds 9.5e14–4.1e15, in nanoseconds 9.5e17–4.1e18. The four bands never overlap, so a number names its
# unit (exports from JavaScript and Java write milliseconds; OpenTelemetry writes nanoseconds).
_UNIX_UNITS = (1, 1_000, 1_000_000, 1_000_000_000)
_MIN_S = int(MIN_TS.timestamp())
_MAX_S = int(MAX_TS.timestamp())
UNIX_HINT = "read as Unix seconds, milliseconds, microseconds or nanoseconds by its size"
# Longer than any timestamp of 2000–2099 in any of the accepted forms: refused before any arithmetic on it.
_LONGEST = 40


def unix_time(value: int | float) -> datetime:
    """Unix seconds, milliseconds, microseconds or nanoseconds (told apart by size) → aware UTC datetime.

    Raises ValueError for a number that is none of them in 2000–2099 (NaN and infinities included)."""
    if _MIN_S <= value < _MAX_S:  # seconds, the usual case, at the cost of one comparison (NaN fails it)
        return _EPOCH + timedelta(seconds=value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"timestamp {value!r} is not a finite number")
    for unit in _UNIX_UNITS:
        if _MIN_S * unit <= value < _MAX_S * unit:
            if isinstance(value, int):  # exact: whole microseconds, nanoseconds cut to the microsecond below
                return _EPOCH + timedelta(microseconds=value * 1_000_000 // unit)
            return _EPOCH + timedelta(seconds=value / unit)
    raise ValueError(f"timestamp {value!r} is outside 2000–2099 ({UNIX_HINT})")


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 (offset or Z; naive means UTC) or Unix time (seconds, milliseconds, microseconds or nanoseconds,
    told apart by size) → aware UTC datetime. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, Decimal):  # a JSON line's Unix time with a fraction (engine.ingest.reading)
        value = float(value)
    if isinstance(value, int | float):
        ts = unix_time(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("timestamp is empty")
        if len(text) > _LONGEST:
            raise ValueError(f"not an ISO 8601 timestamp or Unix time: {value[:_LONGEST]!r}…")
        if text.replace(".", "", 1).isdigit():
            try:
                ts = unix_time(float(text) if "." in text else int(text))
            except ValueError as exc:
                if "outside" in str(exc):
                    raise ValueError(f"timestamp {value!r} is outside 2000–2099 ({UNIX_HINT})") from None
                raise ValueError(f"not an ISO 8601 timestamp or Unix time: {value!r}") from None
        else:
            try:
                ts = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not an ISO 8601 timestamp or Unix seconds: {value!r}") from None
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    elif isinstance(value, datetime):
        ts = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    if not MIN_TS <= ts < MAX_TS:
        raise ValueError(f"timestamp {value!r} is outside 2000–2099")
    return ts


class DayCutter:
    """Maps UTC instants to calendar days in one time zone, fast.

    Every zone's midnight falls on a quarter hour in UTC, so one lookup per 15-minute bucket is exact.
    """

    def __init__(self, tz: ZoneInfo | str) -> None:
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._cache: dict[int, str] = {}

    def day(self, epoch: int) -> str:
        """The ISO calendar day of a Unix timestamp in this zone."""
        bucket = epoch // _QUARTER
        try:
            return self._cache[bucket]
        except KeyError:
            iso = datetime.fromtimestamp(bucket * _QUARTER, self.tz).date().isoformat()
            self._cache[bucket] = iso
            return iso


def as_date(value: object) -> date:
    """A DATE column's value as a date: PostgreSQL returns dates, SQLite returns ISO text."""
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
