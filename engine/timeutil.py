"""Time helpers: parsing event timestamps and cutting calendar days in the configured time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
MAX_TS = datetime(2100, 1, 1, tzinfo=UTC)
_QUARTER = 900


def parse_timestamp(value: object) -> datetime:
    """ISO 8601 (offset or Z; naive means UTC) or Unix seconds → aware UTC datetime. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        ts = _EPOCH + timedelta(seconds=value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("timestamp is empty")
        if text.replace(".", "", 1).isdigit():
            ts = _EPOCH + timedelta(seconds=float(text)) if "." in text else _EPOCH + timedelta(seconds=int(text))
        else:
            try:
                ts = datetime.fromisoformat(text)
            except ValueError:
                raise ValueError(f"not an ISO 8601 timestamp or Unix seconds: {value!r}") from None
            ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    elif isinstance(value, datetime):
        ts = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
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
