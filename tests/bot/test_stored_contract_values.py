"""A stored contract value no import accepts (written by hand, or by an older version that let SQLite keep it) never
takes down the answers that read every contract: `portfolio`, `/margin portfolio` and `digest send` leave that
contract out, log why, and say so in the answer.

The book (tests/bot/dataset.py): October revenue $3,500.00 = Acme $2,000 + Globex $1,000 + Initech $500.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.answer import answer
from bot.cli.main import main
from config.settings import Settings
from engine.runtime import Runtime
from engine.store.meta import bump_generation
from tests.bot.blockkit import all_text, assert_valid_message
from tests.bot.jobs.support import alerts_runtime
from tests.fakes.slack_api import SlackStandIn

# (the SET clause, why the contract is left out); some values only SQLite can hold.
BOTH = [
    ("platform_fee_usd = 'NaN'", "platform_fee_usd is not a number ('NaN')"),
    ("plan = 'barter'", "plan 'barter' is not one of seat, flat, usage, hybrid"),
    ("seats = -3", "seats -3 is not a whole number from 0 to 2,147,483,647"),
]
SQLITE_ONLY = [
    ("platform_fee_usd = 1e30", "platform_fee_usd 1e+30 is outside 0 to 99,999,999,999,999.999999"),
    ("platform_fee_usd = 'a lot'", "platform_fee_usd is not a number ('a lot')"),
    ("unit_price_usd = 1e20", "unit_price_usd 1e+20 is outside 0 to 99,999,999,999,999.999999"),
    ("\"end\" = 'soon'", "end 'soon' is not a date"),
]


def corrupt(rt: Runtime, customer: str, assignment: str) -> int:
    """Write `assignment` into `customer`'s contract with raw SQL, as a hand edit would; its id."""
    with rt.engine.begin() as conn:
        conn.execute(text(f"UPDATE contract SET {assignment} WHERE customer = :c"), {"c": customer})
        # A hand edit bumps nothing; the Slack path's cached reports would stand until the next import. The test
        # says the data changed, as every import does.
        bump_generation(conn)
        return int(conn.execute(text("SELECT id FROM contract WHERE customer = :c"), {"c": customer}).scalar_one())


def cases(rt: Runtime) -> list[tuple[str, str]]:
    return BOTH + (SQLITE_ONLY if rt.engine.dialect.name == "sqlite" else [])


def test_portfolio_leaves_out_an_unreadable_contract_and_says_so(
    book: Runtime, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    for assignment, why in cases(book):
        with book.engine.begin() as conn:  # a fresh globex contract for each case
            conn.execute(text("DELETE FROM contract WHERE customer = 'globex'"))
            conn.execute(
                text(
                    "INSERT INTO contract (customer, product, plan, start, seats, seat_price_usd, platform_fee_usd, "
                    "included_units, unit, unit_price_usd, owner) "
                    "VALUES ('globex', '', 'flat', '2026-01-01', 0, 0, 1000, 0, '', 0, '')"
                )
            )
        cid = corrupt(book, "globex", assignment)
        notice = f"contract {cid} of globex (every product) left out: {why}"
        caplog.clear()
        capsys.readouterr()
        assert main(["portfolio", "--period", "2026-10", "--json"], runtime=book) == 0, assignment
        data = json.loads(capsys.readouterr().out)
        assert (data["revenue_usd"], data["skipped_contracts"]) == (2500.0, [notice]), assignment
        # Logged (once per read of the contracts: an answer may read them more than once).
        assert {r.getMessage() for r in caplog.records if r.levelno == logging.WARNING} == {
            f"{notice} (fix it by re-importing the contract)"
        }
        assert main(["portfolio", "--period", "2026-10"], runtime=book) == 0
        assert f"WARNING: {notice}; revenue is understated" in capsys.readouterr().out
        reply = answer(book, "/margin portfolio 2026-10")
        assert_valid_message(reply.text, reply.blocks)
        shown = all_text(reply.blocks)
        assert "1 contract(s) left out:" in shown and f"• {notice}" in shown and "$2,500.00" in shown


@pytest.fixture
def rt(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Runtime:
    return alerts_runtime(settings, slack, tmp_path, digest_channels=["CLEAD"])


def test_digest_send_survives_an_unreadable_contract_and_names_it(rt: Runtime, slack: SlackStandIn) -> None:
    cid = corrupt(rt, "fox", "platform_fee_usd = 'NaN'")  # fox is on a usage plan: the fee is never charged
    assert main(["digest", "send", "--as-of", "2026-11-15T12:00:00Z"], runtime=rt) == 0
    (post,) = slack.calls_to("chat.postMessage")
    assert_valid_message(post.text, post.blocks)
    shown = all_text(post.blocks)
    assert "1 contract(s) left out" in shown
    assert f"contract {cid} of fox (agent) left out: platform_fee_usd is not a number ('NaN')" in shown
