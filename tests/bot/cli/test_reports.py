"""`marginbot margin|product|portfolio` and `marginbot reconcile` given what people type by mistake: one line that
says how to write it, and exit 2 for what is wrong on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli.main import main
from engine.runtime import Runtime
from tests.bot.cli.support import cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["margin", "acme", "2026-10"],
            "marginbot: no customer 'acme 2026-10'; did you mean Acme Corp? (to ask about 2026-10, give it as "
            "--period 2026-10: marginbot margin acme --period 2026-10)\n",
        ),
        (
            ["product", "agent", "2026-Q4"],
            "marginbot: no product 'agent 2026-Q4'; did you mean agent? (to ask about 2026-Q4, give it as "
            "--period 2026-Q4: marginbot product agent --period 2026-Q4)\n",
        ),
        (
            ["margin", "acme", "7d"],
            "marginbot: no customer 'acme 7d'; did you mean Acme Corp? (to ask about 7d, give it as --days 7: "
            "marginbot margin acme --days 7)\n",
        ),
    ],
    ids=["month", "quarter", "days"],
)
def test_a_period_typed_after_the_name_as_in_slack_is_named_with_its_flag(
    book: Runtime, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    assert cli(book, capsys, *argv) == (1, "", expected)


def test_a_name_whose_last_word_is_no_period_gets_no_period_hint(
    book: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(book, capsys, "margin", "nobody") == (1, "", "marginbot: no customer 'nobody'\n")
    code, _, err = cli(book, capsys, "margin", "acme", "2026-10", "--period", "2026-10")
    assert code == 1 and "--period" not in err  # the flag was given: the words are the name as typed


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_portfolio_limit_below_one_is_refused_rather_than_dropping_rows(
    book: Runtime, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["portfolio", "--limit", limit], runtime=book)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        f"marginbot portfolio: error: argument --limit: must be a whole number of at least 1, got '{limit}'"
    )


def test_portfolio_limit_shows_that_many_customers(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(book, capsys, "portfolio", "--period", "2026-10", "--limit", "1")
    customers = out.split("Customers (")[1].split("\n\n")[0].splitlines()
    assert code == 0 and len(customers) == 1 + 2 + 1 + 1  # the title, the header and its rule, one row, the rest
    total = len(json.loads(cli(book, capsys, "portfolio", "--period", "2026-10", "--json")[1])["customers"])
    assert total > 1
    assert customers[0] == f"{total}, worst first, the 1 worst shown)"
    assert customers[-1] == f"  and {total - 1} more: `marginbot portfolio` without --limit lists every customer"
    code, out, _ = cli(book, capsys, "portfolio", "--period", "2026-10", "--limit", str(total))
    assert f"Customers ({total}, worst first)\n" in out and "more: `marginbot portfolio`" not in out


@pytest.mark.parametrize("text", ["2026-Q3", "2026-q4", "30d"])
def test_reconcile_refuses_a_period_that_is_not_a_month(
    book: Runtime, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    assert cli(book, capsys, "reconcile", "--period", text) == (
        2,
        "",
        f"marginbot: --period must be a month, like 2026-10, got {text!r}\n",
    )
    assert cli(book, capsys, "reconcile", "--period", "2026-10")[0] == 0


def test_report_out_naming_a_file_where_a_directory_goes_is_one_line_before_any_work(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plain = tmp_path / "plainfile"
    plain.write_text("hi")
    assert cli(book, capsys, "report", "--period", "2026-10", "--out", str(plain)) == (
        1,
        "",
        f"marginbot: --out {plain} is a file, not a directory: name a directory for the .csv files, or FILE.xlsx\n",
    )
    assert cli(book, capsys, "report", "--period", "2026-10", "--out", str(plain / "pack.xlsx")) == (
        1,
        "",
        f"marginbot: --out {plain / 'pack.xlsx'}: {plain} is a file, not a directory\n",
    )
    assert plain.read_text() == "hi"


def test_report_out_empty_is_refused_rather_than_writing_into_the_current_directory(
    book: Runtime, capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    for empty in ("", "  "):
        assert cli(book, capsys, "report", "--period", "2026-10", "--out", empty) == (
            2,
            "",
            "marginbot: --out is empty: name an .xlsx file (pack.xlsx) or a directory for .csv files (pack/)\n",
        )
    assert list(here.iterdir()) == []


@pytest.mark.parametrize(
    ("word", "why"),
    [("2026-13", "'2026-13' is not a month"), ("0d", "the number of days must be between 1 and 3660")],
)
def test_a_name_ending_in_a_word_shaped_like_a_period_that_is_none_is_told_why(
    book: Runtime, capsys: pytest.CaptureFixture[str], word: str, why: str
) -> None:
    # It said "give it as --period 2026-13", which the command then refused too.
    code, _, err = cli(book, capsys, "margin", "acme", word)
    assert code == 1 and f"({word} is not a period either: {why}" in err and "give it as" not in err
