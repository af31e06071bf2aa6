"""Block Kit rendered for a terminal, so `marginbot ask` shows what Slack would."""

from __future__ import annotations

import re
from typing import Any

from bot.blocks.kit import hold, unesc

WIDTH = 78
COLUMN = 36
EMOJI = {
    ":red_circle:": "●",
    ":large_yellow_circle:": "◐",
    ":large_green_circle:": "○",
    ":white_circle:": "◌",
    ":warning:": "!",
    ":dart:": "→",
    ":chart_with_upwards_trend:": "↑",
    ":mag:": "?",
    ":lock:": "#",
    ":crystal_ball:": "≈",
    ":arrow_up_down:": "↕",
    ":chart_with_downwards_trend:": "↘",
}
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_BOLD = re.compile(r"(?<![\w*])\*([^*\n]+)\*(?![\w*])")
_SHORTCODE = re.compile(r":[a-z0-9_+-]+:")
_FENCE = re.compile(r"^```\n?|\n?```$", re.MULTILINE)
_CODE = re.compile(r"`([^`\n]+)`")
_ITALIC = re.compile(r"(?<![\w_])_([^_\n]+)_(?![\w_])")


def mrkdwn(text: str) -> str:
    """Slack mrkdwn → plain text: markers dropped, emoji shortcodes as symbols, entities unescaped, a name's own
    formatting characters (literals, see bot.blocks.kit.esc_name) kept as written."""
    text = hold(text)  # a literal `*` is not a marker, nor its token a link
    for code, symbol in EMOJI.items():
        text = text.replace(code, symbol)
    text = _SHORTCODE.sub("", text)  # other emoji have no terminal glyph worth guessing
    text = _FENCE.sub("", text)
    text = _LINK.sub(r"\2 (\1)", text)
    text = _BOLD.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    text = _CODE.sub(r"\1", text)
    return unesc(text)


def _text(obj: dict[str, Any] | None) -> str:
    if not obj:
        return ""
    value = str(obj.get("text", ""))
    return mrkdwn(value) if obj.get("type") == "mrkdwn" else value


def render(blocks: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text(block.get("text"))
            lines += ["", title, "=" * min(len(title), WIDTH)]
        elif kind == "section":
            if block.get("text"):
                lines += ["", *(_text(block["text"]).splitlines())]
            if block.get("fields"):
                lines += _fields([_text(f).splitlines() for f in block["fields"]])
        elif kind == "context":
            lines.append("  " + " · ".join(_text(e) for e in block.get("elements", [])))
        elif kind == "divider":
            lines += ["", "-" * WIDTH]
    return "\n".join(lines).strip("\n")


def _fields(cells: list[list[str]]) -> list[str]:
    """Two columns, as Slack lays fields out; each field's lines stacked."""
    out: list[str] = []
    # The right column starts past the block's longest left line, so every row's right cell lines up and none runs
    # into the left one ("… heavy month 67.9%  typical month 59.0%" read as one group).
    width = max([COLUMN - 2, *(len(line) + 2 for left in cells[::2] for line in left)])
    for left, right in zip(cells[::2], [*cells[1::2], []], strict=False):
        out.append("")
        for i in range(max(len(left), len(right))):
            a = left[i] if i < len(left) else ""
            b = right[i] if i < len(right) else ""
            out.append(f"  {a.ljust(width)}  {b}".rstrip())
    return out
