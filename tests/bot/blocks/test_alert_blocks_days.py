"""An alert's days in words: one day is a day."""

from __future__ import annotations

from datetime import date

from bot.blocks.alerts import event_body


def test_a_one_day_window_is_the_last_day_not_the_last_1_days() -> None:
    quiet = {"kind": "quiet", "subject": "acme", "state": "ok", "since": None, "breach_pct": "40"}
    assert "no usage and no revenue in the last day," in event_body(quiet, {"window_days": 1}, date(2026, 11, 15))
    assert "in the last 30 days," in event_body(quiet, {"window_days": 30}, date(2026, 11, 15))
