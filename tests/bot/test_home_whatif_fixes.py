"""The Home tab and the what-if modal say what is true: what lists the rest of a long list, a headline with nothing
to compare, contracts left out of revenue, the customer's name; and a what-if the modal cannot run says why beside
the field (or in one line), never with the `/margin` help or by closing the modal silently.

Through the real Bolt app and listeners, Slack played by the loopback stand-in, over real SQLite files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.response import BoltResponse
from sqlalchemy import text

from bot.answer import answer, home
from bot.blocks.alerts import WHATIF
from bot.blocks.interactive import MAX_METADATA, WhatIfForm, whatif_modal
from bot.blocks.kit import esc
from bot.blocks.portfolio import more_line
from bot.slack.listeners.views.whatif import UNREADABLE
from config.settings import Settings
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from engine.store.meta import bump_generation
from tests.bot.blockkit import all_text, assert_valid_home
from tests.bot.dataset import load_dataset
from tests.bot.slack.test_listeners import ALLOWED_USER, Bot, make_bot, view_of
from tests.engine.alerts.book import WINDOW_START, write_contracts
from tests.fakes.slack_api import SlackStandIn

# 200 characters, the longest a key may be, and a 300-character name: escaped as \uXXXX they were 3,058 characters
# of private_metadata, cut at 3,000 into JSON that no longer read.
KANJI_KEY = "株式会社" * 50
KANJI_NAME = "株式会社" * 75


def book_of(customers: dict[str, tuple[str, str]]) -> Callable[[Runtime, Path], None]:
    """key → (name, cost a day): 10 requests a day at $1 each over the 30 days of the window, nothing before it
    (so the period before has no revenue and no margin)."""

    def load(rt: Runtime, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        contracts = [(key, name, "app") for key, (name, _) in customers.items()]
        import_contracts_file(rt.engine, write_contracts(folder / "contracts.csv", contracts))
        usage = folder / "usage.csv"
        with usage.open("w", newline="") as handle:
            w = csv.writer(handle)
            w.writerow(["event_id", "ts", "customer", "product", "model", "requests", "cost_usd"])
            for n, (key, (_, cost)) in enumerate(customers.items()):
                for i in range(30):
                    day = WINDOW_START + timedelta(days=i)
                    w.writerow([f"e{n}-{i}", f"{day}T12:00:00+00:00", key, "app", "gpt-4o", 10, cost])
        import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)

    return load


def open_home(bot: Bot) -> dict[str, Any]:
    seen = len(bot.slack.calls_to("views.publish"))
    event = {"token": "t", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev1",
             "event": {"type": "app_home_opened", "user": ALLOWED_USER, "tab": "home"}, "event_time": 1}  # fmt: skip
    bot.dispatch(json.dumps(event), "application/json")
    return view_of(bot.slack.wait_for(lambda c: c.method == "views.publish", count=seen + 1)[seen])


def open_whatif(bot: Bot, home_view: dict[str, Any], key: str) -> dict[str, Any]:
    """Click What-if on `key`'s Home row; the modal it opens."""
    for block in home_view["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["action_id"] == WHATIF and element["value"] == f"customer:{esc(key)}":
                click = {**element, "block_id": block["block_id"]}
                return view_of(bot.click(ALLOWED_USER, click, "views.open", home=True))
    raise AssertionError(f"no What-if button for {key}")


def submit(bot: Bot, view: dict[str, Any], values: dict[str, str]) -> tuple[BoltResponse, dict[str, Any]]:
    """Run the modal with `values` typed in; the reply to the submission and its JSON body."""
    state = {block: {"value": {"type": "plain_text_input", "value": v}} for block, v in values.items()}
    payload = {"type": "view_submission", "team": {"id": "T1"}, "user": {"id": ALLOWED_USER, "team_id": "T1"},
               "api_app_id": "A1", "token": "t", "trigger_id": "1.2.sub",
               "view": {**view, "id": "VMODAL", "state": {"values": state}, "hash": "1.abc"}}  # fmt: skip
    reply = bot.dispatch(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
    assert reply.status == 200
    return reply, json.loads(reply.body) if reply.body else {}


def result_of(bot: Bot) -> dict[str, Any]:
    """The view the worker put in the modal once the what-if ran (Bolt runs the listener on after its ack)."""
    return view_of(bot.slack.wait_for(lambda c: c.method == "views.update")[-1])


def modal_for(customer: str, name: str, at: datetime, period: str = "") -> dict[str, Any]:
    form = WhatIfForm(customer=customer, name=name, at=at, values={"period": period}, channel="COTHER")
    return whatif_modal(form)


# 1. Home: what really lists the rest.


def test_home_says_what_lists_the_rest_of_a_list_it_cuts_short(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Ten customers in breach (30%): the Home tab lists eight.
    bot = make_bot(settings, slack, tmp_path, book_of({f"c{i:02d}": (f"C{i:02d} Inc", "7.00") for i in range(10)}))
    view = open_home(bot)
    assert_valid_home(view)
    shown = all_text(view["blocks"])
    # `/margin portfolio` itself stops at 15 rows: it does not list them all.
    assert "`/margin portfolio` lists them all" not in shown
    assert more_line(2) in shown


def test_home_points_a_cut_product_list_at_what_lists_products(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Seven products in breach (30%), one customer: Home lists five. `/margin worst 25` ranks customers only.
    def load(rt: Runtime, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        products = [f"p{i}" for i in range(7)]
        import_contracts_file(rt.engine, write_contracts(folder / "c.csv", [("acme", "Acme", p) for p in products]))
        usage = folder / "usage.csv"
        with usage.open("w", newline="") as handle:
            w = csv.writer(handle)
            w.writerow(["event_id", "ts", "customer", "product", "model", "requests", "cost_usd"])
            for p in products:
                for i in range(30):
                    day = WINDOW_START + timedelta(days=i)
                    w.writerow([f"{p}-{i}", f"{day}T12:00:00+00:00", "acme", p, "gpt-4o", 10, "7.00"])
        import_usage_file(rt.engine, usage, prices=rt.prices, timezone=rt.settings.timezone)

    bot = make_bot(settings, slack, tmp_path, load)
    shown = all_text(open_home(bot)["blocks"])
    assert "_and 2 more (`/margin product NAME` answers for one; `marginbot portfolio` lists all)_" in shown
    assert "worst 25" not in shown


# 5. Home: a headline with nothing to compare says so.


def test_home_headline_without_an_earlier_margin_says_there_is_nothing_to_compare(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, book_of({"acme": ("Acme Corp", "7.00")}))
    headline = next(line for line in all_text(open_home(bot)["blocks"]).splitlines() if "blended" in line)
    assert headline.endswith("blended gross margin *30.0%* · no margin in the period before to compare with")
    assert "n/a" not in headline and "  b" not in headline.split("blended")[1]


def test_home_month_to_date_without_an_earlier_margin_says_there_is_nothing_to_compare(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # Usage starts on Oct 16: November's first 14 days have nothing in October's first 14 to compare with.
    bot = make_bot(settings, slack, tmp_path, book_of({"acme": ("Acme Corp", "7.00")}))
    month = next(line for line in all_text(open_home(bot)["blocks"]).splitlines() if "month to date" in line)
    assert "(no margin in the same days of the month before to compare with)" in month
    assert "n/a" not in month


def test_home_headline_with_an_earlier_margin_still_shows_the_change(book: Runtime) -> None:
    headline = next(line for line in all_text(home(book)["blocks"]).splitlines() if "blended" in line)
    assert " against the " in headline and " of the period before" in headline and "n/a" not in headline


# 6. Home: contracts left out of revenue, as `/margin portfolio` says it.


def test_home_warns_of_contracts_left_out_of_revenue_as_the_portfolio_does(book: Runtime) -> None:
    with book.engine.begin() as conn:
        conn.execute(text("UPDATE contract SET platform_fee_usd = 'NaN' WHERE customer = 'globex'"))
        bump_generation(conn)  # a hand edit: say the data changed, as an import does

    def warning(blocks: list[dict[str, Any]]) -> list[str]:
        return [b["text"]["text"] for b in blocks if "left out:" in b.get("text", {}).get("text", "")]

    [portfolio] = warning(answer(book, "/margin portfolio").blocks)
    view = home(book)
    assert_valid_home(view)
    assert warning(view["blocks"]) == [portfolio]
    assert "revenue is understated" in portfolio


# 4. What-if from Home: titled by the customer's name.


def test_whatif_opened_from_home_names_the_customer(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> None:
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    modal = open_whatif(bot, open_home(bot), "acme")
    assert "What if, for *Acme Corp* (`acme`)" in all_text(modal["blocks"])


# 2. What-if: what the run cannot do is said beside its field, before the modal is answered.


@pytest.fixture
def acme_whatif(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> tuple[Any, dict[str, Any]]:
    """A bot on the dataset, and Acme's What-if modal opened from its Home tab."""
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    return bot, open_whatif(bot, open_home(bot), "acme")


def test_whatif_conflicting_periods_and_an_unpriced_route_target_are_errors_beside_their_fields(
    acme_whatif: tuple[Any, dict[str, Any]], slack: SlackStandIn
) -> None:
    bot, modal = acme_whatif
    _, body = submit(bot, modal, {"cache": "30 7d", "period": "30d"})
    assert body["response_action"] == "errors"
    assert body["errors"] == {"cache": "7d is a period, and 30d is given too: give one, in Period"}
    _, body = submit(bot, modal, {"route": "gpt-4o->nosuchmodel 50"})
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"route"} and "no price for model 'nosuchmodel'" in body["errors"]["route"]
    # A route given in another lever's field is pointed at where it was typed.
    _, body = submit(bot, modal, {"cache": "30 route gpt-4o->nosuchmodel"})
    assert set(body["errors"]) == {"cache"}
    assert slack.calls_to("views.update") == []  # nothing ran


def test_whatif_period_is_checked_in_the_configured_time_zone(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    # 03:00 UTC on Nov 2 is still Nov 1 in Los Angeles: November has no complete day there yet (in UTC it has one).
    bot = make_bot(settings.model_copy(update={"timezone": "America/Los_Angeles"}), slack, tmp_path, load_dataset)
    at = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)
    _, body = submit(bot, modal_for("acme", "Acme Corp", at), {"cache": "30", "period": "2026-11"})
    assert body["response_action"] == "errors"
    assert "no complete day" in body["errors"]["period"]
    _, body = submit(bot, modal_for("acme", "Acme Corp", at), {"cache": "30", "period": "2026-10"})
    assert body["response_action"] == "update"


def test_a_whatif_that_fails_when_it_runs_shows_one_line_not_the_help(acme_whatif: tuple[Any, dict[str, Any]]) -> None:
    bot, modal = acme_whatif
    # Priced, so it passes the checks; but Acme has no usage of that model to move.
    _, body = submit(bot, modal, {"route": "gpt-4o-mini->gpt-4o 50", "period": "2026-10"})
    assert body["response_action"] == "update"
    shown = result_of(bot)
    lines = all_text(shown["blocks"]).splitlines()
    assert "Ask marginbot" not in lines and not any("`/margin" in line for line in lines)
    [warning] = [line for line in lines if line.startswith(":warning:")]
    assert "has no usage of 'gpt-4o-mini'" in warning
    assert [b["block_id"] for b in shown["blocks"] if b["type"] == "input"] == [
        "route", "cache", "price", "usage", "period",
    ]  # fmt: skip
    assert shown["submit"]["text"] == "Run"  # still a form to fix and run again


# 3. What-if private_metadata: long non-ASCII keys and names, and a submission that cannot be read.


def test_whatif_for_a_long_non_ascii_customer_carries_its_key_and_runs(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, book_of({KANJI_KEY: (KANJI_NAME, "7.00")}))
    modal = open_whatif(bot, open_home(bot), KANJI_KEY)
    assert len(modal["private_metadata"]) <= MAX_METADATA
    assert json.loads(modal["private_metadata"])["c"] == KANJI_KEY
    _, body = submit(bot, modal, {"cache": "30"})
    assert body["response_action"] == "update"
    shown = all_text(result_of(bot)["blocks"])
    assert f"What if, for *{KANJI_NAME}* (`{KANJI_KEY}`)" in shown and "COGS saving +$63.00 a month" in shown


def test_a_name_too_long_to_carry_is_read_again_on_submit(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    modal = modal_for("acme", '"' * 3000, datetime(2026, 11, 15, 12, tzinfo=UTC))
    assert json.loads(modal["private_metadata"])["n"] == ""  # left out, not cut mid-JSON
    _, body = submit(bot, modal, {"cache": "30", "period": "2026-10"})
    assert "What if, for *Acme Corp* (`acme`)" in all_text(body["view"]["blocks"])


def test_a_key_too_long_to_carry_says_so_when_the_modal_opens() -> None:
    modal = modal_for("\x01" * 600, "Control Co", datetime(2026, 11, 15, 12, tzinfo=UTC))
    assert "submit" not in modal and "private_metadata" in modal
    assert "too long" in all_text(modal["blocks"])


def test_an_unreadable_whatif_submission_says_so_instead_of_closing_the_modal(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    bot = make_bot(settings, slack, tmp_path, load_dataset)
    modal = {**modal_for("acme", "Acme Corp", datetime(2026, 11, 15, 12, tzinfo=UTC)), "private_metadata": '{"c":"ac'}
    _, body = submit(bot, modal, {"cache": "30"})
    assert body["response_action"] == "update"
    assert all_text(body["view"]["blocks"]) == f":warning: {esc(UNREADABLE)}"


@pytest.mark.parametrize("key", ["portfolio", "cache", "2026-10"])
def test_whatif_for_a_customer_whose_key_is_a_word_of_the_grammar_runs_on_that_customer(
    settings: Settings, slack: SlackStandIn, tmp_path: Path, key: str
) -> None:
    # The modal knows its customer: read back as words, `portfolio` was the whole book, `cache` a lever and
    # `2026-10` a period, so the what-if ran on the wrong subject or refused every lever.
    bot = make_bot(settings, slack, tmp_path, book_of({key: ("Wordy Inc", "7.00"), "other": ("Other Co", "1.00")}))
    modal = open_whatif(bot, open_home(bot), key)
    _, body = submit(bot, modal, {"cache": "30"})
    assert body["response_action"] == "update"  # not errors beside the fields
    shown = all_text(result_of(bot)["blocks"])
    assert f"What if, for *Wordy Inc* (`{key}`)" in shown and "COGS saving +$63.00 a month" in shown
