"""The overlap rule: on any day, a customer has at most one contract for a product, counting a contract for every
product as one for each. Two that overlap would both charge for the same days (a renewal imported without
ending the old contract doubles the month's revenue), so an import that would make an overlap is refused, naming
both contracts; with `--supersede` the earlier one is ended the day before the later one starts.

Only overlaps involving a contract of the file are checked: the rule is kept from the first import on, and stored
contracts the file does not touch are not the file's business.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta


@dataclass(kw_only=True)
class Held:
    """A contract as the overlap rule sees it. `line` is its line in the file; None for a stored contract (`id`)."""

    customer: str
    product: str  # '' = every product
    start: date
    end: date | None  # inclusive; None = open
    line: int | None = None
    id: int | None = None

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else "the stored contract"

    def label(self) -> str:
        days = f"{self.start} to {self.end}" if self.end is not None else f"{self.start} onwards"
        return f"{self.where} ({self.customer}, {self.product or 'every product'}, {days})"

    def covers(self, other: Held) -> bool:
        """Whether both charge for some product on some day."""
        if self.product and other.product and self.product != other.product:
            return False
        return (self.end is None or other.start <= self.end) and (other.end is None or self.start <= other.end)


@dataclass(kw_only=True)
class Closing:
    """`--supersede` ended `earlier` (its `end` already moved) because `later` starts the next day."""

    earlier: Held
    later: Held
    was: date | None

    def describe(self) -> str:
        e = self.earlier
        before = f"was {self.was}" if self.was is not None else "was open"
        text = (
            f"{e.where} ({e.customer}, {e.product or 'every product'}, from {e.start}) now ends {e.end} ({before}): "
            f"superseded by {self.later.label()}"
        )
        if not e.product and self.later.product:
            text += f"; {e.customer}'s other products have no contract from {self.later.start} unless one covers them"
        return text


def _fix(earlier: Held, later: Held) -> str:
    if earlier.start == later.start:
        return "they start the same day, so --supersede cannot end one before the other: keep one of them"
    end = later.start - timedelta(days=1)
    if earlier.line is not None:
        return f"end line {earlier.line} on {end}, or import with --supersede to do so"
    return f"end the stored one on {end} (re-import it with that end), or import with --supersede to do so"


def check(held: list[Held], *, supersede: bool) -> tuple[list[tuple[int, str]], list[Closing]]:
    """Every overlap among `held` involving a line of the file: (line, why) refusals, or with `supersede` the
    closings made (each earlier contract's `end` is moved in place)."""
    errors: dict[int, str] = {}
    closings: list[Closing] = []
    by_customer: dict[str, list[Held]] = defaultdict(list)
    for h in held:
        by_customer[h.customer].append(h)
    for items in by_customer.values():
        # Stored contracts first on a tie, so a file line is the one refused; line order after that.
        items.sort(key=lambda h: (h.start, h.line is not None, h.line or 0))
        active: list[Held] = []  # earlier contracts still in force on the current one's start
        for later in items:
            active = [e for e in active if e.end is None or e.end >= later.start]
            for earlier in active:
                if (earlier.line is None and later.line is None) or not earlier.covers(later):
                    continue
                if supersede and earlier.start < later.start:
                    was = earlier.end
                    earlier.end = later.start - timedelta(days=1)
                    closings.append(Closing(earlier=earlier, later=later, was=was))
                    continue
                line = later.line if later.line is not None else earlier.line
                assert line is not None  # one of the two is the file's
                other = earlier if line == later.line else later
                if line not in errors:
                    errors[line] = f"overlaps {other.label()}: {_fix(earlier, later)}"
            active.append(later)
    return sorted(errors.items()), closings


@dataclass(kw_only=True)
class Gap:
    """Days `closing` took from its earlier contract that no contract covers now: the later one ended first, and
    --supersede ends the earlier one for good (it is not resumed after the later one), so from `start` to `end`
    (None: open) the product has no contract and its usage shows cost without revenue."""

    closing: Closing
    product: str  # '' = every product
    start: date
    end: date | None

    def describe(self) -> str:
        e = self.closing.earlier
        days = f"from {self.start} to {self.end}" if self.end is not None else f"from {self.start} onwards"
        return (
            f"{e.customer} ({self.product or 'every product'}) has no contract {days}, which {e.where} covered "
            f"before --supersede ended it on {e.end}: add a contract from {self.start} or import without --supersede"
        )

    def as_dict(self) -> dict[str, str | None]:
        return {
            "customer": self.closing.earlier.customer,
            "product": self.product,
            "from": self.start.isoformat(),
            "to": self.end.isoformat() if self.end is not None else None,
        }


def gaps(held: list[Held], closings: list[Closing]) -> list[Gap]:
    """The days each closing left without a contract for the product the two contracts shared: those after the later
    contract ends that the earlier one covered, less what any other contract (ended as --supersede left them)
    covers. The every-product → product case's other products are said in `Closing.describe`."""
    out: list[Gap] = []
    for closing in closings:
        earlier, later = closing.earlier, closing.later
        if later.end is None or (closing.was is not None and closing.was <= later.end):
            continue
        product = earlier.product or later.product
        lost: list[tuple[date, date | None]] = [(later.end + timedelta(days=1), closing.was)]
        for other in held:
            if other.customer != earlier.customer or (other.product and other.product != product):
                continue
            lost = [piece for span in lost for piece in _less(span, other.start, other.end)]
        out += [Gap(closing=closing, product=product, start=s, end=e) for s, e in lost]
    return out


def _less(span: tuple[date, date | None], start: date, end: date | None) -> list[tuple[date, date | None]]:
    """`span` (inclusive days, None: open) without the days from `start` to `end`."""
    s, e = span
    if (end is not None and end < s) or (e is not None and start > e):
        return [span]  # apart
    out: list[tuple[date, date | None]] = []
    if start > s:
        out.append((s, start - timedelta(days=1)))
    if end is not None and (e is None or end < e):
        out.append((end + timedelta(days=1), e))
    return out
