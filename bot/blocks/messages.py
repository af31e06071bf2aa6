"""Short messages: the help, the access refusal, an unknown name, and the one-line error."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from bot.answer_types import Answer
from bot.blocks.kit import MAX_MESSAGE_BLOCKS, clip, code, context, esc, esc_name, esc_text, header, section
from bot.command import PERIOD_HELP, QUOTE_HELP, SHARE_HELP
from engine.scrub import scrub

# Echoed user input is clipped: an unknown 300-character "name" helps nobody and bloats the reply.
ECHO_MAX = 80


class HelpLine(Protocol):
    """What the help shows of a form (bot.forms.Form has these)."""

    @property
    def usage(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def example(self) -> str: ...


def help_message(problem: str | None, forms: Sequence[HelpLine]) -> Answer:
    """Every `/margin` form with an example; `problem` (plain text, may quote the user) says why."""
    lines = [f"`{f.usage}`  {f.summary}, e.g. `{f.example}`" for f in forms]
    blocks = [header("Ask marginbot")]
    if problem:
        blocks.append(section(f":warning: {esc_text(problem)}"))
    blocks += [section("\n".join(lines)), context(PERIOD_HELP, SHARE_HELP, QUOTE_HELP)]
    text = (f"{problem}. " if problem else "") + "Forms: " + "; ".join(f.usage for f in forms)
    return Answer(esc_text(text), blocks)


def refusal_message(user_id: str) -> Answer:
    """Polite, and says nothing about any customer, product or figure."""
    text = (
        "Sorry, marginbot only shows margin figures to people on its access list. "
        f"Ask your marginbot admin to add your Slack member ID ({user_id}) to MARGINBOT_ALLOWED_USERS, "
        "or ask in a channel listed in MARGINBOT_ALLOWED_CHANNELS."
    )
    blocks = [
        section(
            ":lock: Sorry, marginbot only shows margin figures to people on its access list.\n"
            f"Ask your marginbot admin to add your Slack member ID {code(user_id)} to "
            "`MARGINBOT_ALLOWED_USERS`, "
            "or ask in a channel listed in `MARGINBOT_ALLOWED_CHANNELS`."
        )
    ]
    return Answer(esc(text), blocks)


def action_refusal(user_id: str, what: str) -> Answer:
    """A click on Acknowledge or Snooze by someone who may not change alerts; says who may."""
    text = (
        f"Sorry, only people on marginbot's access list (and the customer's owners) can {what.lower()} alerts. "
        f"Ask your marginbot admin to add your Slack member ID ({user_id}) to MARGINBOT_ALLOWED_USERS."
    )
    return Answer(esc(text), [section(f":lock: {esc(text)}")])


def already_acknowledged(user_id: str) -> Answer:
    who = f"<@{user_id}>" if user_id.isalnum() else esc_name(user_id)
    return Answer(
        esc_text(f"Already acknowledged by {user_id}", [user_id]),
        [section(f":white_check_mark: Already acknowledged by {who}")],
    )


def done_not_shown_yet(done: str) -> Answer:
    """An Acknowledge or Snooze that took effect, whose alert message Slack did not take the update of just then (it
    is tried again, or, when even that could not be queued, shown at the alert's next update): said, so nobody reads
    the unchanged message as the click having failed."""
    text = (
        f"{done}. The alert message could not be updated just now, so it may still show its buttons for a while "
        "(until Slack takes the update, or the alert's next one): no need to click again."
    )
    return Answer(esc_text(text), [section(f":white_check_mark: {esc_text(text)}")])


def error_message(line: str) -> Answer:
    """One friendly line (scrubbed of anything shaped like a credential); the traceback is in the log."""
    line = scrub(line)
    return Answer(esc_text(line), [section(f":warning: {esc_text(line)}")])


def unknown_subject_message(kind: str, ref: str, suggestions: list[str]) -> Answer:
    shown = clip(ref.strip(), ECHO_MAX)
    hint = f"; did you mean {_either(suggestions)}?" if suggestions else ""
    text = f"No {kind} “{shown}”{hint}"
    bold = f"; did you mean {_either([f'*{esc_name(s)}*' for s in suggestions])}?" if suggestions else ""
    where = (
        "`/margin portfolio` lists every customer and product"
        if kind == "customer"
        else ("`/margin portfolio` lists every product")
    )
    return Answer(
        esc_text(text, [shown, *suggestions]), [section(f":mag: No {kind} “{esc_name(shown)}”{bold}"), context(where)]
    )


def ambiguous_subject_message(kind: str, ref: str, fits: str, listed: list[tuple[str, str]], total: int) -> Answer:
    """Words that fit several customers: those `listed` (of `total`) by id and name, and to ask by id (none is
    guessed)."""
    shown = clip(ref.strip(), ECHO_MAX)
    more = f" and {total - len(listed)} more" if total > len(listed) else ""
    names = [(clip(cid, ECHO_MAX), clip(name, ECHO_MAX)) for cid, name in listed]
    said = f"is {fits} of {total} {kind}s"
    text = f"“{shown}” {said}: {', '.join(f'{c} ({n})' for c, n in names)}{more}; ask by id"
    bold = ", ".join(f"*{esc_name(c)}* ({esc_name(n)})" for c, n in names)
    return Answer(
        esc_text(text, [shown, *(n for pair in names for n in pair)]),
        [section(f":mag: “{esc_name(shown)}” {said}: {bold}{more}; ask by id")],
    )


def _either(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def with_notices(answer: Answer, notices: list[str]) -> Answer:
    """`answer` with one line per notice at its end (and in its notification text), within Slack's limits."""
    if not notices:
        return answer
    lines = [context(f":warning: {esc_text(n)}") for n in notices]
    blocks = answer.blocks[: MAX_MESSAGE_BLOCKS - len(lines)] + lines
    # replace(): the answer keeps everything else it carries (a board pack's workbook is in its files).
    return replace(answer, text=answer.text + "".join(f" ({esc_text(n)})" for n in notices), blocks=blocks)
