"""What every `/margin` form produces: Block Kit blocks plus the top-level text Slack shows in notifications."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Upload:
    """A file an answer hands to the asker (the board pack): Slack uploads it to them, the terminal ignores it."""

    filename: str
    content: bytes
    title: str


@dataclass
class Answer:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)


class AnswerError(ValueError):
    """The user's words could not be understood; the message says how to write them (shown with the help)."""


class NotAnswerable(ValueError):
    """The words were understood, but the data holds nothing to answer them with (a forecast of a customer with no
    usage): said in one line, not with the help, since nothing was written wrong."""
