"""`make bench` and its parts: the answers timed in rounds (bench.run.measure_answers), and counts under one refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import bench.run
from bench.ingest import main as ingest_main
from bench.queries import main as queries_main
from bench.run import TODAY, measure_answers
from config.settings import DEFAULT_PRICES_FILE, Settings
from engine.demo import generate
from engine.ingest.contracts import import_contracts_file
from engine.periods import trailing
from engine.pricing.book import PriceBook
from engine.runtime import Runtime
from engine.store.db import open_engine


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


def test_the_baseline_is_called_right_after_the_report_in_its_rounds(
    small_book: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, customer = small_book
    calls: list[str] = []
    monkeypatch.setattr(bench.run, "customer_report", lambda *a, **k: calls.append("m"))
    monkeypatch.setattr(bench.run, "portfolio", lambda *a, **k: calls.append("p"))
    monkeypatch.setattr(bench.run, "check_alerts", lambda *a, **k: calls.append("a"))
    rt = Runtime(Settings(_env_file=None, database_url=url, timezone="UTC"))

    times = measure_answers(rt, customer, trailing(30, today=TODAY), repeat=4, baseline=lambda: calls.append("d"))

    assert set(times) == {"margin_ms", "duckdb_raw_ms", "portfolio_ms", "alerts_ms"}
    # The baseline as often as the report, each time just after it: their ratio compares calls moments apart.
    assert "".join(calls) == "mdpa" + "mdpa" + "mdp" + "mdp" + "mdpa" + "a"


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (bench.run.main, "--repeat"),
        (bench.run.main, "--import-runs"),
        (queries_main, "--repeat"),
        (ingest_main, "--runs"),
    ],
)
def test_a_count_under_one_is_refused_in_one_line(
    command: Callable[[list[str]], int], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        command([flag, "0"])
    assert stopped.value.code == 2
    assert f"argument {flag}: '0' is not a whole number of 1 or more" in capsys.readouterr().err


def test_a_book_past_the_demos_sixty_names_imports_its_contracts(tmp_path: Path) -> None:
    # The bench's 2,000 customers repeat the demo's 60 names ("Globex 34"): each took its name's first word as its
    # alias, "globex", which is Globex's id, and the contracts import refuses a label pointing to two customers.
    prices = PriceBook.load(DEFAULT_PRICES_FILE)
    files = generate(tmp_path / "data", customers=130, days=3, today=TODAY, seed=3, events=500, prices=prices)
    result = import_contracts_file(open_engine(f"sqlite:///{tmp_path / 'b.db'}"), files.contracts)  # refused: raises
    assert len(result.customers) == 130
