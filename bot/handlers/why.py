"""`/margin why CUSTOMER|product NAME|portfolio [PERIOD]`: the margin bridge from the period before to this one."""

from __future__ import annotations

from datetime import datetime

from bot.answer_types import Answer, AnswerError
from bot.blocks.why import why_message
from bot.command import Command
from engine.periods import looks_like_period
from engine.reports.bridge import margin_bridge
from engine.runtime import Runtime
from engine.vocab import SubjectKind

HOW = "write `/margin why CUSTOMER [PERIOD]`, `/margin why product NAME [PERIOD]` or `/margin why portfolio [PERIOD]`"


def read_subject(words: list[str]) -> tuple[SubjectKind, str | None, str | None]:
    """`product NAME... [PERIOD]`, `portfolio [PERIOD]` or `CUSTOMER... [PERIOD]` → (kind, name, period)."""
    period = words.pop() if words and looks_like_period(words[-1]) else None
    if words and words[0].lower() == "product":
        if len(words) < 2:
            raise AnswerError(f"say which product; {HOW}")
        return SubjectKind.PRODUCT, " ".join(words[1:]), period
    if [w.lower() for w in words] == ["portfolio"]:
        return SubjectKind.PORTFOLIO, None, period
    if not words:
        raise AnswerError(f"say which customer; {HOW}")
    return SubjectKind.CUSTOMER, " ".join(words), period


def why(rt: Runtime, cmd: Command, now: datetime) -> Answer:
    kind, name, period_text = read_subject(list(cmd.words))
    period = rt.period(period_text, now)
    with rt.connect() as conn:
        bridge = margin_bridge(conn, kind, name, period, prices=rt.prices, timezone=rt.settings.timezone)
    return why_message(bridge)
