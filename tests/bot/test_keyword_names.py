"""Customers whose name starts with a form's word ("Top Gun", "Why Labs", "Portfolio Inc", "Help Scout") are reached
by their whole name in Slack, as on the CLI: when the form's reading fails, or always when quoted."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from bot.answer import answer_command
from bot.command import Command
from bot.grammar import parse
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text
from tests.conftest import NOW

NAMES = {"topgun": "Top Gun", "whylabs": "Why Labs", "portfolioinc": "Portfolio Inc", "helpscout": "Help Scout",
         "top5": "Top 5", "fairfoods": "Fair Foods", "fairsharefoods": "Fair Share Foods", "shareinc": "Share Inc",
         "whysharelabs": "Why Share Labs", "helpsharescout": "Help Share Scout",
         "topsharepartners": "Top Share Partners"}  # fmt: skip


@pytest.fixture
def named(runtime: Runtime, tmp_path: Path) -> Runtime:
    contracts, usage = tmp_path / "contracts.csv", tmp_path / "usage.csv"
    with contracts.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["customer", "customer_name", "plan", "start", "platform_fee_usd"])
        out.writerows([key, name, "flat", "2026-01-01", "1000"] for key, name in NAMES.items())
    with usage.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["event_id", "ts", "customer", "product", "provider", "model", "input_tokens", "cost_usd"])
        out.writerows(
            [f"{key}-1", "2026-10-05T12:00:00Z", key, "assist", "openai", "gpt-4o", "1000", str(100 + i)]
            for i, key in enumerate(NAMES)
        )
    import_contracts_file(runtime.engine, contracts)
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone=runtime.settings.timezone)
    return runtime


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("Top Gun 2026-10", "topgun"),  # `top` takes a number: "Gun" is not one
        ("why labs 2026-10", "whylabs"),  # `why Labs`: no customer Labs
        ("Portfolio Inc 2026-10", "portfolioinc"),  # `portfolio` takes only a period
        ("Help Scout 2026-10", "helpscout"),
        ('"Top 5" 2026-10', "top5"),  # `top 5` is a ranking: only quotes say otherwise
        ("“Top 5” 2026-10 share", "top5"),  # a phone's quotes
    ],
)
def test_a_customer_named_like_a_form_is_answered_by_its_whole_name(named: Runtime, question: str, key: str) -> None:
    cmd = parse(f"/margin {question}")
    outcome = answer_command(named, cmd, now=NOW)
    assert outcome.ok, all_text(outcome.answer.blocks)
    assert outcome.command is not None
    assert (outcome.command.kind, outcome.command.period) == ("customer", "2026-10")
    assert f"{NAMES[key]}" in all_text(outcome.answer.blocks)
    assert outcome.command.share == question.endswith("share")


def test_the_forms_keep_their_words_when_they_fit(named: Runtime) -> None:
    # `top 5` ranks customers (the customer "Top 5" needs its quotes); `portfolio 2026-10` is the portfolio.
    assert answer_command(named, parse("top 5 2026-10"), now=NOW).command == parse("top 5 2026-10")
    assert answer_command(named, parse("portfolio 2026-10"), now=NOW).command == parse("portfolio 2026-10")


def test_words_naming_nothing_either_way_get_the_forms_own_refusal(named: Runtime) -> None:
    outcome = answer_command(named, parse("top ten"), now=NOW)
    assert not outcome.ok
    assert "`top` takes a number and a period" in all_text(outcome.answer.blocks)
    outcome = answer_command(named, parse("why labz"), now=NOW)
    assert not outcome.ok
    assert "No customer “labz”" in all_text(outcome.answer.blocks)
    assert "Why Labs" in all_text(outcome.answer.blocks)  # the suggestion, which now answers when typed


@pytest.mark.parametrize(
    ("question", "problem"),
    [
        ('"Top Gun', "the name has no closing quote"),
        ('"Top Gun" acme', "a quoted customer takes only a period"),
        ('"" 2026-10', "a quoted customer takes only a period"),
    ],
)
def test_a_quoted_name_that_does_not_close_or_is_followed_by_words_is_explained(question: str, problem: str) -> None:
    cmd = parse(question)
    assert cmd.kind == "help" and cmd.problem is not None and cmd.problem.startswith(problem)
    assert cmd.fallback is None


def test_share_outside_the_quotes_shares_and_inside_them_is_the_name() -> None:
    assert parse('"Share Co" share') == Command("customer", subject="Share Co", share=True)


def test_share_before_a_quoted_name_shares_it() -> None:
    assert parse('share "Top 5" 2026-10') == Command("customer", subject="Top 5", period="2026-10", share=True)
    assert parse("SHARE share “Top 5”") == Command("customer", subject="Top 5", share=True)


def test_help_with_other_words_is_the_plain_help_unless_they_name_a_customer(named: Runtime) -> None:
    outcome = answer_command(named, parse("help me"), now=NOW)
    assert outcome.ok and outcome.command is not None and outcome.command.kind == "help"
    assert ":warning:" not in all_text(outcome.answer.blocks)


@pytest.mark.parametrize(
    ("question", "key", "shared"),
    [
        ("Fair Share Foods 2026-10", "fairsharefoods", False),  # not Fair Foods, posted in the channel
        ("fair share foods 2026-10 share", "fairsharefoods", True),  # the name, then the request
        ("Fair Foods 2026-10 share", "fairfoods", True),
        ("share Fair Foods 2026-10", "fairfoods", True),
        ("Share Inc 2026-10", "shareinc", False),  # was: no customer "Inc"
        ("Share Inc 2026-10 share", "shareinc", True),  # the name's own Share kept, the request taken
        ("share Share Inc 2026-10", "shareinc", True),
    ],
)
def test_a_name_holding_the_word_share_is_that_customer_and_is_not_shared(
    named: Runtime, question: str, key: str, shared: bool
) -> None:
    outcome = answer_command(named, parse(f"/margin {question}"), now=NOW)
    assert outcome.ok, all_text(outcome.answer.blocks)
    assert outcome.command is not None
    assert (outcome.command.kind, outcome.command.period, outcome.command.share) == ("customer", "2026-10", shared)
    text = all_text(outcome.answer.blocks)
    assert NAMES[key] in text
    others = {k: n for k, n in NAMES.items() if k != key and n not in NAMES[key]}
    assert not any(f"*{n}*" in text for n in others.values())  # no other customer's answer


@pytest.mark.parametrize(
    ("question", "shared"),
    [("why Fair Share Foods 2026-10", False), ("why fair share foods 2026-10 share", True),
     ("share why Fair Share Foods 2026-10", True)],
)  # fmt: skip
def test_a_form_naming_a_customer_with_share_in_its_name_is_about_that_customer(
    named: Runtime, question: str, shared: bool
) -> None:
    # `why Fair Share Foods` was the why of Fair Foods, posted in the channel.
    command, text = answered(named, question)
    assert (command.kind, command.share) == ("why", shared)
    assert "Fair Share Foods" in text and "Fair Foods" not in text.replace("Fair Share Foods", "")


@pytest.mark.parametrize(
    ("question", "key"),
    [("Why Share Labs 2026-10", "whysharelabs"),  # beside Why Labs: was Why Labs, posted in the channel
     ("Help Share Scout 2026-10", "helpsharescout"),  # beside Help Scout: likewise
     ("Top Share Partners 2026-10", "topsharepartners")],  # was "`top` takes a number"
)  # fmt: skip
def test_a_name_starting_with_a_keyword_and_holding_share_is_that_customer_privately(
    named: Runtime, question: str, key: str
) -> None:
    command, _ = answered(named, question)
    assert (command.kind, command.subject, command.share) == ("customer", NAMES[key], False)


def test_a_share_after_a_what_ifs_levers_asks_to_post_even_where_the_lever_would_take_a_word(named: Runtime) -> None:
    # `incl 50000` takes a word after it ("incl 50000 requests"): the reading keeping `share` there parsed, and the
    # answer stayed private.
    command, _ = answered(named, "whatif fairfoods price hybrid 2000+0.02/request incl 50000 share")
    assert (command.kind, command.share) == ("whatif", True)
    # ... and the subject keeps its own `share` while the one after the levers asks to post: not Fair Foods.
    command, text = answered(named, "whatif Fair Share Foods cache 30 share")
    assert (command.kind, command.share) == ("whatif", True) and "Fair Share Foods" in text


def answered(rt: Runtime, question: str) -> tuple[Command, str]:
    """`/margin QUESTION` answered: the question it was answered as, and the answer's text."""
    outcome = answer_command(rt, parse(f"/margin {question}"), now=NOW)
    assert outcome.ok and outcome.command is not None, all_text(outcome.answer.blocks)
    return outcome.command, all_text(outcome.answer.blocks)
