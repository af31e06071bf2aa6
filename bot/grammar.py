"""`/margin` text → a `Command`. Pure: no database, no clock, so the listener can run it before `ack()`.

The first word picks the form (bot/forms.py: `product`, `top`, `worst`, `portfolio`, `help`, `whatif`, ...);
anything else is a customer. A customer whose name starts with a keyword ("Top Gun") is found by its whole name when
the keyword's form does not fit or names nothing (`Command.fallback`), or always when quoted: `/margin "Top 5"`.
`share` anywhere (outside quotes) asks for the answer in the channel, unless the words with it name a subject
("Fair Share Foods", `why Fair Share Foods`: `Command.literals`). A trailing `YYYY-MM` or `Nd` is the period.
What the words mean is decided later against the database; words never reach SQL except as bound parameters.
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

from bot.command import DEFAULT_N, PERIOD_HELP, Command, Shape
from bot.forms import BY_KEYWORD, BY_KIND, Form
from engine.periods import looks_like_period

# Slack allows ~4,000 characters; no real question needs more than this, and a cap keeps lookups cheap.
MAX_TEXT = 300
MAX_N = 25
SHARE_WORD = "share"
HELP_WORDS = ("help", "?", "-h", "--help")
# Opening quote → the closing quotes it takes (a phone or a Mac turns " into “ and ”).
QUOTES = {'"': '"”', "“": '”"', "”": '”"'}


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
    lead = 0  # `share` before a quoted name
    while lead < len(words) and words[lead].lower() == SHARE_WORD:
        lead += 1
    if lead < len(words) and words[lead][0] in QUOTES:
        return _quoted(" ".join(words[lead:]), share=lead > 0)
    typed = words
    words, share = _shared(words)
    if not words or (words[0].lower() in HELP_WORDS and len(words) == 1):
        return _help(share=share)
    first = words[0].lower()
    form = BY_KEYWORD.get(first)
    if first in HELP_WORDS:  # "Help Scout", or `help` with words it does not need
        cmd = _help(share=share)
    elif form is not None:
        cmd = _read(form, words[1:], share)
    else:
        cmd = _read(BY_KIND["customer"], words, share)
    if share and first not in HELP_WORDS:
        cmd = replace(cmd, literals=_literals(form or BY_KIND["customer"], typed, keyword=form is not None, read=cmd))
    if first not in HELP_WORDS and form is None:  # read as a customer already: no other reading to keep
        return cmd
    name, period = _split_period(words)
    fallback = Command("customer", subject=name, period=period, share=share)
    if share:  # "Why Share Labs" beside "Why Labs", "Help Share Scout": the whole name, keeping its `share`
        fallback = replace(fallback, literals=_literals(BY_KIND["customer"], typed, keyword=False, read=fallback))
    return replace(cmd, fallback=fallback)


# At most this many `share` words are weighed as words of a name (each way of leaving some out is one more reading).
_MAX_SHARES = 2


def _literals(form: Form, typed: list[str], *, keyword: bool, read: Command) -> tuple[Command, ...]:
    """The readings of `form` that keep some `share` words as words of the name (Command.literals), in the order
    they are tried: every `share` kept (the name as typed, answered privately), then one left out (the last first),
    then two, and so on; each one left out asks to post. `read` (every `share` left out) is not among them. A
    `share` before the keyword asks to post in every reading. Only forms that name a subject have any."""
    if form.shape not in (Shape.SUBJECT, Shape.WORDS):
        return ()
    start, asked = 0, False
    if keyword:
        while typed[start].lower() == SHARE_WORD:
            start, asked = start + 1, True
        start += 1  # the keyword
    rest = typed[start:]
    # A `share` after the end of the subject (a what-if's first lever, a forecast's first option) is a request in
    # every reading, and never one of the form's words.
    ends = next((i for i, word in enumerate(rest) if word.lower().lstrip("-") in form.subject_ends), len(rest))
    after = [word for word in rest[ends:] if word.lower() != SHARE_WORD]
    asked = asked or len(after) < len(rest) - ends
    rest = rest[:ends] + after
    at = [i for i, word in enumerate(rest[:ends]) if word.lower() == SHARE_WORD]
    if not at or len(at) > _MAX_SHARES:
        return ()
    readings: list[Command] = []
    for k in range(len(at)):
        for left_out in combinations(reversed(at), k):
            cmd = _read(form, [w for i, w in enumerate(rest) if i not in left_out], asked or k > 0)
            if cmd.kind == form.kind and cmd != read and cmd not in readings:
                readings.append(cmd)
    return tuple(readings)


def _shared(words: list[str]) -> tuple[list[str], bool]:
    """`words` without `share`, and whether it was there."""
    kept = [w for w in words if w.lower() != SHARE_WORD]
    return kept, len(kept) < len(words)


def _quoted(text: str, *, share: bool) -> Command:
    """`"NAME" [PERIOD] [share]`: a customer, whatever its first word (`share`: it came before the name)."""
    close = next((i for i, ch in enumerate(text[1:], 1) if ch in QUOTES[text[0]]), None)
    if close is None:
        return _help(f'the name has no closing quote: `/margin {text[:40]}"`', share=share)
    name, rest = text[1:close].strip(), text[close + 1 :].split()
    rest, shared = _shared(rest)
    share = share or shared
    if not name or len(rest) > 1 or (rest and not looks_like_period(rest[0])):
        return _help(
            f'a quoted customer takes only a period, e.g. `/margin "Top Gun" 2026-10`; {PERIOD_HELP}', share=share
        )
    return Command("customer", subject=name, period=rest[0] if rest else None, share=share)


def _read(form: Form, rest: list[str], share: bool) -> Command:
    """The words after the keyword (all of them for a customer) read as `form` takes them."""
    kind = form.kind
    if form.shape is Shape.WORDS:
        if not rest:
            return _help(f"`{kind}` needs more words, e.g. `{form.example}`", share=share)
        return Command(kind, words=tuple(rest), share=share)
    if form.shape is Shape.RANKING:
        return _ranking(kind, rest, share)
    if form.shape is Shape.PERIOD:
        if len(rest) > 1 or (rest and not looks_like_period(rest[0])):
            return _help(f"`{kind}` takes only a period, e.g. `{form.example}`; {PERIOD_HELP}", share=share)
        return Command(kind, period=rest[0] if rest else None, share=share)
    name, period = _split_period(rest)
    if not name:
        if form.keyword is None:
            # Only a period, e.g. `/margin 7d`: the portfolio is the natural reading, but guessing hides typos.
            return _help(f"say which customer, e.g. `/margin acme {period}`", share=share)
        return _help(f"say which {kind}, e.g. `{form.example}`", share=share)
    return Command(kind, subject=name, period=period, share=share)


def _split_period(words: list[str]) -> tuple[str, str | None]:
    if words and looks_like_period(words[-1]):
        return " ".join(words[:-1]), words[-1]
    return " ".join(words), None


def _ranking(kind: str, rest: list[str], share: bool) -> Command:
    n: int | None = None
    period: str | None = None
    for word in rest:
        # isdecimal, not isdigit: "²" and "①" are digits to isdigit but not to int(); isdecimal is what int() reads.
        if word.isdecimal() and n is None and period is None and len(word) <= 4:
            n = int(word)
        elif looks_like_period(word) and period is None:
            period = word
        else:
            return _help(f"`{kind}` takes a number and a period, e.g. `/margin {kind} 10 2026-10`", share=share)
    if n is not None and not 1 <= n <= MAX_N:
        return _help(f"`{kind} N`: N must be between 1 and {MAX_N}", share=share)
    return Command(kind, n=DEFAULT_N if n is None else n, period=period, share=share)
