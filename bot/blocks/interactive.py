"""Builders for the interactive parts: Share to channel, the what-if modal, answers and refusals in modals.

Pure: data in, Block Kit out. The listeners in bot/slack/listeners/actions and views send what these make.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.answer_types import Answer
from bot.blocks.alerts import mention
from bot.blocks.kit import (
    MAX_MESSAGE_BLOCKS,
    MAX_VIEW_BLOCKS,
    Block,
    clip,
    code,
    context,
    divider,
    esc_name,
    fit,
    section,
)
from bot.command import PERIOD_HELP, Command

SHARE = "share_to_channel"  # the action id of the Share to channel button
WHATIF_VIEW = "whatif"  # the what-if modal's callback id
MAX_VALUE = 2000  # a button value's limit
MAX_METADATA = 3000  # a view's private_metadata limit
LEVER_INPUTS = (
    ("route", "Route", "gpt-4o->gpt-4o-mini 50", "FROM->TO [PCT] [feature F]: move a share of one model's traffic"),
    ("cache", "Cache", "30", "PCT [feature F]: serve that share of requests from a response cache"),
    ("price", "Price", "usage request 0.02", "PLAN TERMS: re-price on usage, hybrid, seat or flat terms"),
    ("usage", "Usage", "x2", "xN: N times today's usage"),
)
INPUT_ACTION = "value"  # every input's action id: values are read by block id


# ---------------------------------------------------------------- Share to channel


def share_value(cmd: Command, at: datetime, generation: int | None = None) -> str | None:
    """What the Share button carries: the question, read, the moment it was answered and the data generation it
    was read at, so the shared answer is the same figures over the same period, or refused when the data changed
    since (None when it would not fit in a button)."""
    d = {"k": cmd.kind, "s": cmd.subject, "p": cmd.period, "n": cmd.n, "w": list(cmd.words), "at": at.isoformat()}
    if generation is not None:
        d["g"] = generation
    value = json.dumps(d, separators=(",", ":"))
    return value if len(value) <= MAX_VALUE else None


def shared_command(value: str) -> tuple[Command, datetime, int | None] | None:
    """The question, moment and data generation a Share button carries (None if it is not one of ours; no
    generation on a button made before it carried one)."""
    try:
        d = json.loads(value)
        cmd = Command(
            kind=str(d["k"]),
            subject=str(d["s"]),
            period=d["p"] if d["p"] is None else str(d["p"]),
            n=int(d["n"]),
            words=tuple(str(w) for w in d["w"]),
            share=True,
        )
        generation = d.get("g")
        return cmd, datetime.fromisoformat(str(d["at"])), None if generation is None else int(generation)
    except (ValueError, KeyError, TypeError):
        return None


def with_share_button(answer: Answer, cmd: Command, at: datetime, generation: int | None = None) -> Answer:
    """An ephemeral answer with a Share to channel button under it (unless the question is too long to carry).
    `generation`: the data generation read before the answer was (Runtime.data_generation)."""
    value = share_value(cmd, at, generation)
    if value is None:
        return answer
    button = {
        "type": "actions",
        "block_id": "share",
        "elements": [
            {
                "type": "button",
                "action_id": SHARE,
                "text": {"type": "plain_text", "text": "Share to channel", "emoji": True},
                "value": value,
            }
        ],
    }
    return Answer(answer.text, [*fit(answer.blocks, MAX_MESSAGE_BLOCKS - 1), button])


def shared_answer(answer: Answer, user: str, at: datetime) -> Answer:
    """The answer as posted in the channel: who shared it, and as of when its figures are."""
    note = context(f"Shared by {mention(user)} · figures as of {at.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    return Answer(answer.text, [*fit(answer.blocks, MAX_MESSAGE_BLOCKS - 1), note])


# ---------------------------------------------------------------- modals


def _plain(text: str, limit: int = 150) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def modal(title: str, blocks: list[Block], *, callback_id: str = "marginbot", submit: str | None = None,
          metadata: str = "") -> dict[str, Any]:  # fmt: skip
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, 24),
        "close": _plain("Close", 24),
        "blocks": fit(blocks, MAX_VIEW_BLOCKS),
        "private_metadata": metadata,
    }
    if len(metadata) > MAX_METADATA:
        # Cut short, JSON no longer reads and the submission would be lost: callers make sure it fits.
        raise ValueError(f"private_metadata is {len(metadata):,} characters, more than Slack's {MAX_METADATA:,}")
    if submit:
        view["submit"] = _plain(submit, 24)
    return view


def answer_modal(answer: Answer, title: str = "marginbot") -> dict[str, Any]:
    """An answer in a modal: where Open shows it when it was clicked outside a channel (the Home tab)."""
    return modal(title, list(answer.blocks))


def notice_modal(answer: Answer) -> dict[str, Any]:
    """A refusal or a one-line error, in a modal (a click from the Home tab has no channel to answer in)."""
    return modal("marginbot", list(answer.blocks))


@dataclass(frozen=True, kw_only=True)
class WhatIfForm:
    """What the what-if modal is about and what was typed in it."""

    customer: str  # the customer key the levers apply to
    name: str
    at: datetime  # "now" for the period words: the alert's moment when opened from an alert
    values: dict[str, str]  # block id → text typed (route, cache, price, usage, period)
    channel: str | None = None  # where it was opened (the access list allows by channel too)

    def metadata(self) -> str:
        """What the submission needs back, as JSON within Slack's private_metadata limit. Letters stay as they are
        (a \\u escape makes one character six, and a long non-ASCII name went past the limit); the name is only a
        convenience, left empty when it does not fit (the listener reads it again from the customer table). A key
        is at most 200 characters, so the rest always fits."""
        meta = {"c": self.customer, "n": self.name, "at": self.at.isoformat(), "ch": self.channel}
        full = json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
        if len(full) <= MAX_METADATA:
            return full
        return json.dumps({**meta, "n": ""}, ensure_ascii=False, separators=(",", ":"))

    @staticmethod
    def from_view(view: dict[str, Any]) -> WhatIfForm | None:
        try:
            meta = json.loads(view.get("private_metadata") or "")
            state = view.get("state", {}).get("values", {})
            values = {
                block: str((fields.get(INPUT_ACTION) or {}).get("value") or "").strip()
                for block, fields in state.items()
            }
            return WhatIfForm(
                customer=str(meta["c"]),
                name=str(meta.get("n") or ""),  # empty when it did not fit: the listener reads it again
                at=datetime.fromisoformat(meta["at"]),
                values=values,
                channel=meta.get("ch") or None,
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def lever_words(self) -> list[str]:
        """The `/margin whatif` words these inputs say after the customer: each lever given, then the period. The
        customer is not among them: it is known, and a key read back as words would be parsed (`portfolio`, `cache`
        and `2026-10` are words of the grammar too)."""
        words: list[str] = []
        for lever, *_ in LEVER_INPUTS:
            text = self.values.get(lever, "")
            if text:
                words += [lever, *text.split()]
        if self.values.get("period"):
            words.append(self.values["period"])
        return words


def _input(block_id: str, label: str, placeholder: str, hint: str, value: str) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT_ACTION,
        "placeholder": _plain(placeholder),
    }
    if value:
        element["initial_value"] = value
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": _plain(label, 2000),
        "hint": _plain(hint, 2000),
        "element": element,
    }


def whatif_modal(form: WhatIfForm, *, result: list[Block] | None = None, note: str | None = None) -> dict[str, Any]:
    """The what-if modal for one customer: a lever per input, the period, and the result once it ran. A customer
    whose key cannot be carried in the modal gets a modal saying so, not a form whose Run would be lost."""
    metadata = form.metadata()
    if len(metadata) > MAX_METADATA:
        return modal(
            "What-if",
            [
                section(
                    f":warning: marginbot cannot open the what-if for {code(clip(form.customer, 200))} here: its key "
                    "is too long to carry in a Slack form. Ask `/margin whatif` with the customer's name instead."
                )
            ],
        )
    name = form.name or form.customer
    blocks: list[Block] = [
        section(f"What if, for *{esc_name(name)}* ({code(form.customer)}): give one lever or several, then Run."),
    ]
    if note:
        blocks.append(context(note))
    if result:
        blocks += [*fit(result, MAX_MESSAGE_BLOCKS), divider()]
    for block_id, label, placeholder, hint in LEVER_INPUTS:
        blocks.append(_input(block_id, label, placeholder, hint, form.values.get(block_id, "")))
    blocks.append(_input("period", "Period", "30d, 2026-10 or 2026-Q3", PERIOD_HELP, form.values.get("period", "")))
    return modal("What-if", blocks, callback_id=WHATIF_VIEW, submit="Run", metadata=metadata)
