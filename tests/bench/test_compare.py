"""`python -m bench.compare`: two checkouts' answers timed call for call, each in a process of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import QUESTIONS, compare, main
from bench.run import TODAY
from config.settings import DEFAULT_PRICES_FILE
from engine.demo import generate
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.pricing.book import PriceBook
from engine.store.db import open_engine

HERE = Path(__file__).resolve().parents[2]  # this checkout


def _database(tmp_path: Path) -> tuple[str, str]:
    """A small generated book imported into a SQLite file: its URL and a customer with usage."""
    prices = PriceBook.load(DEFAULT_PRICES_FILE)
    files = generate(tmp_path / "data", customers=4, days=40, today=TODAY, seed=3, events=3000, prices=prices)
    url = f"sqlite:///{tmp_path / 'bench.db'}"
    engine = open_engine(url)
    import_contracts_file(engine, files.contracts)
    import_usage_file(engine, files.usage, prices=prices, timezone="UTC")
    with engine.connect() as conn:
        (customer,) = conn.exec_driver_sql("SELECT customer FROM usage_event ORDER BY event_id LIMIT 1").one()
    engine.dispose()
    return url, str(customer)


def test_each_question_is_timed_on_both_sides_and_their_pairs_compared(tmp_path: Path) -> None:
    url, customer = _database(tmp_path)
    result = compare(HERE, HERE, url, customer, rounds=3)
    assert set(result) == set(QUESTIONS)
    for name, r in result.items():
        assert r["this_ms"] > 0 and r["other_ms"] > 0, name
        low, high = r["ratio_iqr"]
        assert 0 < low <= r["ratio"] <= high, name


def test_a_folder_that_is_no_checkout_is_said_so(tmp_path: Path) -> None:
    url, customer = _database(tmp_path)
    with pytest.raises(SystemExit, match="the worker did not start"):
        compare(HERE, tmp_path, url, customer, rounds=1)


@pytest.mark.parametrize("rounds", ["0", "-3", "many"])
def test_a_count_of_rounds_under_one_is_refused_in_one_line(
    rounds: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path), "--rounds", rounds])
    assert stopped.value.code == 2
    assert f"argument --rounds: '{rounds}' is not a whole number of 1 or more" in capsys.readouterr().err
