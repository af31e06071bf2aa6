"""Periods people type: months, quarters, trailing days, and what comes before each."""

from __future__ import annotations

from datetime import date

import pytest

from engine.periods import Period, PeriodError, looks_like_period, parse_period

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


@pytest.mark.parametrize("text", ["2026-Q0", "2026-Q5", "2026-13", "1999-Q1", "Q3", "2026-Q", "3w"])
def test_a_period_that_is_not_one_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(PeriodError, match="YYYY"):
        parse_period(text, today=TODAY)


def test_quarters_are_recognised_as_periods_in_words() -> None:
    assert looks_like_period("2026-Q3") and looks_like_period("2026-q4") and not looks_like_period("Q3")
