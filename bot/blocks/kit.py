"""Block Kit primitives with Slack's limits built in, so no builder can produce a message Slack rejects.

Limits (https://docs.slack.dev/reference/block-kit/blocks): 50 blocks in a message, 100 in a Home tab,
3,000 characters in a section's text, 2,000 in a field, 150 in a header, 10 fields a section and 10
context elements.
"""

from __future__ import annotations

from typing import Any

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_SECTION_TEXT = 3000
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
ELLIPSIS = "…"


def esc(value: object) -> str:
    """Escape text for mrkdwn: names and user input must never become `<!channel>` pings or links."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unesc(value: str) -> str:
    """The inverse of `esc`: text Slack sends back (button values, block ids, a slash command's words) as written,
    and mrkdwn shown on a terminal. `&amp;` last: "&amp;lt;" is a written "&lt;"."""
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True},
    }


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT)}}


def fields(*items: str) -> Block:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": clip(item, MAX_FIELD_TEXT)} for item in items[:MAX_FIELDS]],
    }


def context(*items: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(item, MAX_FIELD_TEXT)} for item in items[:MAX_CONTEXT_ELEMENTS]],
    }


def divider() -> Block:
    return {"type": "divider"}


def sections(title: str, lines: list[str]) -> list[Block]:
    """A titled list split over as many sections as its length needs (each within 3,000 characters)."""
    out: list[Block] = []
    chunk = f"*{title}*" if title else ""
    for line in lines:
        line = clip(line, MAX_SECTION_TEXT - 10)
        candidate = f"{chunk}\n{line}" if chunk else line
        if len(candidate) > MAX_SECTION_TEXT:
            out.append(section(chunk))
            candidate = line
        chunk = candidate
    if chunk:
        out.append(section(chunk))
    return out


def fit(blocks: list[Block], limit: int = MAX_MESSAGE_BLOCKS) -> list[Block]:
    """Keep at most `limit` blocks, saying so in the last one when some had to go."""
    if len(blocks) <= limit:
        return blocks
    kept = blocks[: limit - 1]
    return [
        *kept,
        context(f"{ELLIPSIS} {len(blocks) - len(kept)} more block(s) left out to fit Slack's limits"),
    ]
