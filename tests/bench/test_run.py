"""`make bench`'s answer timings (bench.run.measure_answers): the three answers timed in rounds, not in blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

import bench.run
from bench.run import TODAY, measure_answers
from config.settings import DEFAULT_PRICES_FILE, Settings
from engine.demo import generate
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import trailing
from engine.pricing.book import PriceBook
from engine.runtime import Runtime
from engine.store.db import open_engine


def test_the_answers_are_timed_in_rounds_of_one_call_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prices = PriceBook.load(DEFAULT_PRICES_FILE)
    files = generate(tmp_path / "data", customers=3, days=40, today=TODAY, seed=5, events=2000, prices=prices)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    engine = open_engine(url)
    import_contracts_file(engine, files.contracts)
    import_usage_file(engine, files.usage, prices=prices, timezone="UTC")
    with engine.connect() as conn:
        (customer,) = conn.exec_driver_sql("SELECT customer FROM usage_event ORDER BY event_id LIMIT 1").one()
    engine.dispose()
    calls: list[str] = []

    def recorded(name: str, answer):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(name)
            return answer(*args, **kwargs)

        return call

    for name, letter in (("customer_report", "m"), ("portfolio", "p"), ("check_alerts", "a")):
        monkeypatch.setattr(bench.run, name, recorded(letter, getattr(bench.run, name)))
    rt = Runtime(Settings(_env_file=None, database_url=url, timezone="UTC"))

    times = measure_answers(rt, str(customer), trailing(30, today=TODAY), repeat=4)

    assert set(times) == {"margin_ms", "portfolio_ms", "alerts_ms"} and all(ms > 0 for ms in times.values())
    # One warm-up call each, then rounds: the report and the portfolio in each of the first 4, the alerts check in
    # every third round, 3 times at least.
    assert "".join(calls) == "mpa" + "mpa" + "mp" + "mp" + "mpa" + "a"
