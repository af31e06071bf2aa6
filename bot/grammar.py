"""`/margin` text → a `Command`. Pure: no database, no clock, so the listener can run it before `ack()`.

Keywords come first (`product`, `top`, `worst`, `portfolio`, `help`, `whatif`, `forecast`, `floor`); anything
else is a customer. `share` anywhere asks for the answer in the channel. A trailing `YYYY-MM` or `Nd` is the
period. What the words mean is decided later against the database; words never reach SQL except as bound
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.periods import looks_like_period

# Slack allows ~4,000 characters; no real question needs more than this, and a cap keeps lookups cheap.
MAX_TEXT = 300
DEFAULT_N = 5
MAX_N = 25
SHARE_WORD = "share"

# Every form, as shown in `/margin help`, the README and the manifest's usage hint (a test checks all three).
FORMS: tuple[tuple[str, str, str], ...] = (
    (
        "/margin CUSTOMER [PERIOD]",
        "one customer's gross margin, COGS and biggest lever",
        "/margin acme corp 2026-10",
    ),
    ("/margin product NAME [PERIOD]", "one product across customers", "/margin product agent 7d"),
    ("/margin top [N] [PERIOD]", f"the N best customers by margin (default {DEFAULT_N})", "/margin top 10"),
    ("/margin worst [N] [PERIOD]", "the N worst customers by margin", "/margin worst"),
    ("/margin portfolio [PERIOD]", "every customer and product, blended margin", "/margin portfolio 2026-10"),
    (
        "/margin whatif CUSTOMER LEVER...",
        "what if we route, cache, re-price or grow",
        "/margin whatif acme cache 30",
    ),
    ("/margin forecast CUSTOMER ...", "margin month by month at P50 and P99 usage", "/margin forecast acme"),
    (
        "/margin floor CUSTOMER ...",
        "the lowest unit price that keeps the margin healthy",
        "/margin floor acme",
    ),
    ("/margin help", "this help", "/margin help"),
)
PERIOD_HELP = "PERIOD is YYYY-MM (a month) or Nd (the last N complete days); without it, the last 30 days"
SHARE_HELP = "add `share` anywhere to post the answer in the channel; otherwise only you see it"

SCENARIO_KINDS = ("whatif", "forecast", "floor")


@dataclass(frozen=True)
class Command:
    """One parsed `/margin` request. `problem` says why the words did not fit a form (the help is shown)."""

    kind: str  # customer | product | top | worst | portfolio | help | whatif | forecast | floor
    subject: str = ""
    period: str | None = None
    n: int = DEFAULT_N
    words: tuple[str, ...] = field(default_factory=tuple)
    share: bool = False
    problem: str | None = None


def _help(problem: str | None = None, *, share: bool = False) -> Command:
    return Command("help", share=share, problem=problem)


def _clean(text: str) -> str:
    # Control characters have no business in a name and would garble a terminal or a log line.
    return "".join(ch if ch.isprintable() else " " for ch in text)


def parse(text: str | None) -> Command:
    """Read the text after `/margin` (a leading `/margin` is allowed, as `marginbot ask` passes it)."""
    raw = text or ""
    if len(raw) > MAX_TEXT:
        return _help(f"that is {len(raw):,} characters; a question is at most {MAX_TEXT}")
    words = _clean(raw).split()
    if words and words[0].lower() == "/margin":
        words = words[1:]
    share = any(w.lower() == SHARE_WORD for w in words)
    words = [w for w in words if w.lower() != SHARE_WORD]
    if not words:
        return _help(share=share)
    head, rest = words[0].lower(), words[1:]

    if head in ("help", "?", "-h", "--help"):
        return _help(share=share)
    if head in SCENARIO_KINDS:
        if not rest:
            return _help(f"`{head}` needs more words, e.g. `{_example(head)}`", share=share)
        return Command(head, words=tuple(rest), share=share)
    if head == "product":
        name, period = _split_period(rest)
        if not name:
            return _help("say which product, e.g. `/margin product agent`", share=share)
        return Command("product", subject=name, period=period, share=share)
    if head in ("top", "worst"):
        return _ranking(head, rest, share)
    if head == "portfolio":
        if len(rest) > 1 or (rest and not looks_like_period(rest[0])):
            return _help(
                f"`portfolio` takes only a period, e.g. `/margin portfolio 2026-10`; {PERIOD_HELP}",
                share=share,
            )
        return Command("portfolio", period=rest[0] if rest else None, share=share)

    name, period = _split_period(words)
    if not name:
        # Only a period, e.g. `/margin 7d`: the portfolio is the natural reading, but guessing hides typos.
        return _help(f"say which customer, e.g. `/margin acme {period}`", share=share)
    return Command("customer", subject=name, period=period, share=share)


def _split_period(words: list[str]) -> tuple[str, str | None]:
    if words and looks_like_period(words[-1]):
        return " ".join(words[:-1]), words[-1]
    return " ".join(words), None


def _ranking(head: str, rest: list[str], share: bool) -> Command:
    n: int | None = None
    period: str | None = None
    for word in rest:
        if word.isdigit() and n is None and period is None and len(word) <= 4:
            n = int(word)
        elif looks_like_period(word) and period is None:
            period = word
        else:
            return _help(f"`{head}` takes a number and a period, e.g. `/margin {head} 10 2026-10`", share=share)
    if n is not None and not 1 <= n <= MAX_N:
        return _help(f"`{head} N`: N must be between 1 and {MAX_N}", share=share)
    return Command(head, n=DEFAULT_N if n is None else n, period=period, share=share)


def _example(kind: str) -> str:
    return next(example for form, _, example in FORMS if form.startswith(f"/margin {kind} "))
