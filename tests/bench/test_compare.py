"""`python -m bench.compare`: two checkouts' answers timed call for call, each in a process of its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import QUESTIONS, compare, main

HERE = Path(__file__).resolve().parents[2]  # this checkout


def test_each_question_is_timed_on_both_sides_and_their_pairs_compared(small_book: tuple[str, str]) -> None:
    url, customer = small_book
    result = compare(HERE, HERE, url, customer, rounds=3)
    assert set(result) == set(QUESTIONS)
    for name, r in result.items():
        assert r["this_ms"] > 0 and r["other_ms"] > 0, name
        low, high = r["ratio_iqr"]
        assert 0 < low <= r["ratio"] <= high, name


def test_a_folder_that_is_no_checkout_is_said_so(tmp_path: Path, small_book: tuple[str, str]) -> None:
    url, customer = small_book
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
