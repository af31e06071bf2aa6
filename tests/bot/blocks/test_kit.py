"""The Block Kit primitives' text rules: a name is shown as written, and clipping never cuts an escape in half."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.answer import answer
from bot.blocks.alerts import alert_message
from bot.blocks.kit import (
    ELLIPSIS,
    FORMATTING,
    LITERAL_RE,
    clip,
    code,
    esc,
    esc_name,
    esc_text,
    literal,
    unbold,
    unesc,
)
from bot.render.terminal import mrkdwn, render
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.runtime import Runtime
from tests.bot.blockkit import all_text, assert_valid_message, plain
from tests.bot.blockkit import mrkdwn as mrkdwn_texts
from tests.bot.blocks.test_alerts import event, payload

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


def _outside_code(text: str) -> str:
    """What Slack reads as markup in mrkdwn: code spans and literal characters taken out."""
    return re.sub(r"`[^`]*`", "", _bare(text))


def test_an_engine_sentence_shows_every_name_in_it_as_written_and_keeps_its_own_code() -> None:
    # An assumption or a note went out through `esc` alone: "Acme *Pro*'s usage" bolded "Pro", whichever name it was.
    sentence = "history: 90 days of Acme *Pro*'s usage on my_model ~beta~; see `marginbot reprice --since x_y`"
    shown = esc_text(sentence)
    assert not any(c in _outside_code(shown) for c in "*~") and "`marginbot reprice --since x_y`" in shown
    assert mrkdwn(shown) == sentence.replace("`", "")  # as the engine worded it (a terminal shows code as text)
    # An underscore inside a word formats nothing in Slack, and stays as written (DATABASE_URL, unit_costs).
    assert (
        esc_text("export DATABASE_URL=x; unit_costs.cache_lookup") == "export DATABASE_URL=x; unit_costs.cache_lookup"
    )
    assert esc_text("_beta_ labs") == literal("_") + "beta" + literal("_") + " labs"
    # A backtick of a name the builder knows is shown as written, and the engine's code around it stays code.
    said = esc_text("back`tick's usage; run `marginbot sync`", ["back`tick"])
    assert said == "back" + literal("`") + "tick's usage; run `marginbot sync`"
    assert mrkdwn(said) == "back`tick's usage; run marginbot sync"


@pytest.mark.parametrize(
    "text",
    [
        "*Acme Corp has a rather long name* and a tail",
        ":warning: *After adds $1,234.00 of COGS*: see `marginbot reprice` and *more bold* after",
        "```\nmonth  margin\n2026-11  41.0%\n```",
        f"*{esc_name('Acme *Pro*')} & co* and `key`",
    ],
)
def test_clip_closes_the_bold_or_the_code_it_cuts_through(text: str) -> None:
    # "*Acme Corp has a…" left its `*` unmatched: Slack showed it as written, and a later `*` could open a bold there.
    for limit in range(1, len(text) + 2):
        clipped = clip(text, limit, mrkdwn=True)
        assert len(clipped) <= limit, (limit, clipped)
        kept, _, closing = clipped.partition(ELLIPSIS)
        assert text.startswith(kept) and set(closing) <= {"*", "`"}, (limit, clipped)
        bare = re.sub(r"```.*?(```|$)", "", _bare(clipped), flags=re.S)
        bare = re.sub(r"`[^`]*`", "", bare)
        assert "`" not in bare and bare.count("*") % 2 == 0, (limit, clipped)
    # Plain text has no markers: a header's `*` is the name's own, and nothing is added after the ellipsis.
    assert clip("*Acme Corp has a long name*", 10) == "*Acme Cor" + ELLIPSIS


def _odd(runtime: Runtime, tmp_path: Path) -> None:
    book = tmp_path / "contracts.csv"
    book.write_text(
        "customer,customer_name,product,plan,start,end,seats,seat_price_usd,unit,unit_price_usd\n"
        'odd,"Acme *Pro*",chat,usage,2026-01-01,2026-12-31,,,request,0.01\n'
        'odd,"Acme *Pro*",chat,usage,2027-01-01,,,,request,0.02\n'
    )
    import_contracts_file(runtime.engine, book)
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,feature,provider,model,cost_usd\n"
        + "".join(
            f"e{i},2026-{m:02d}-{d:02d}T12:00:00Z,odd,chat,ask_now,openai,my*model,{i % 7 + 1}\n"
            for i, (m, d) in enumerate((m, d) for m in range(8, 11) for d in range(1, 29))
        )
    )
    import_usage_file(runtime.engine, usage, prices=runtime.prices, timezone=runtime.settings.timezone)


@pytest.mark.parametrize("question", ["/margin forecast odd", "/margin floor odd", "/margin whatif odd usage 2"])
def test_a_scenarios_sentences_and_notification_show_a_name_with_formatting_characters_as_written(
    runtime: Runtime, tmp_path: Path, question: str
) -> None:
    # The assumptions, the terms, a contract change and the notification text went out with `esc` alone:
    # "Acme *Pro*'s usage" bolded "Pro" there.
    _odd(runtime, tmp_path)
    said = answer(runtime, question, now=runtime.now())
    assert_valid_message(said.text, said.blocks)
    shown = [said.text, *mrkdwn_texts(said.blocks)]
    assert "Acme *Pro*" in mrkdwn(said.text), question
    if "whatif" not in question:  # a what-if's assumptions name no customer
        assert any("Acme *Pro*'s" in mrkdwn(t) for t in shown[1:]), question
    assert not any("*Pro" in _outside_code(t) or "my*model" in _outside_code(t) for t in shown), question
    assert any("Acme *Pro*" in t for t in plain(said.blocks)), question  # the header, plain text, as written


def test_an_alerts_notification_text_and_cause_show_names_as_written() -> None:
    # The notification text and the biggest cost driver went out with `esc`: "Acme *Pro*" bolded "Pro" there.
    e = event("breach", 1, name="Acme *Pro*", driver="my*model on ask_now tripled (×3.1)", lever=None)
    message = alert_message(payload([e]))
    assert_valid_message(message["text"], message["blocks"])
    for text in [message["text"], *mrkdwn_texts(message["blocks"])]:
        assert "*Pro" not in _outside_code(text) and "my*model" not in _outside_code(text), text
    assert "Acme *Pro*" in mrkdwn(message["text"])
    assert "my*model on ask_now" in mrkdwn("\n".join(mrkdwn_texts(message["blocks"])))
