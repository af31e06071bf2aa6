"""Reporting periods: a calendar month (YYYY-MM), a quarter (YYYY-Qn), the trailing N complete days, or a range.

Only complete days are ever counted. A month or quarter that is still running on the as-of day is cut at the last
complete day (the day before today in MARGINBOT_TIMEZONE): its revenue accrues and its COGS counts over those days
only, it says so ("month to date (through Nov 26)"), and it is compared with the same number of days of the period
before. Counting a whole month's fee against part of its costs is how a margin gets overstated.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

DEFAULT_DAYS = 30
MAX_DAYS = 3660
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_QUARTER = re.compile(r"^(\d{4})-q(\d)$")
# An ISO week, as the digest and the trends label them. One digit (2026-W7) is read as the week it means, and three
# are refused as no week, rather than either taken for part of a customer's name.
_WEEK = re.compile(r"^(\d{4})-w(\d{1,3})$")
# Any count of days reads as one, so that 10000d is refused as too many, not taken for part of a customer's name.
_DAYS = re.compile(r"^(\d{1,12})d$")
# A date is no period, but looks like one: said so, rather than read as part of a name.
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class PeriodError(ValueError):
    """A period the user typed that we cannot read; the message shows the accepted forms."""


class PeriodNotBegun(PeriodError):
    """A month or quarter with no complete day yet as of the moment asked about (it is in the future)."""


@dataclass(frozen=True)
class Period:
    """An inclusive range of calendar days in MARGINBOT_TIMEZONE: `start` to `end`, the last day counted.

    `full_end` is set when only part of a month or quarter is counted: it is the period's own last day, and `end`
    the last day counted (the period is then not `complete`). `running` says why: True for a period cut at the
    as-of moment ("month to date"), False for the first days of the period before, compared with it.
    """

    start: date
    end: date
    label: str
    full_end: date | None = None
    running: bool = False

    @property
    def days(self) -> int:
        """Days counted (for a period to date, the days so far)."""
        return (self.end - self.start).days + 1

    @property
    def complete(self) -> bool:
        """Whether every day of the period is counted (False: a month or quarter to date)."""
        return self.full_end is None or self.full_end <= self.end

    @property
    def through(self) -> date:
        """The last day counted."""
        return self.end

    @property
    def full_days(self) -> int:
        """Days in the whole period, counted or not (the run-rate projection scales to these)."""
        return ((self.full_end or self.end) - self.start).days + 1

    @property
    def unit(self) -> str:
        """What the label names: month, quarter, or days (a trailing window or a range)."""
        label = self.label.lower()
        if _MONTH.match(label):
            return "month"
        if _QUARTER.match(label):
            return "quarter"
        if _WEEK.match(label):
            return "week"
        return "days"

    @property
    def span(self) -> str:
        """How much of the period is counted, in words: "month to date (through Nov 26)", or "" when complete."""
        if self.complete:
            return ""
        through = f"through {short_day(self.end)}"
        if self.running:
            return f"{self.unit if self.unit != 'days' else 'period'} to date ({through})"
        return f"first {self.days} days ({through})"

    @property
    def title(self) -> str:
        """The label with its span: "2026-11, month to date (through Nov 26)", or just "2026-10"."""
        return f"{self.label}, {self.span}" if self.span else self.label

    def previous(self) -> Period:
        """The comparable period just before: the previous month or quarter (its first as many days, for a period to
        date, so like is compared with like), else the same number of days before."""
        prev_end = self.start - timedelta(days=1)
        if self.unit == "month":
            whole = month(prev_end.year, prev_end.month)
        elif self.unit == "quarter":
            whole = quarter(prev_end.year, (prev_end.month - 1) // 3 + 1)
        elif self.unit == "week":
            whole = iso_week(prev_end)
        else:
            return Period(prev_end - timedelta(days=self.days - 1), prev_end, f"previous {_days(self.days)}")
        if self.complete:
            return whole
        # The same number of days from the start of the period before (all of it when it is shorter: February
        # against the first 30 days of March).
        end = min(whole.start + timedelta(days=self.days - 1), whole.end)
        return Period(whole.start, end, whole.label, full_end=whole.end)

    @property
    def likeness(self) -> str:
        """What this period is, said after its dates as the one compared with: ", the same 14 days of 2026-10" for
        part of a month, " (2026-10)" for a whole one, nothing for "previous 30 days" (its dates say it)."""
        if not self.complete:
            return f", the same {self.days} days of {self.label}"
        return "" if self.label.startswith("previous") else f" ({self.label})"

    def to_date(self, today: date) -> Period:
        """This period as of `today`: unchanged when it is over, cut at yesterday while it runs, refused (with
        PeriodNotBegun) when it has no complete day yet."""
        last = today - timedelta(days=1)
        if self.end <= last:
            return self
        if self.start > last:
            when = "starts today" if self.start == today else f"has not begun (it starts on {self.start})"
            raise PeriodNotBegun(
                f"{self.label} {when}: there is no complete day to report yet (the last complete day is {last})"
            )
        return Period(self.start, last, self.label, full_end=self.full_end or self.end, running=True)

    def iter_days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def whole(self) -> Period:
        """A period to date's days to its own last day (`full_end`): what a run rate projects over; a complete
        period is itself."""
        return Period(self.start, self.full_end or self.end, self.label)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of a period in every `--json` answer and outbox payload: `end` and `through` are the last
        day counted; a period to date also gives its own last day (`full_end`)."""
        out: dict[str, object] = {
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "complete": self.complete,
            "through": self.end.isoformat(),
            "days": self.days,
        }
        if not self.complete and self.full_end is not None:
            out["full_end"] = self.full_end.isoformat()
            out["full_days"] = self.full_days
        return out


def short_day(day: date) -> str:
    """ "Nov 26": how a day reads in "through Nov 26"."""
    return f"{calendar.month_abbr[day.month]} {day.day}"


def month(year: int, month_: int) -> Period:
    last = calendar.monthrange(year, month_)[1]
    return Period(date(year, month_, 1), date(year, month_, last), f"{year:04d}-{month_:02d}")


def quarter(year: int, number: int) -> Period:
    """Calendar quarter `number` (1–4) of `year`: Q1 is January to March."""
    first = 3 * (number - 1) + 1
    last = calendar.monthrange(year, first + 2)[1]
    return Period(date(year, first, 1), date(year, first + 2, last), f"{year:04d}-Q{number}")


def iso_week(day: date) -> Period:
    """The ISO week (Monday to Sunday) that contains `day`, labelled like 2026-W46 (the digest and the trends)."""
    start = day - timedelta(days=day.weekday())
    year, week, _ = start.isocalendar()
    return Period(start, start + timedelta(days=6), f"{year}-W{week:02d}")


def month_to_date(today: date) -> Period | None:
    """The calendar month of `today` cut at yesterday; None on the first of the month (no complete day yet)."""
    if today.day == 1:
        return None
    return month(today.year, today.month).to_date(today)


def trailing(days: int, *, today: date) -> Period:
    """The `days` complete days before `today` (today is still running, so it is left out)."""
    if not 1 <= days <= MAX_DAYS:
        raise PeriodError(f"the number of days must be between 1 and {MAX_DAYS}")
    end = today - timedelta(days=1)
    return Period(end - timedelta(days=days - 1), end, f"last {_days(days)}")


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def today_in(tz: ZoneInfo, now: datetime) -> date:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(tz).date()


# The years a month or quarter may name: usage before 2000 or after 2099 is a typo, not a period to report on.
FIRST_YEAR, LAST_YEAR = 2000, 2099


def parse_period(text: str | None, *, today: date, default_days: int = DEFAULT_DAYS) -> Period:
    """`YYYY-MM`, `YYYY-Qn`, `YYYY-Www` (an ISO week), `Nd` (trailing N complete days) or nothing (trailing
    `default_days`), as of `today`.

    A month or quarter still running is cut at the last complete day; one that has not begun raises
    PeriodNotBegun."""
    if text is None or not text.strip():
        return trailing(default_days, today=today)
    value = text.strip().lower()
    if m := _MONTH.match(value):
        year, mon = int(m.group(1)), int(m.group(2))
        if not 1 <= mon <= 12:
            raise PeriodError(f"{text!r} is not a month; use YYYY-MM, e.g. 2026-10")
        _within_years(text, year)
        return month(year, mon).to_date(today)
    if m := _QUARTER.match(value):
        year, number = int(m.group(1)), int(m.group(2))
        if not 1 <= number <= 4:
            raise PeriodError(f"{text!r} is not a quarter; use YYYY-Qn with n from 1 to 4, e.g. 2026-Q3")
        _within_years(text, year)
        return quarter(year, number).to_date(today)
    if m := _WEEK.match(value):
        year, number = int(m.group(1)), int(m.group(2))
        _within_years(text, year)
        try:
            monday = date.fromisocalendar(year, number, 1)
        except ValueError:
            raise PeriodError(
                f"{text!r} is not a week; use YYYY-Www with a week that year has (01 to 52, or 53), e.g. 2026-W46"
            ) from None
        return iso_week(monday).to_date(today)
    if m := _DAYS.match(value):
        return trailing(int(m.group(1)), today=today)
    if _DATE.match(value):
        # Its month, when it has one (2026-02-30 is in 2026-02; 2026-13-45 is in no month).
        its_month = f"e.g. {value[:7]} for its month" if 1 <= int(value[5:7]) <= 12 else "e.g. 2026-10, 2026-Q3 or 7d"
        raise PeriodError(
            f"{text!r} is a date, not a period: a period is YYYY-MM (a month), YYYY-Qn (a quarter), YYYY-Www (an ISO "
            f"week) or Nd (the last N days), {its_month}"
        )
    raise PeriodError(
        f"{text!r} is not a period; use YYYY-MM (a month), YYYY-Qn (a quarter), YYYY-Www (an ISO week) or Nd (the "
        "last N days), e.g. 2026-10, 2026-Q3, 2026-W46 or 7d"
    )


def _within_years(text: str, year: int) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise PeriodError(f"{text!r} is outside the years marginbot reads, {FIRST_YEAR} to {LAST_YEAR}")


def looks_like_period(text: str) -> bool:
    value = text.strip().lower()
    return bool(
        _MONTH.match(value) or _QUARTER.match(value) or _WEEK.match(value) or _DAYS.match(value) or _DATE.match(value)
    )


def runs_of_days(spans: Iterable[tuple[date, date]]) -> list[tuple[date, date]]:
    """The spans [a, b] joined where they overlap or touch (one ending the day before the next starts), in order:
    the runs of days they cover together."""
    runs: list[tuple[date, date]] = []
    for a, b in sorted(spans):
        if runs and a <= runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], max(runs[-1][1], b))
        else:
            runs.append((a, b))
    return runs


def month_spans(a: date, b: date) -> list[tuple[date, date]]:
    """[a, b] cut at the ends of its months: [(Oct 28, Oct 31), (Nov 1, Nov 26)]."""
    spans = []
    while a <= b:
        last = date(a.year, a.month, calendar.monthrange(a.year, a.month)[1])
        spans.append((a, min(b, last)))
        a = last + timedelta(days=1)
    return spans
