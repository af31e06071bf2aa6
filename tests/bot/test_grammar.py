from __future__ import annotations

import pytest

from bot.grammar import DEFAULT_N, MAX_N, MAX_TEXT, Command, parse


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("acme", Command("customer", subject="acme")),
        ("/margin acme", Command("customer", subject="acme")),
        ("acme corp 2026-10", Command("customer", subject="acme corp", period="2026-10")),
        ("Acme Corp 7d", Command("customer", subject="Acme Corp", period="7d")),
        ("product agent", Command("product", subject="agent")),
        ("PRODUCT agent 30d", Command("product", subject="agent", period="30d")),
        ("top", Command("top", n=DEFAULT_N)),
        ("top 10", Command("top", n=10)),
        ("top 3 2026-10", Command("top", n=3, period="2026-10")),
        ("worst 2026-10", Command("worst", period="2026-10")),
        ("top ٣", Command("top", n=3)),  # a decimal digit of another script is still a digit
        ("portfolio", Command("portfolio")),
        ("portfolio 2026-09", Command("portfolio", period="2026-09")),
        ("help", Command("help")),
        ("", Command("help")),
        ("   ", Command("help")),
        ("whatif acme route gpt-4o->gpt-4o-mini 50", Command("whatif", words=("acme", "route", "gpt-4o->gpt-4o-mini", "50"))),
        ("forecast acme growth 2", Command("forecast", words=("acme", "growth", "2"))),
        ("floor Acme --target 60", Command("floor", words=("Acme", "--target", "60"))),
    ],
)  # fmt: skip
def test_every_form_parses_to_its_command(text: str, expected: Command) -> None:
    assert parse(text) == expected


def test_share_anywhere_asks_for_the_channel_and_is_not_part_of_the_name() -> None:
    assert parse("share acme corp 2026-10") == Command("customer", subject="acme corp", period="2026-10", share=True)
    assert parse("acme SHARE") == Command("customer", subject="acme", share=True)
    assert parse("portfolio share") == Command("portfolio", share=True)
    assert parse("whatif acme cache 30 share").words == ("acme", "cache", "30")


@pytest.mark.parametrize(
    ("text", "problem_mentions"),
    [
        ("top ten", "top"),
        ("worst 5 6", "worst"),
        (f"top {MAX_N + 1}", f"between 1 and {MAX_N}"),
        ("top 0", "between 1"),
        # Digits to str.isdigit, not to int(): superscripts, circled numbers.
        ("top ²", "`top` takes a number"),
        ("worst ①", "`worst` takes a number"),
        ("top 1²", "`top` takes a number"),
        ("portfolio acme", "portfolio"),
        ("product", "which product"),
        ("product 2026-10", "which product"),
        ("2026-10", "which customer"),
        ("whatif", "whatif"),
        ("x" * (MAX_TEXT + 1), "at most"),
    ],
)
def test_malformed_input_becomes_the_help_with_what_was_wrong(text: str, problem_mentions: str) -> None:
    cmd = parse(text)
    assert cmd.kind == "help"
    assert cmd.problem is not None and problem_mentions in cmd.problem


def test_control_characters_are_not_kept_in_a_name() -> None:
    assert parse("acme\x00\x1b[31m corp").subject == "acme [31m corp"


def test_injection_shaped_words_are_just_a_name() -> None:
    cmd = parse("acme'; DROP TABLE customer; --")
    assert cmd == Command("customer", subject="acme'; DROP TABLE customer; --")
