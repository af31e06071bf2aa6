"""Configuration that cannot slip silently: a missing price file, stale prices, a changed time zone, the demo's
database forgotten. Each is one line the user sees, on the command line and in Slack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import answer
from bot.cli.main import main
from config.settings import Settings
from engine.runtime import Runtime
from engine.store.db import forget_engine
from engine.store.meta import STALE_PRICES
from tests.bot.blockkit import all_text
from tests.bot.cli.support import cli
from tests.conftest import NOW
from tests.engine.scenarios.book import PRICES, load_book, write_prices


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    return write_prices(tmp_path)


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_book(runtime, tmp_path)
    return runtime


def test_a_price_file_that_is_set_but_missing_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MARGINBOT_PRICES_FILE", str(tmp_path / "prices.tmol"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'm.db'}")
    assert main(["portfolio"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("marginbot: MARGINBOT_PRICES_FILE: ")
    assert f"{tmp_path / 'prices.tmol'} is not a file: fix the path, or unset it" in err
    assert not (tmp_path / "m.db").exists()  # refused before anything was opened


def test_editing_the_price_file_is_said_on_every_report_until_reprice(
    book: Runtime, prices_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(book, capsys, "margin", "c1", "--period", "2026-10")
    assert code == 0 and STALE_PRICES not in out
    # acme/big's output price goes from $30 to $60 per million tokens: only the events with big's output change.
    prices_file.write_text(PRICES.replace("output_per_mtok = 30", "output_per_mtok = 60"))
    changed = Runtime(book.settings, now_override=NOW)  # a new process reads the new file
    code, out, _ = cli(changed, capsys, "margin", "c1", "--period", "2026-10")
    assert code == 0 and out.rstrip().endswith(f"Note: {STALE_PRICES}")
    code, out, err = cli(changed, capsys, "portfolio", "--period", "2026-10", "--json")
    assert json.loads(out)["period"]["label"] == "2026-10" and err == f"marginbot: {STALE_PRICES}\n"
    assert STALE_PRICES in all_text(answer(changed, "/margin c1 2026-10").blocks)
    code, out, _ = cli(changed, capsys, "reprice")
    # e1, e2 (Cee One) and e5, e6 (Cee Two) use big with output: 4 of 6 events changed; e1 +$0.30, e2 +$1.50,
    # e5 and e6 +$0.15 each.
    assert code == 0 and out.strip() == "re-priced 6 events: 4 with a new cost; COGS moved by $2.10"
    code, out, _ = cli(changed, capsys, "margin", "c1", "--period", "2026-10")
    assert STALE_PRICES not in out
    code, out, _ = cli(changed, capsys, "reprice")
    assert out.strip() == "re-priced 6 events: 0 with a new cost; COGS moved by $0.00"


def test_queries_refuse_rollups_cut_in_another_time_zone(book: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    moved = Runtime(book.settings.model_copy(update={"timezone": "Europe/Paris"}), now_override=NOW)
    code, out, err = cli(moved, capsys, "margin", "c1", "--period", "2026-10")
    assert (code, out) == (1, "")
    assert err == (
        "marginbot: daily rollups were cut in UTC but MARGINBOT_TIMEZONE is Europe/Paris: run `marginbot reprice` "
        "to rebuild them in the new time zone\n"
    )
    assert "run `marginbot reprice`" in answer(moved, "/margin c1 2026-10").text
    code, out, _ = cli(moved, capsys, "reprice")
    assert code == 0 and "moved to another day" not in out  # every event is at noon UTC: the same day in Paris
    assert cli(moved, capsys, "margin", "c1", "--period", "2026-10")[0] == 0


def test_forgetting_database_url_after_the_demo_says_how_to_point_at_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prices_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "marginbot-demo.db").write_bytes(b"")
    forget_engine("sqlite:///marginbot.db")
    try:
        settings = Settings(_env_file=None, prices_file=prices_file)  # type: ignore[call-arg]
        assert main(["margin", "acme"], settings=settings) == 1
        err = capsys.readouterr().err
        assert err == (
            "marginbot: no customer 'acme'; this database (sqlite:///marginbot.db, the default: DATABASE_URL is not "
            "set) is empty; the demo's data is in marginbot-demo.db: export DATABASE_URL=sqlite:///marginbot-demo.db\n"
        )
        reply = answer(Runtime(settings, now_override=NOW), "/margin acme")
        assert "export DATABASE_URL=sqlite:///marginbot-demo.db" in all_text(reply.blocks)
        # Set explicitly, the same database is the user's choice: no hint.
        chosen = settings.model_copy(update={"database_url": "sqlite:///marginbot.db"})
        chosen.model_fields_set.add("database_url")
        assert main(["margin", "acme"], settings=chosen) == 1
        assert capsys.readouterr().err == "marginbot: no customer 'acme'\n"
    finally:
        forget_engine("sqlite:///marginbot.db")


def test_alerts_and_the_digest_refuse_a_changed_time_zone_too(
    book: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = Runtime(book.settings.model_copy(update={"timezone": "Europe/Paris"}), now_override=NOW)
    for argv in (["alerts", "check", "--dry-run"], ["digest", "send", "--dry-run"]):
        code, _, err = cli(moved, capsys, *argv)
        assert code == 1 and "daily rollups were cut in UTC but MARGINBOT_TIMEZONE is Europe/Paris" in err


def test_a_refreshed_catalogue_is_a_price_change_too(
    book: Runtime, prices_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from engine.store.meta import price_file_fingerprint
    from tests.bot.cli.test_prices import DATA

    # Reports fingerprint the files without loading the catalogue: the same figure as the price book's.
    catalogue = book.settings.catalogue_path
    before = book.prices.fingerprint
    assert price_file_fingerprint(prices_file, catalogue) == before
    catalogue.write_text(json.dumps(DATA))  # what `marginbot prices update` writes
    refreshed = Runtime(book.settings, now_override=NOW)
    assert price_file_fingerprint(prices_file, catalogue) == refreshed.prices.fingerprint != before
    assert cli(refreshed, capsys, "margin", "c1", "--period", "2026-10")[1].rstrip().endswith(STALE_PRICES)
    assert cli(refreshed, capsys, "reprice")[0] == 0
    assert STALE_PRICES not in cli(refreshed, capsys, "margin", "c1", "--period", "2026-10")[1]
