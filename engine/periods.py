"""Reporting periods: a calendar month (YYYY-MM), a quarter (YYYY-Qn), the trailing N complete days, or a range."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30
MAX_DAYS = 3660
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-q(\d)$")
_DAYS = re.compile(r"^(\d{1,4})d$")


class PeriodError(ValueError):
    """A period the user typed that we cannot read; the message shows the accepted forms."""


@dataclass(frozen=True)
class Period:
    """An inclusive range of calendar days in MARGINBOT_TIMEZONE."""

    start: date
    end: date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period just before: the previous month for a month, the previous quarter for a quarter, else the
        same number of days before."""
        prev_end = self.start - timedelta(days=1)
        if _MONTH.match(self.label):
            return month(prev_end.year, prev_end.month)
        if _QUARTER.match(self.label.lower()):
            return quarter(prev_end.year, (prev_end.month - 1) // 3 + 1)
        end = prev_end
        return Period(end - timedelta(days=self.days - 1), end, f"previous {self.days} days")

    def iter_days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def as_dict(self) -> dict[str, str]:
        """The JSON shape of a period in every `--json` answer and outbox payload."""
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


def month(year: int, month_: int) -> Period:
    last = calendar.monthrange(year, month_)[1]
    return Period(date(year, month_, 1), date(year, month_, last), f"{year:04d}-{month_:02d}")


def quarter(year: int, number: int) -> Period:
    """Calendar quarter `number` (1–4) of `year`: Q1 is January to March."""
    first = 3 * (number - 1) + 1
    last = calendar.monthrange(year, first + 2)[1]
    return Period(date(year, first, 1), date(year, first + 2, last), f"{year:04d}-Q{number}")


def trailing(days: int, *, today: date) -> Period:
    """The `days` complete days before `today` (today is still running, so it is left out)."""
    if not 1 <= days <= MAX_DAYS:
        raise PeriodError(f"the number of days must be between 1 and {MAX_DAYS}")
    end = today - timedelta(days=1)
    return Period(end - timedelta(days=days - 1), end, f"last {days} days")


def today_in(tz: ZoneInfo, now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


def parse_period(text: str | None, *, today: date) -> Period:
    """`YYYY-MM`, `YYYY-Qn`, `Nd` (trailing N complete days) or nothing (trailing 30 days)."""
    if text is None or not text.strip():
        return trailing(DEFAULT_DAYS, today=today)
    value = text.strip().lower()
    if m := _MONTH.match(value):
        year, mon = int(m.group(1)), int(m.group(2))
        if not 1 <= mon <= 12 or not 2000 <= year <= 2099:
            raise PeriodError(f"{text!r} is not a month; use YYYY-MM, e.g. 2026-10")
        return month(year, mon)
    if m := _QUARTER.match(value):
        year, number = int(m.group(1)), int(m.group(2))
        if not 1 <= number <= 4 or not 2000 <= year <= 2099:
            raise PeriodError(f"{text!r} is not a quarter; use YYYY-Qn with n from 1 to 4, e.g. 2026-Q3")
        return quarter(year, number)
    if m := _DAYS.match(value):
        return trailing(int(m.group(1)), today=today)
    raise PeriodError(
        f"{text!r} is not a period; use YYYY-MM (a month), YYYY-Qn (a quarter) or Nd (the last N days), "
        "e.g. 2026-10, 2026-Q3 or 7d"
    )


def looks_like_period(text: str) -> bool:
    value = text.strip().lower()
    return bool(_MONTH.match(value) or _QUARTER.match(value) or _DAYS.match(value))
