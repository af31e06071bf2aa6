"""The shared answer path (parse → engine → blocks) over a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy import text

from bot import forms
from bot.answer import SORRY, answer, answer_command, answer_json, home
from bot.answer_types import Answer, AnswerError
from bot.command import Command
from bot.grammar import parse
from bot.handlers.scenarios import split_options
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_home, assert_valid_message
from tests.conftest import NOW


def shown(rt: Runtime, question: str) -> str:
    result = answer(rt, question)
    assert_valid_message(result.text, result.blocks)
    return all_text(result.blocks)


@pytest.mark.parametrize("name", ["acme", "Acme Corp", "ACME CORP", "acme inc"])
def test_customer_answer_has_the_hand_computed_figures_by_id_name_or_alias(book: Runtime, name: str) -> None:
    out = shown(book, f"/margin {name} 2026-10")
    assert "$2,000.00" in out and "$1,484.73" in out and "25.8%" in out and "BREACH" in out
    assert "62% of COGS is gpt-4o on agent-run" in out
    assert "P99 $418.16" in out  # Oct 3, 10 and 17 each cost 230.25 + 187.91
    assert "previous 85.0% (-59.2 pts)" in out
    assert "1 unpriced event*" in out and "mystery/mystery-1" in out
    # The model with no price says so in its own line of the top models, where its COGS reads $0.00.
    assert "`mystery-1` (mystery) $0.00 · 0.0% · no change vs previous · :warning: 1 unpriced event" in out


def test_default_period_is_the_last_30_complete_days(book: Runtime) -> None:
    # NOW is 2026-11-15 12:00 UTC: 2026-10-16 .. 2026-11-14 holds Acme's Oct 17 and Oct 24 events.
    result = answer(book, "acme")
    assert result.text.startswith("Acme Corp (last 30 days)")
    assert "$648.41" in all_text(result.blocks)  # 230.25 × 2 + 187.91


def test_product_top_worst_and_portfolio_answers(book: Runtime) -> None:
    assert "$921.00" in shown(book, "product agent 2026-10")
    portfolio = shown(book, "portfolio 2026-10")
    assert "$3,500.00" in portfolio and "$2,034.73" in portfolio and "41.9%" in portfolio
    top = shown(book, "top 2 2026-10")
    assert top.index("*Globex* 70.0%") < top.index("*Initech* 50.0%") and "Acme" not in top
    worst = shown(book, "worst 1 2026-10")
    assert "*Acme Corp* 25.8%" in worst and "Globex" not in worst


def test_unknown_customer_suggests_the_closest_names(book: Runtime) -> None:
    outcome = answer_command(book, parse("acme crop 2026-10"))
    assert not outcome.ok
    assert outcome.answer.text.startswith("No customer “acme crop”; did you mean")
    assert "Acme Corp" in outcome.answer.text


@pytest.mark.parametrize("question", ["acme corp 2026-10", "forecast acme corp", "whatif acme corp cache 20",
                                      "floor acme corp", "why acme corp 2026-10"])  # fmt: skip
def test_a_name_two_customers_share_is_refused_in_one_short_private_line(book: Runtime, question: str) -> None:
    with book.engine.begin() as conn:  # a second customer under Acme Corp's name: min() answered acme, silently
        conn.execute(text("INSERT INTO customer (id, name, aliases) VALUES ('acme-eu', 'Acme Corp', '')"))
    outcome = answer_command(book, parse(question))
    assert not outcome.ok and outcome.misread  # the asker's to say which: kept private, never shared
    assert outcome.answer.text == (
        "“acme corp” is the name of 2 customers: acme (Acme Corp), acme-eu (Acme Corp); ask by id"
    )
    assert_valid_message(outcome.answer.text, outcome.answer.blocks)
    assert len(outcome.answer.blocks) == 1 and "*acme-eu* (Acme Corp)" in all_text(outcome.answer.blocks)
    assert answer_command(book, parse("acme 2026-10")).ok  # the id still answers


def test_injection_shaped_input_is_only_an_unknown_name(book: Runtime) -> None:
    outcome = answer_command(book, parse("acme'; DROP TABLE customer; --"))
    assert not outcome.ok
    assert outcome.answer.text == "No customer “acme'; DROP TABLE customer; --”"
    with book.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM customer")).scalar_one() == 3


@pytest.mark.parametrize("question", ["acme 2026-13", "acme 0d", "top ten", "", "portfolio acme"])
def test_bad_input_gets_the_help_never_a_traceback(book: Runtime, question: str) -> None:
    outcome = answer_command(book, parse(question))
    assert "/margin product NAME [PERIOD]" in outcome.answer.text
    assert outcome.ok is (question == "")


def test_scenario_forms_dispatch_the_remaining_words(book: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, list[str]]] = []
    for kind in ("whatif", "forecast", "floor"):

        def fn(rt: Runtime, cmd: Command, now: datetime, kind: str = kind) -> Answer:
            words = list(cmd.words)
            if words == ["bad"]:
                raise AnswerError(f"{kind}: cannot read 'bad'")
            if "share" in words:  # as the real forms refuse it: a reading keeping `share` as a word is tried first
                raise AnswerError(f"{kind}: 'share' is not a lever")
            seen.append((kind, words))
            return Answer(f"{kind} ok", [])

        monkeypatch.setitem(forms.BY_KIND, kind, replace(forms.BY_KIND[kind], handler=fn))
    assert answer(book, "/margin whatif acme route gpt-4o->o3 50 share").text == "whatif ok"
    assert answer(book, "forecast acme").text == "forecast ok"
    assert answer(book, "floor acme --target 60").text == "floor ok"
    assert seen == [
        ("whatif", ["acme", "route", "gpt-4o->o3", "50"]),
        ("forecast", ["acme"]),
        ("floor", ["acme", "--target", "60"]),
    ]
    bad = answer_command(book, parse("floor bad"))
    assert not bad.ok and "floor: cannot read &#x27;bad&#x27;" not in bad.answer.text
    assert "floor: cannot read 'bad'" in bad.answer.text and "/margin help" in bad.answer.text


def test_an_engine_failure_is_one_friendly_line_and_a_logged_traceback(
    book: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    with book.engine.begin() as conn:
        conn.execute(text("DROP TABLE daily_rollup"))
    with caplog.at_level(logging.ERROR, logger="bot.answer"):
        outcome = answer_command(book, parse("acme 2026-10"))
    assert outcome.answer.text == SORRY and not outcome.ok
    assert caplog.records[-1].exc_info is not None and "daily_rollup" in caplog.text


def test_answer_json_is_what_slack_receives(book: Runtime) -> None:
    payload = json.loads(answer_json(book, "/margin acme 2026-10"))
    assert payload["text"].startswith("Acme Corp (2026-10): gross margin 25.8% BREACH")
    assert payload["blocks"][0]["type"] == "header"


def test_home_shows_the_last_import_from_import_run(book: Runtime) -> None:
    with book.connect() as conn:
        finished = conn.execute(text("SELECT finished_at FROM import_run WHERE source = 'usage'")).scalar_one()
    view = home(book)
    assert_valid_home(view)
    out = all_text(view["blocks"])
    assert f"data last imported {str(finished)[:16]} UTC (usage, 12 rows)" in out
    assert "last 30 days" in out and "blended gross margin" in out


def test_home_says_how_to_fix_rollups_cut_in_another_time_zone(book: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    """As /margin does: the reprice to run, not "try again in a minute" (which no wait would fix)."""
    moved = Runtime(book.settings.model_copy(update={"timezone": "Asia/Tokyo"}), now_override=NOW)
    view = home(moved)
    assert_valid_home(view)
    assert "daily rollups were cut in UTC but MARGINBOT_TIMEZONE is Asia/Tokyo: run `marginbot reprice`" in all_text(
        view["blocks"]
    )
    assert caplog.records[-1].exc_info is None


@pytest.mark.parametrize(
    ("words", "given"),
    [(["acme", "target", "60", "target", "70"], "`target` given twice (60 and 70)"),
     (["acme", "--growth", "10%", "growth", "20%"], "`growth` given twice (10% and 20%)")],
)  # fmt: skip
def test_an_option_given_twice_is_refused_not_the_last_one_taken(words: list[str], given: str) -> None:
    # `/margin floor acme target 60 target 70` answered for 70 without a word; two periods were already refused.
    with pytest.raises(AnswerError, match=re.escape(given)):
        split_options(words, ("target", "growth"), "e.g. `/margin floor acme target 60`")
