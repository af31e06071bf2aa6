"""Periods people type: months, quarters, trailing days, and what comes before each."""

from __future__ import annotations

import re
from datetime import date

import pytest

from engine.periods import Period, PeriodError, PeriodNotBegun, looks_like_period, month_to_date, parse_period

TODAY = date(2026, 11, 27)


@pytest.mark.parametrize(
    ("text", "start", "end", "label"),
    [
        ("2026-10", date(2026, 10, 1), date(2026, 10, 31), "2026-10"),
        ("2026-Q3", date(2026, 7, 1), date(2026, 9, 30), "2026-Q3"),
        ("2026-q1", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
        ("2024-Q1", date(2024, 1, 1), date(2024, 3, 31), "2024-Q1"),
        ("7d", date(2026, 11, 20), date(2026, 11, 26), "last 7 days"),
        (None, date(2026, 10, 28), date(2026, 11, 26), "last 30 days"),
    ],
)
def test_every_period_form_reads_to_its_days(text: str | None, start: date, end: date, label: str) -> None:
    assert parse_period(text, today=TODAY) == Period(start, end, label)


@pytest.mark.parametrize(
    ("text", "previous"),
    [
        ("2026-10", Period(date(2026, 9, 1), date(2026, 9, 30), "2026-09")),
        ("2026-01", Period(date(2025, 12, 1), date(2025, 12, 31), "2025-12")),
        ("2026-Q3", Period(date(2026, 4, 1), date(2026, 6, 30), "2026-Q2")),
        ("2026-Q1", Period(date(2025, 10, 1), date(2025, 12, 31), "2025-Q4")),
        ("7d", Period(date(2026, 11, 13), date(2026, 11, 19), "previous 7 days")),
    ],
)
def test_the_previous_period_is_the_comparable_one_before(text: str, previous: Period) -> None:
    assert parse_period(text, today=TODAY).previous() == previous


@pytest.mark.parametrize("text", ["2026-Q0", "2026-Q5", "2026-13", "Q3", "2026-Q", "3w"])
def test_a_period_that_is_not_one_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(PeriodError, match="YYYY"):
        parse_period(text, today=TODAY)


def test_too_many_days_and_a_date_are_periods_refused_not_words_of_a_name() -> None:
    # `/margin acme 10000d` was "no customer 'acme 10000d'" where 9999d was "between 1 and 3660"; a date likewise.
    assert looks_like_period("10000d") and looks_like_period("2026-02-30") and looks_like_period("2026-10-05")
    with pytest.raises(PeriodError, match="the number of days must be between 1 and 3660"):
        parse_period("10000d", today=TODAY)
    with pytest.raises(PeriodError, match=r"'2026-02-30' is a date, not a period: .*YYYY-Www.* e.g. 2026-02 for its"):
        parse_period("2026-02-30", today=TODAY)
    with pytest.raises(PeriodError, match=r"'2026-13-45' is a date, not a period: .* e.g. 2026-10, 2026-Q3 or 7d$"):
        parse_period("2026-13-45", today=TODAY)  # no month 13 to suggest


def test_quarters_are_recognised_as_periods_in_words() -> None:
    assert looks_like_period("2026-Q3") and looks_like_period("2026-q4") and not looks_like_period("Q3")


def test_a_month_or_quarter_still_running_is_cut_at_the_last_complete_day() -> None:
    november = parse_period("2026-11", today=TODAY)
    assert november == Period(
        date(2026, 11, 1), date(2026, 11, 26), "2026-11", full_end=date(2026, 11, 30), running=True
    )
    assert (november.complete, november.days, november.full_days) == (False, 26, 30)
    assert november.title == "2026-11, month to date (through Nov 26)"
    q4 = parse_period("2026-Q4", today=TODAY)
    assert (q4.start, q4.end, q4.days, q4.title) == (
        date(2026, 10, 1),
        date(2026, 11, 26),
        57,
        "2026-Q4, quarter to date (through Nov 26)",
    )
    assert parse_period("2026-10", today=TODAY).complete and parse_period("7d", today=TODAY).complete


def test_a_period_to_date_is_compared_with_the_same_days_of_the_one_before() -> None:
    prev = parse_period("2026-11", today=TODAY).previous()
    assert (prev.start, prev.end, prev.label, prev.complete) == (
        date(2026, 10, 1),
        date(2026, 10, 26),
        "2026-10",
        False,
    )
    assert prev.span == "first 26 days (through Oct 26)"
    assert parse_period("2026-Q4", today=TODAY).previous().end == date(2026, 8, 26)  # Jul 1 + 56 days
    # March to the 30th against all of February: the month before is shorter than the days counted.
    february = parse_period("2026-03", today=date(2026, 3, 31)).previous()
    assert (february.start, february.end, february.complete) == (date(2026, 2, 1), date(2026, 2, 28), True)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2026-12", "2026-12 has not begun (it starts on 2026-12-01)"),
        ("2027-Q1", "2027-Q1 has not begun"),
        ("2030-01", "the last complete day is 2026-11-26"),
    ],
)
def test_a_period_that_has_not_begun_is_refused(text: str, message: str) -> None:
    with pytest.raises(PeriodNotBegun, match=re.escape(message)):
        parse_period(text, today=TODAY)


def test_a_month_that_begins_today_has_no_complete_day() -> None:
    with pytest.raises(PeriodNotBegun, match="2026-12 starts today"):
        parse_period("2026-12", today=date(2026, 12, 1))
    assert month_to_date(date(2026, 12, 1)) is None
    assert month_to_date(TODAY) == parse_period("2026-11", today=TODAY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1999-12", "'1999-12' is outside the years marginbot reads, 2000 to 2099"),
        ("2100-Q1", "'2100-Q1' is outside the years marginbot reads, 2000 to 2099"),
        ("1999-Q1", "'1999-Q1' is outside the years marginbot reads, 2000 to 2099"),
        ("2026-13", "'2026-13' is not a month; use YYYY-MM"),
        ("1999-13", "'1999-13' is not a month; use YYYY-MM"),
        ("2026-Q5", "'2026-Q5' is not a quarter"),
    ],
)
def test_a_month_or_quarter_outside_the_years_read_says_so_not_that_it_is_no_month(text: str, message: str) -> None:
    with pytest.raises(PeriodError, match="^" + re.escape(message)):
        parse_period(text, today=date(2026, 11, 15))


def test_an_iso_week_is_a_period_as_the_digest_and_the_trends_label_it() -> None:
    # `/margin acme 2026-W53` was "no customer 'acme 2026-W53'": the weeks the digest names could not be asked for.
    assert looks_like_period("2026-W53") and looks_like_period("2027-w01")
    w53 = parse_period("2026-W53", today=date(2027, 1, 10))
    assert (w53.start, w53.end, w53.label, w53.unit, w53.complete) == (
        date(2026, 12, 28), date(2027, 1, 3), "2026-W53", "week", True
    )  # fmt: skip
    assert (w53.previous().start, w53.previous().end, w53.previous().label) == (
        date(2026, 12, 21), date(2026, 12, 27), "2026-W52"
    )  # fmt: skip
    running = parse_period("2026-W48", today=TODAY)  # Monday Nov 23 to Sunday Nov 29, as of Friday Nov 27
    assert (running.start, running.end, running.full_days, running.span) == (
        date(2026, 11, 23), date(2026, 11, 26), 7, "week to date (through Nov 26)"
    )  # fmt: skip
    assert (running.previous().start, running.previous().end) == (date(2026, 11, 16), date(2026, 11, 19))
    with pytest.raises(PeriodError, match="'2025-W53' is not a week; use YYYY-Www"):
        parse_period("2025-W53", today=TODAY)  # 2025 has 52 ISO weeks
    # One digit is the week it means, as typed by hand; three are refused as no week. Either was part of a name.
    assert looks_like_period("2026-W7") and looks_like_period("2026-w123")
    assert parse_period("2026-W7", today=TODAY).label == "2026-W07"
    with pytest.raises(PeriodError, match="'2026-W123' is not a week; use YYYY-Www"):
        parse_period("2026-W123", today=TODAY)


def test_one_day_is_a_day() -> None:
    one = parse_period("1d", today=TODAY)
    assert (one.label, one.previous().label) == ("last 1 day", "previous 1 day")  # "last 1 days"
