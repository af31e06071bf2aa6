"""Block Kit primitives with Slack's limits built in, so no builder can produce a message Slack rejects.

Limits (https://docs.slack.dev/reference/block-kit/blocks): 50 blocks in a message, 100 in a Home tab,
3,000 characters in a section's text, 2,000 in a field, 150 in a header, 10 fields a section and 10
context elements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    """Escape text for mrkdwn: names and user input must never become `<!channel>` pings or links. Text that is a
    name or other user text as a whole goes through `esc_name` (or `code`), which keeps its formatting characters too;
    `esc` is for text that may carry our own mrkdwn (an engine message quoting `marginbot reprice`)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Slack has no escape for its formatting characters (*bold*, _italic_, ~strike~, `code`): a name holding one paired
# with the bold around it or with another name's ("Acme *Pro*" bolded "Pro"; "*a*b*" ended the bold early), and a
# look-alike or zero-width character would change what a reader copies. A date token whose format Slack cannot read
# is shown as its fallback text, as written and never formatted
# (https://docs.slack.dev/messaging/formatting-message-text#date-formatting; jsx-slack's <Escape> relies on it), so
# each formatting character of a name travels as one, and is shown and copied as the character itself.
FORMATTING = "*_~`"
_LITERAL = "<!date^0^{_}|%s>"
LITERAL_RE = re.compile(r"<!date\^0\^\{_\}\|([*_~`])>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")
# A `<…>` token we write: a literal character, a mention, a link. Raw text (clipped before it is escaped) may hold a
# bare "<", which opens nothing. The longest is a link; one longer than this is cut as text.
_TOKEN = re.compile(r"<(?:[@#!]|https?://|mailto:)[^<>]*>?")
MAX_TOKEN = 2000


def literal(char: str) -> str:
    """A formatting character (`*`, `_`, `~`, a backtick) as Slack shows it literally, whatever is around it."""
    return _LITERAL % char


def esc_name(value: object) -> str:
    """A name or other user text for mrkdwn, shown exactly as written: escaped as `esc` does, and each formatting
    character literal, so "a*b & c*d" in bold is bold "a*b & c*d", not bold "a", "b & c" and bold "d"."""
    return "".join(literal(c) if c in FORMATTING else c for c in esc(value))


# A code span in a sentence the engine words: commands and settings it quotes (`marginbot reprice`, `[[tiers]]`).
_CODE_SPAN = re.compile(r"`[^`\n]+`")


def esc_text(value: object, names: Iterable[str] = ()) -> str:
    """A sentence the engine words (an assumption, a note, an error) for mrkdwn, shown as written: escaped as `esc`
    does, and each formatting character outside its code spans literal, as `esc_name` makes a name's.

    The engine knows nothing of Slack: its sentences are plain text, read as written on a terminal too, but for the
    commands and settings it quotes in backticks; never bold, italic or struck. So every `*`, `_` and `~` in one is a
    name's or a setting's (`unit_costs.cache_lookup`), whichever name it is (one a builder never sees, a model, the
    words an error quotes back), and "Acme *Pro*'s usage" no longer bolds "Pro". A backtick cannot be told from the
    engine's own quoting without knowing the name: `names`, those the builder has (the subject's, its products'), are
    shown as written wherever they occur, a backtick in one included."""
    text = str(value)
    pieces: list[tuple[str, bool]] = [(text, False)]  # (piece, is a known name)
    for name in sorted({n for n in names if "`" in n}, key=len, reverse=True):  # the longer of two overlapping first
        pieces = [part for piece, known in pieces for part in ([(piece, True)] if known else _split(piece, name))]
    out = []
    for piece, known in pieces:
        if known:
            out.append(esc_name(piece))
            continue
        at = 0
        for m in _CODE_SPAN.finditer(piece):
            out += [_as_written(piece[at : m.start()]), esc(m.group())]
            at = m.end()
        out.append(_as_written(piece[at:]))
    return "".join(out)


# An underscore between two letters or digits (DATABASE_URL, unit_costs.cache_lookup) opens and closes nothing in
# Slack: it is kept as written, where a literal would make a sentence of settings several times longer.
_MARKER = re.compile(r"[*~`]|_(?!(?<=[^\W_]_)[^\W_])")


def _as_written(text: str) -> str:
    """Text outside code, escaped, each formatting character Slack could read as a marker literal."""
    return _MARKER.sub(lambda m: literal(m.group()), esc(text))


def _split(text: str, name: str) -> list[tuple[str, bool]]:
    """`text` around each occurrence of `name`, the occurrences marked."""
    parts = text.split(name)
    out = [(parts[0], False)]
    for part in parts[1:]:
        out += [(name, True), (part, False)]
    return [(piece, known) for piece, known in out if piece]


def code(value: object) -> str:
    """User text as inline code (`acme`): escaped as `esc` does. Inside code only a backtick would format (it ends
    the code), so each backtick stands between two codes, shown literally; no code is left empty (an empty pair of
    backticks shows as two backticks)."""
    return literal("`").join(f"`{piece}`" if piece else "" for piece in esc(value).split("`"))


def unesc(value: str) -> str:
    """The inverse of `esc` and `esc_name`: text Slack sends back (button values, block ids, a slash command's words) as
    written, and mrkdwn shown on a terminal. `&amp;` last: "&amp;lt;" is a written "&lt;"."""
    value = release(LITERAL_RE.sub(r"\1", value))
    return value.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# Literal characters held as private-use characters while a terminal's renderer strips mrkdwn's markers.
_HELD = {c: chr(0xE000 + i) for i, c in enumerate(FORMATTING)}
_RELEASED = {ord(h): c for c, h in _HELD.items()}


def hold(text: str) -> str:
    """Each literal character (see `esc_name`) as one private-use character, so stripping mrkdwn's markers leaves it
    alone; `unesc` (or `release`) gives the character back."""
    return LITERAL_RE.sub(lambda m: _HELD[m.group(1)], text)


def release(text: str) -> str:
    return text.translate(_RELEASED)


def unbold(text: str) -> str:
    """Mrkdwn without its bold markers, for a terminal: a name's own `*` (a literal, see `esc_name`) is kept."""
    return release(hold(text).replace("*", ""))


def clip(text: str, limit: int, *, mrkdwn: bool = False) -> str:
    """`text` within `limit` characters, an ellipsis last where it was cut: never inside an entity (`&amp;` cut to
    `&am…` showed as written) or a `<…>` token (a link, a mention, a literal character), but before it. `mrkdwn`:
    the text carries our markers, and a bold span or a code the cut leaves open is closed after the ellipsis
    ("*Acme Corp…*"), where its `*` was left unmatched and shown as written, or its backtick made what followed it
    code (plain text, or raw text escaped later, has no markers to close)."""
    if len(text) <= limit:
        return text
    closing = ""
    while True:  # a closing marker takes room from the text, which may close another: at most two rounds
        cut = _cut(text, max(0, limit - 1 - len(closing)))
        now = _open_spans(text[:cut]) if mrkdwn else ""
        if len(now) <= len(closing):
            return text[:cut] + ELLIPSIS + now
        closing = now


def _cut(text: str, cut: int) -> int:
    """Where to cut `text` at or before `cut`: before an entity or a `<…>` token open there."""
    for m in _TOKEN.finditer(text, max(0, cut - MAX_TOKEN)):
        if m.start() >= cut:
            break
        if m.end() > cut:  # open at the cut: its `>` is past it
            cut = m.start()
            break
    for m in _ENTITY.finditer(text, max(0, cut - 4), cut + 4):
        if m.start() < cut < m.end():
            cut = m.start()
    return cut


def _open_spans(text: str) -> str:
    """The markers that close what `text` leaves open: a code (or a code block) and a bold span. A name's own
    formatting characters are tokens (`esc_name`), taken out first, so every marker left is ours."""
    bare = _TOKEN.sub("", text)
    block = code = bold = False
    i = 0
    while i < len(bare):
        if bare.startswith("```", i) and not code:
            block, i = not block, i + 3
            continue
        if not block:
            if bare[i] == "`":
                code = not code
            elif bare[i] == "*" and not code:
                bold = not bold
        i += 1
    return ("```" if block else "`" if code else "") + ("*" if bold else "")


def header(text: str) -> Block:
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_TEXT), "emoji": True},
    }


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_TEXT, mrkdwn=True)}}


def fields(*items: str) -> Block:
    return {
        "type": "section",
        "fields": [{"type": "mrkdwn", "text": clip(item, MAX_FIELD_TEXT, mrkdwn=True)} for item in items[:MAX_FIELDS]],
    }


def context(*items: str) -> Block:
    return {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": clip(item, MAX_FIELD_TEXT, mrkdwn=True)} for item in items[:MAX_CONTEXT_ELEMENTS]
        ],
    }


def divider() -> Block:
    return {"type": "divider"}


def sections(title: str, lines: list[str]) -> list[Block]:
    """A titled list split over as many sections as its length needs (each within 3,000 characters)."""
    out: list[Block] = []
    chunk = f"*{title}*" if title else ""
    for line in lines:
        line = clip(line, MAX_SECTION_TEXT - 10, mrkdwn=True)
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
