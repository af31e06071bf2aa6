"""`marginbot demo`: an AI company's enterprise book, and the story a newcomer reads in one screen."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import main
from config.settings import Settings
from engine.periods import trailing
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime
from engine.store.db import forget_engine
from tests.conftest import NOW


def test_the_demo_tells_its_story_with_enterprise_sized_customers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "demo.db"
    rt = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'unused.db'}"), now_override=NOW)  # type: ignore[call-arg]
    assert main(["demo", "--db", str(db), "--days", "45"], runtime=rt) == 0
    out = capsys.readouterr().out
    story = out[out.index("What this demo shows") :]
    assert len(out.splitlines()) <= 50  # one screen
    assert "Acme Corp (" in story and "Stark Logistics (" in story and "bleed on flat fees" in story
    assert "Initech is at" in story and "at the breach line around" in story
    assert "Globex grew as fast" in story and "it pays per request" in story
    assert "self-hosted/acme-guard-2b" in story and "have no price" in story
    assert "marginbot whatif stark-logistics price usage" in story and "per-task pricing saves Stark Logistics" in story
    assert "marginbot alerts check --dry-run" in story and "the Home tab" in story
    # The table is cut to a screen: what lists the rest names the demo's database (the reader gave no --limit).
    assert f"more: `DATABASE_URL=sqlite:///{db} marginbot portfolio` lists all\n" in out and "--limit" not in out

    url = f"sqlite:///{db}"
    try:
        demo = Runtime(Settings(_env_file=None, database_url=url), now_override=NOW)  # type: ignore[call-arg]
        with demo.connect() as conn:
            book = portfolio(conn, trailing(30, today=demo.today()), thresholds=demo.thresholds)
        status = {r.key: r.current.status for r in book.customers}
        assert (status["acme-corp"], status["stark-logistics"], status["initech"], status["globex"]) == (
            "breach",
            "breach",
            "watch",
            "healthy",
        )
        assert sum(s == "breach" for s in status.values()) == 2  # the story's two, no others
        revenue = sorted(r.current.revenue for r in book.customers)
        assert revenue[0] >= 2000  # a few thousand dollars a month at least
        assert 40_000 <= revenue[-1] <= 150_000  # up to about a hundred thousand
    finally:
        forget_engine(url)


def test_the_story_names_the_window_its_figures_cover(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # As of NOW (2026-11-15) the demo's figures are the last 30 days, Oct 16 to Nov 14: part of two months.
    rt = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'unused.db'}"), now_override=NOW)  # type: ignore[call-arg]
    db = tmp_path / "demo.db"
    try:
        assert main(["demo", "--db", str(db), "--days", "45"], runtime=rt) == 0
    finally:
        forget_engine(f"sqlite:///{db}")
    out = capsys.readouterr().out
    story = out[out.index("What this demo shows") :]
    assert "Portfolio — last 30 days" in out
    assert "self-hosted/acme-guard-2b in the last 30 days have no price" in story
    assert "this month" not in story


@pytest.mark.parametrize(
    ("flag", "value", "problem"),
    [
        ("--days", "0", "must be a whole number of at least 1"),
        ("--days", "-3", "must be a whole number of at least 1"),
        ("--customers", "0", "must be a whole number of at least 1"),
        ("--customers", "many", "must be a whole number of at least 1"),
        # Past its bound: `demo --customers 1000000` wrote 107 MB in 20 s and went on.
        ("--days", "100000", "must be at most 3,660"),
        ("--customers", "1000000", "must be at most 10,000"),
    ],
)
def test_a_demo_size_out_of_its_range_is_a_usage_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, problem: str
) -> None:
    rt = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'unused.db'}"), now_override=NOW)  # type: ignore[call-arg]
    with pytest.raises(SystemExit) as stopped:
        main(["demo", "--db", str(tmp_path / "demo.db"), flag, value], runtime=rt)
    assert stopped.value.code == 2
    assert (
        capsys.readouterr().err.splitlines()[-1] == f"marginbot demo: error: argument {flag}: {problem}, got {value!r}"
    )
    assert not (tmp_path / "demo.db").exists()


def test_a_directory_as_the_demo_database_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rt = Runtime(Settings(_env_file=None, database_url=f"sqlite:///{tmp_path / 'unused.db'}"), now_override=NOW)  # type: ignore[call-arg]
    folder = tmp_path / "adir"
    folder.mkdir()
    assert main(["demo", "--db", str(folder)], runtime=rt) == 2
    assert capsys.readouterr() == (
        "",
        f"marginbot: --db {folder} is a directory: name the SQLite file to (re)create, e.g. {folder / 'demo.db'}\n",
    )
    assert folder.is_dir() and list(folder.iterdir()) == []


def test_an_error_on_the_demo_database_names_it_not_database_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # SQLite cannot create its rollback journal where a directory has that name: the demo's database cannot be
    # written, whatever DATABASE_URL names.
    db = tmp_path / "demo.db"
    (tmp_path / "demo.db-journal").mkdir()
    users = f"sqlite:///{tmp_path / 'users.db'}"
    rt = Runtime(Settings(_env_file=None, database_url=users), now_override=NOW)  # type: ignore[call-arg]
    try:
        assert main(["demo", "--db", str(db), "--customers", "3", "--days", "3"], runtime=rt) == 1
    finally:
        forget_engine(f"sqlite:///{db}")
    err = capsys.readouterr().err
    assert err == (
        f"marginbot: cannot use the database sqlite:///{db}: unable to open database file; does its folder exist, "
        "and may this user write there?\n"
    )
