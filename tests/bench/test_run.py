"""`make bench`'s answer timings (bench.run.measure_answers): the three answers timed in rounds, not in blocks."""

from __future__ import annotations

from collections.abc import Callable

import pytest

import bench.run
from bench.run import TODAY, measure_answers
from config.settings import Settings
from engine.periods import trailing
from engine.runtime import Runtime


def test_the_answers_are_timed_in_rounds_of_one_call_each(
    small_book: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, customer = small_book
    calls: list[str] = []

    def recorded(letter: str, answer: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object, **kwargs: object) -> object:
            calls.append(letter)
            return answer(*args, **kwargs)

        return call

    for name, letter in (("customer_report", "m"), ("portfolio", "p"), ("check_alerts", "a")):
        monkeypatch.setattr(bench.run, name, recorded(letter, getattr(bench.run, name)))
    rt = Runtime(Settings(_env_file=None, database_url=url, timezone="UTC"))

    times = measure_answers(rt, customer, trailing(30, today=TODAY), repeat=4)

    assert set(times) == {"margin_ms", "portfolio_ms", "alerts_ms"} and all(ms > 0 for ms in times.values())
    # One warm-up call each, then rounds: the report and the portfolio in each of the first 4, the alerts check in
    # every third round, 3 times at least.
    assert "".join(calls) == "mpa" + "mpa" + "mp" + "mp" + "mpa" + "a"
