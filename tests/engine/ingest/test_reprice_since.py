"""`reprice --since DATE`: prices are dated in UTC days, so west of UTC the hours of DATE before local midnight are
re-priced too; and when events before DATE keep costs the new prices would change, the new prices are not recorded
as applied (reports keep saying prices changed) and the summary says so."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import Settings
from engine.ingest.files import import_usage_file
from engine.ingest.reprice import since_cut
from engine.runtime import Runtime
from engine.store.meta import STALE_PRICES
from tests.bot.cli.support import cli
from tests.conftest import NOW

HEADER = "event_id,ts,customer,product,provider,model,input_tokens,output_tokens"
# 20% off OpenAI from a UTC date: gpt-4o's $2.50 per million input tokens becomes $2.00.
DISCOUNT = '[[discounts]]\nprovider = "openai"\npercent = 20\neffective_from = {day}\n'


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text("")
    return path


@pytest.fixture
def west(settings: Settings) -> Runtime:
    return Runtime(settings.model_copy(update={"timezone": "America/Los_Angeles"}), now_override=NOW)


def imported(rt: Runtime, tmp_path: Path, events: dict[str, str]) -> None:
    """Events (id → UTC time) of a million gpt-4o input tokens each, priced with the price file as it is."""
    lines = [f"{e},{ts},acme,chat,openai,gpt-4o,1000000,0" for e, ts in events.items()]
    path = tmp_path / "usage.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    import_usage_file(rt.engine, path, prices=rt.prices, timezone=rt.settings.timezone)


def edited(rt: Runtime, prices_file: Path, day: str) -> Runtime:
    """The price file given a 20% OpenAI discount from `day`, and a new process to run commands with it."""
    prices_file.write_text(DISCOUNT.format(day=day))
    return Runtime(rt.settings, now_override=NOW)


def costs(rt: Runtime) -> dict[str, int]:
    with rt.connect() as conn:
        return dict(conn.execute(text("SELECT event_id, cost_uncached_input FROM usage_event")).all())


def test_since_a_date_west_of_utc_reprices_that_utc_days_hours_before_local_midnight(
    west: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a: 03:00 UTC on June 1, still May 31 in Los Angeles, but priced by June 1's prices (a UTC date).
    imported(west, tmp_path, {"a": "2026-06-01T03:00:00Z", "b": "2026-06-01T12:00:00Z"})
    west = edited(west, prices_file, "2026-06-01")
    code, out, _ = cli(west, capsys, "reprice", "--since", "2026-06-01")
    assert (code, out) == (0, "re-priced 2 events: 2 with a new cost; COGS moved by -$1.00\n")
    assert costs(west) == {"a": 2_000_000_000, "b": 2_000_000_000}  # as a fresh import with this file prices them
    code, out, _ = cli(west, capsys, "margin", "acme", "--period", "2026-05")
    assert code == 0 and STALE_PRICES not in out


def test_since_cuts_at_the_earlier_of_local_and_utc_midnight() -> None:
    june = date(2026, 6, 1)
    assert since_cut(june, "America/Los_Angeles") == datetime(2026, 6, 1, tzinfo=UTC)
    assert since_cut(june, "Asia/Tokyo") == datetime(2026, 5, 31, 15, tzinfo=UTC)  # local midnight is earlier
    assert since_cut(june, "UTC") == datetime(2026, 6, 1, tzinfo=UTC)


def test_earlier_events_the_new_prices_would_change_keep_the_stale_prices_notice_and_the_summary_says_so(
    west: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    imported(west, tmp_path, {"may": "2026-05-10T12:00:00Z", "june": "2026-06-02T12:00:00Z"})
    west = edited(west, prices_file, "2026-05-01")  # reaches back before --since
    code, out, _ = cli(west, capsys, "reprice", "--since", "2026-06-01")
    assert code == 0
    assert out == (
        "re-priced 1 event: 1 with a new cost; COGS moved by -$0.50; events before 2026-06-01 00:00 UTC keep costs "
        "these prices would change: run `marginbot reprice` without --since to re-price them too (until then "
        "reports say prices changed, and imports and syncs wait for it)\n"
    )
    assert costs(west) == {"may": 2_500_000_000, "june": 2_000_000_000}
    assert cli(west, capsys, "margin", "acme", "--period", "2026-05")[1].rstrip().endswith(STALE_PRICES)
    code, out, _ = cli(west, capsys, "reprice")
    assert code == 0 and out == "re-priced 2 events: 1 with a new cost; COGS moved by -$0.50\n"
    assert STALE_PRICES not in cli(west, capsys, "margin", "acme", "--period", "2026-05")[1]


def test_earlier_events_the_new_prices_leave_alone_let_the_new_prices_be_recorded(
    west: Runtime, prices_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    imported(west, tmp_path, {"may": "2026-05-10T12:00:00Z", "june": "2026-06-02T12:00:00Z"})
    west = edited(west, prices_file, "2026-06-02")
    code, out, _ = cli(west, capsys, "reprice", "--since", "2026-06-01")
    assert (code, out) == (0, "re-priced 1 event: 1 with a new cost; COGS moved by -$0.50\n")
    assert STALE_PRICES not in cli(west, capsys, "margin", "acme", "--period", "2026-05")[1]
