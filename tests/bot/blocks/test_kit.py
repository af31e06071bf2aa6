"""The Block Kit primitives' text rules: a name is shown as written, and clipping never cuts an escape in half."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.answer import answer
from bot.blocks.kit import ELLIPSIS, FORMATTING, LITERAL_RE, clip, code, esc, esc_name, literal, unbold, unesc
from bot.render.terminal import mrkdwn, render
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_message
from tests.bot.blockkit import mrkdwn as mrkdwn_texts

NAME = "a*b & c*d"
NAMES = [NAME, "Acme *Pro*", "_beta_ labs", "~tilde~ & co", "back`tick`s", "<!channel> & *co*"]


def _bare(text: str) -> str:
    """What Slack could read as markup in `text`: the literal characters' tokens taken out."""
    return LITERAL_RE.sub("", text)


@pytest.mark.parametrize("name", NAMES)
def test_a_name_holds_no_formatting_character_slack_could_pair_and_reads_back_as_written(name: str) -> None:
    # "*a*b & c*d*" could close the bold after "a" and open another at "c*": a name's `*`, `_`, `~` and backticks
    # went out as written, where Slack has no escape for them.
    shown = esc_name(name)
    assert not any(c in _bare(shown) for c in FORMATTING) and "<" not in _bare(shown).replace("&lt;", "")
    assert unesc(shown) == name
    assert mrkdwn(f"*{shown}* revenue") == f"{name} revenue"  # a terminal shows the bold name as written
    assert unesc(unbold(f"*{shown}*")) == name
    assert esc(name) == name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # our own text: as was


def test_code_keeps_a_backtick_in_a_key_from_ending_the_code() -> None:
    # Inside code only a backtick formats (it ends the code); `_` and `*` are shown as written there.
    assert code("ac`me_x") == "`ac`" + literal("`") + "`me_x`"
    assert mrkdwn(code("ac`me_x")) == "ac`me_x" and code("a&b") == "`a&amp;b`"
    # A backtick at either end, or two together, leave no empty code, which Slack shows as two backticks.
    assert code("acme`") == "`acme`" + literal("`") and code("`a") == literal("`") + "`a`"
    assert code("a``b") == "`a`" + literal("`") * 2 + "`b`"
    assert all(mrkdwn(code(key)) == key for key in ("acme`", "`a", "a``b", "`"))


@pytest.mark.parametrize("text", [esc_name(NAME) * 3, esc("AT&T <x> " * 5), "see <@U123> and <https://x.y|docs> " * 3])
def test_clip_never_cuts_an_entity_or_a_token_in_half(text: str) -> None:
    # "AT&amp;T" clipped at 4 was "AT&…", and at 6 "AT&am…", which Slack shows as written.
    entity = re.compile(r"&(?:amp|lt|gt);")
    for limit in range(1, len(text) + 2):
        clipped = clip(text, limit)
        assert len(clipped) <= limit
        kept = clipped.removesuffix(ELLIPSIS)
        assert text.startswith(kept)
        rest = entity.sub("", re.sub(r"<[^<>]*>", "", kept))
        assert "&" not in rest and "<" not in rest, (limit, clipped)


def test_a_customer_named_with_formatting_characters_is_bold_as_a_whole(runtime: Runtime, tmp_path: Path) -> None:
    book = tmp_path / "contracts.csv"
    book.write_text(f'customer,customer_name,plan,start,platform_fee_usd\nodd,"{NAME}",flat,2026-01-01,1000\n')
    import_contracts_file(runtime.engine, book)
    said = answer(runtime, "/margin top 5", now=runtime.now())
    assert_valid_message(said.text, said.blocks)
    assert f"*{esc_name(NAME)}*" in all_text(said.blocks)
    assert "*a*b" not in all_text(said.blocks)
    assert NAME in render(said.blocks)


def test_a_why_and_a_lever_show_names_with_formatting_characters_as_written(runtime: Runtime, tmp_path: Path) -> None:
    # The why's subject and contributors, and the report's lever and movers, went out with `esc` alone: "Acme *Pro*"
    # bolded "Pro" there.
    book = tmp_path / "contracts.csv"
    book.write_text('customer,customer_name,plan,start,platform_fee_usd\nodd,"Acme *Pro*",flat,2026-01-01,1000\n')
    import_contracts_file(runtime.engine, book)
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,feature,provider,model,cost_usd\n"
        "e1,2026-09-10T12:00:00Z,odd,chat,ask_now,openai,my*model,10\n"
        "e2,2026-10-10T12:00:00Z,odd,chat,ask_now,openai,my*model,30\n"
    )
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone=runtime.settings.timezone)
    for question in ("/margin why odd 2026-10", "/margin odd 2026-10"):
        said = answer(runtime, question, now=runtime.now())
        assert_valid_message(said.text, said.blocks)
        shown = "\n".join(mrkdwn_texts(said.blocks))  # the header, plain text, shows its text as written
        bare = re.sub(r"`[^`]*`", "", shown)  # inside code, `*` and `_` are shown as written
        assert "Acme *Pro*" not in bare and "my*model" not in bare and "ask_now" not in bare, question
        assert "my*model on ask_now" in mrkdwn(shown), question
