"""Slack's Block Kit limits, checked the way Slack would refuse a message (no mocks: plain dict inspection)."""

from __future__ import annotations

import json
import re
from typing import Any

from bot.blocks.kit import LITERAL_RE

LIMITS = {"message_blocks": 50, "view_blocks": 100, "section_text": 3000, "field_text": 2000, "header_text": 150,
          "fields": 10, "context_elements": 10, "actions_elements": 25, "button_text": 75, "button_value": 2000,
          "option_value": 150, "overflow_options": 5, "block_id": 255, "input_label": 2000}  # fmt: skip
KNOWN = {"header", "section", "context", "divider", "actions", "image", "input"}
# Slack refuses chat.postMessage past about 12,000 characters of block text (msg_blocks_too_long, undocumented).
MAX_BLOCK_TEXT = 12_000
# A hint in Slack names a Slack action (`/margin ...`, a button), never a command-line flag.
CLI_FLAG = re.compile(r"`marginbot [^`]*\s--?[a-z]")


def problems(blocks: list[dict[str, Any]], *, max_blocks: int) -> list[str]:
    out = []
    if len(blocks) > max_blocks:
        out.append(f"{len(blocks)} blocks > {max_blocks}")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        if kind not in KNOWN:
            out.append(f"block {i}: unknown type {kind!r}")
        if kind == "header":
            text = block["text"]
            if text["type"] != "plain_text" or not text["text"] or len(text["text"]) > LIMITS["header_text"]:
                out.append(f"block {i}: bad header {text!r}")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                out.append(f"block {i}: section without text or fields")
            if "text" in block and not 0 < len(block["text"]["text"]) <= LIMITS["section_text"]:
                out.append(f"block {i}: section text of {len(block['text']['text'])} characters")
            fields = block.get("fields", [])
            if len(fields) > LIMITS["fields"] or any(not 0 < len(f["text"]) <= LIMITS["field_text"] for f in fields):
                out.append(f"block {i}: fields out of limits")
        if kind == "context":
            elements = block.get("elements", [])
            if not 0 < len(elements) <= LIMITS["context_elements"]:
                out.append(f"block {i}: {len(elements)} context elements")
        if kind == "actions":
            out += [f"block {i}: {p}" for p in _actions_problems(block)]
    ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(ids) != len(set(ids)):
        out.append("block ids repeat")
    if any(len(b) > LIMITS["block_id"] for b in ids):
        out.append("a block id is too long")
    json.dumps(blocks)  # must be plain JSON
    return out


def _actions_problems(block: dict[str, Any]) -> list[str]:
    out = []
    elements = block.get("elements", [])
    if not 0 < len(elements) <= LIMITS["actions_elements"]:
        out.append(f"{len(elements)} action elements")
    ids = [e.get("action_id") for e in elements]
    if len(ids) != len(set(ids)) or not all(ids):
        out.append("action ids missing or repeated")
    for e in elements:
        if e["type"] == "button":
            label = e["text"]
            if label["type"] != "plain_text" or not 0 < len(label["text"]) <= LIMITS["button_text"]:
                out.append(f"bad button label {label!r}")
            if len(e.get("value", "")) > LIMITS["button_value"]:
                out.append("button value too long")
        elif e["type"] == "overflow":
            options = e.get("options", [])
            if not 2 <= len(options) <= LIMITS["overflow_options"]:
                out.append(f"{len(options)} overflow options")
            for o in options:
                if len(o["value"]) > LIMITS["option_value"] or not 0 < len(o["text"]["text"]) <= 75:
                    out.append(f"bad overflow option {o!r}")
        else:
            out.append(f"unexpected action element {e['type']!r}")
    return out


def block_text(blocks: list[dict[str, Any]]) -> int:
    """Every `text` string in the blocks, nested ones included: what Slack's cumulative limit counts."""
    total, stack = 0, list(blocks)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def assert_valid_message(text: str, blocks: list[dict[str, Any]]) -> None:
    assert text.strip(), "top-level text must always be set (notifications and screen readers use it)"
    assert problems(blocks, max_blocks=LIMITS["message_blocks"]) == []
    assert not CLI_FLAG.search(text + all_text(blocks)), "a Slack hint quotes a command-line flag"
    # mrkdwn and the notification text are where Slack turns <!channel> into a ping (plain_text never does). A
    # literal character (a name's own `*`, bot.blocks.kit.esc) is a date token, `<!date^…>`, which pings no one.
    sent = [LITERAL_RE.sub("", t) for t in [text, *mrkdwn(blocks)]]
    assert not any("<!" in t for t in sent), "nothing the bot sends may ping a channel"
    # A literal is read only in mrkdwn outside code: in plain text or inside a code span Slack shows the token as
    # written (a header "Cost drift: vertex<!date^0^{_}|_>ai").
    assert not any(LITERAL_RE.search(t) for t in plain(blocks)), "a literal character in plain text"
    held = [LITERAL_RE.sub("\0", t) for t in mrkdwn(blocks)]
    assert not any("\0" in span for t in held for span in CODE_SPAN.findall(t)), "a literal character inside code"


CODE_SPAN = re.compile(r"`[^`]*`")


def plain(value: Any) -> list[str]:
    """Every plain_text text in a block tree."""
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "plain_text" and isinstance(value.get("text"), str) else []
        return own + [t for v in value.values() for t in plain(v)]
    if isinstance(value, list):
        return [t for v in value for t in plain(v)]
    return []


def mrkdwn(value: Any) -> list[str]:
    """Every mrkdwn text in a block tree."""
    if isinstance(value, dict):
        own = [value["text"]] if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str) else []
        return own + [t for v in value.values() for t in mrkdwn(v)]
    if isinstance(value, list):
        return [t for v in value for t in mrkdwn(v)]
    return []


def assert_postable(text: str, blocks: list[dict[str, Any]]) -> None:
    """What the alert jobs post (alerts, the digest): within chat.postMessage's cumulative block-text limit, and
    no `<!` anywhere in them, not even in a header or a button's value."""
    assert_valid_message(text, blocks)
    assert block_text(blocks) <= MAX_BLOCK_TEXT, f"{block_text(blocks)} characters of block text"
    assert "<!" not in json.dumps(blocks)


def assert_valid_home(view: dict[str, Any]) -> None:
    assert view["type"] == "home"
    assert problems(view["blocks"], max_blocks=LIMITS["view_blocks"]) == []
    assert not CLI_FLAG.search(all_text(view["blocks"])), "a Slack hint quotes a command-line flag"


def all_text(blocks: list[dict[str, Any]]) -> str:
    """Everything a user would read in these blocks, in order."""
    parts: list[str] = []
    for block in blocks:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        for e in block.get("elements", []):
            label = e.get("text", "")
            parts.append(label["text"] if isinstance(label, dict) else label)
    return "\n".join(parts)
