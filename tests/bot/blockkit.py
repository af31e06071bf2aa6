"""Slack's Block Kit limits, checked the way Slack would refuse a message (no mocks: plain dict inspection)."""

from __future__ import annotations

import json
import re
from typing import Any

LIMITS = {"message_blocks": 50, "view_blocks": 100, "section_text": 3000, "field_text": 2000, "header_text": 150,
          "fields": 10, "context_elements": 10}  # fmt: skip
KNOWN = {"header", "section", "context", "divider", "actions", "image"}
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
    json.dumps(blocks)  # must be plain JSON
    return out


def assert_valid_message(text: str, blocks: list[dict[str, Any]]) -> None:
    assert text.strip(), "top-level text must always be set (notifications and screen readers use it)"
    assert problems(blocks, max_blocks=LIMITS["message_blocks"]) == []
    assert not CLI_FLAG.search(text + all_text(blocks)), "a Slack hint quotes a command-line flag"


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
        parts += [e.get("text", "") for e in block.get("elements", [])]
    return "\n".join(parts)
