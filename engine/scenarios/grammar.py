"""The what-if lever grammar: `route FROM->TO [PCT] [feature F]`, `cache [PCT] [feature F]`, `price PLAN TERMS`,
`usage xN`. Words in, lever values out; no database.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from engine.money import HUNDRED, ZERO
from engine.periods import looks_like_period
from engine.reports.revenue import Terms, describe_terms
from engine.scenarios.words import HOW_TO, UNIT_WORDS
from engine.store.bounds import MONEY_MAX, SEATS_MAX, amount, decimal_comma
from engine.vocab import Plan, Unit

LEVER_WORDS = ("route", "cache", "price", "usage")


class ScenarioError(ValueError):
    """Levers we cannot read or apply; the message says what was wrong and how to write it."""


@dataclass(frozen=True)
class Route:
    source: str  # model, or provider/model
    target: str
    pct: Decimal = HUNDRED
    feature: str | None = None

    def describe(self) -> str:
        where = f" on feature {self.feature}" if self.feature else ""
        return f"route {self.pct.normalize():f}% of {self.source}{where} to {self.target}"


@dataclass(frozen=True)
class Cache:
    pct: Decimal | None = None  # None: estimate from repeated prompt_hash values
    feature: str | None = None

    def describe(self) -> str:
        where = f" on feature {self.feature}" if self.feature else ""
        rate = f"{self.pct.normalize():f}%" if self.pct is not None else "the observed repeat rate"
        return f"serve {rate} of requests{where} from a response cache"


@dataclass(frozen=True)
class Price:
    """`price PLAN TERMS`: a plan to re-price with; the fields mirror a contract's terms (monthly amounts)."""

    plan: Plan
    unit: Unit | None = None
    unit_price: Decimal = ZERO
    platform_fee: Decimal = ZERO
    included: Decimal = ZERO
    seats: int = 0
    seat_price: Decimal = ZERO

    def contract(self, customer: str, start: date, end: date, product: str = "") -> Terms:
        """The terms of this plan for `customer` from `start` to `end`, on `product` ('': every product)."""
        return Terms(
            customer=customer,
            product=product,
            plan=self.plan,
            start=start,
            end=end,
            seats=self.seats,
            seat_price_usd=self.seat_price,
            platform_fee_usd=self.platform_fee,
            included_units=self.included,
            unit=self.unit,
            unit_price_usd=self.unit_price,
        )

    def describe(self) -> str:
        return "price as " + describe_terms(self.contract("", date(2000, 1, 1), date(2000, 1, 1)))


@dataclass(frozen=True)
class Usage:
    factor: Decimal

    def describe(self) -> str:
        return f"usage ×{self.factor.normalize():f}"


Lever = Route | Cache | Price | Usage


def describe(lever: Lever) -> str:
    return lever.describe()


_NUM = r"\$?(\d[\d,]*(?:\.\d+)?|\.\d+)"
_PCT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)%?$")
_FACTOR = re.compile(r"^[x×*]?(\d+(?:\.\d+)?|\.\d+)[x×]?$")
_UNIT = r"(requests?|req|tasks?|1k[ _-]?tokens|1k|ktok)"
_USAGE_TERMS = re.compile(rf"^{_NUM}\s*/\s*{_UNIT}$")
_HYBRID_TERMS = re.compile(
    rf"^{_NUM}\s*(?:/\s*(?:mo|month)\s*)?\+\s*{_NUM}\s*/\s*{_UNIT}"
    r"(?:\s+incl(?:uded|uding)?\s+(\d[\d,]*(?:\.\d+)?[km]?)(?:\s+\S+)?)?$"
)
_SEAT_TERMS = re.compile(rf"^(\d[\d,]*)\s*(?:seats?\s*)?[x×*@]\s*{_NUM}(?:\s*/\s*(?:seat|mo|month))?$")
_FLAT_TERMS = re.compile(rf"^{_NUM}(?:\s*/\s*(?:mo|month))?$")


def _money(value: str, what: str) -> Decimal:
    """An amount of the new price, held to what a contract holds (the contracts import's rule: at most MONEY_MAX, six
    decimals, fifteen significant digits): a price no contract could carry is refused in one line, not worked
    through to figures of thirty digits."""
    if (pointed := decimal_comma(value)) is not None:  # 0,05 or 99,50, where 1,000 is a thousands separator
        raise ScenarioError(f"price: {what} {value} has a decimal comma: write it with a point, {pointed}")
    try:
        return amount(what, value.replace(",", ""))
    except ValueError as exc:
        raise ScenarioError(f"price: {exc}") from None


def _count(value: str) -> Decimal:
    value = value.lower().replace(",", "")
    scale = {"k": 1_000, "m": 1_000_000}.get(value[-1:], 1)
    return _money(str(Decimal(value.rstrip("km")) * scale), "included units")


EXAMPLES = {
    Plan.SEAT: "price seat 50x80 (50 seats at $80 a month)",
    Plan.FLAT: "price flat 5000 ($5,000 a month)",
    Plan.USAGE: "price usage 0.40/task",
    Plan.HYBRID: "price hybrid 2000+0.02/request incl 50000",
}


def parse_plan(plan: str, terms: str) -> Price:
    """`usage P/UNIT` · `hybrid FEE+P/UNIT [incl N]` · `seat SEATSxPRICE` · `flat FEE` (USD, fees monthly).

    UNIT is request, task or 1k tokens; N may be written 50000, 50,000 or 50k.
    """
    terms = " ".join(terms.split()).lower()
    try:
        kind = Plan(plan.lower())
    except ValueError:
        raise ScenarioError(
            f"price: plan must be one of {', '.join(Plan)}, got {plan.lower()!r}; e.g. `{EXAMPLES[Plan.USAGE]}`"
        ) from None
    try:
        if kind is Plan.USAGE and (m := _USAGE_TERMS.match(terms)):
            return Price(kind, unit=UNIT_WORDS[m.group(2)], unit_price=_money(m.group(1), "unit price"))
        if kind is Plan.HYBRID and (m := _HYBRID_TERMS.match(terms)):
            return Price(
                kind,
                platform_fee=_money(m.group(1), "platform fee"),
                unit_price=_money(m.group(2), "unit price"),
                unit=UNIT_WORDS[m.group(3)],
                included=_count(m.group(4)) if m.group(4) else ZERO,
            )
        if kind is Plan.SEAT and (m := _SEAT_TERMS.match(terms)):
            seats = int(m.group(1).replace(",", ""))
            if not 1 <= seats <= SEATS_MAX:
                raise ScenarioError(f"price seat: the number of seats must be between 1 and {SEATS_MAX:,}")
            seat_price = _money(m.group(2), "seat price")
            if seats * seat_price > MONEY_MAX:
                raise ScenarioError(
                    f"price seat: seats × seat price is more than a contract holds (at most {MONEY_MAX:,})"
                )
            return Price(kind, seats=seats, seat_price=seat_price)
        if kind is Plan.FLAT and (m := _FLAT_TERMS.match(terms)):
            return Price(kind, platform_fee=_money(m.group(1), "platform fee"))
    except InvalidOperation:
        pass
    if "-" in terms or "\u2212" in terms:  # a minus anywhere (no term has a hyphen): said, not "cannot read"
        raise ScenarioError(f"price {kind}: a price is never negative, got {terms!r}; write it like `{EXAMPLES[kind]}`")
    raise ScenarioError(f"price {kind}: cannot read {terms!r}; write it like `{EXAMPLES[kind]}`")


def _pct(word: str, what: str) -> Decimal:
    m = _PCT.match(word)
    if not m:
        raise ScenarioError(f"{what}: {word!r} is not a percentage; write e.g. 40 or 40%")
    value = Decimal(m.group(1))
    if value > HUNDRED:
        raise ScenarioError(f"{what}: {word} is more than 100%")
    return value


def _is_pct(word: str) -> bool:
    return bool(_PCT.match(word))


def parse_levers(words: Sequence[str]) -> tuple[list[Lever], str | None]:
    """Read levers (and an optional period word, 2026-10 or 7d, between them). Returns (levers, period)."""
    levers: list[Lever] = []
    period: str | None = None
    i = 0
    words = [w for w in words if w.strip()]

    def boundary(j: int) -> bool:
        return j >= len(words) or words[j].lower() in LEVER_WORDS or looks_like_period(words[j])

    def feature_at(j: int, what: str) -> tuple[str | None, int]:
        if j < len(words) and words[j].lower() in ("feature", "on"):
            if j + 1 >= len(words) or boundary(j + 1):
                raise ScenarioError(f"{what}: `feature` needs a feature name, e.g. `feature agent-run`")
            return words[j + 1], j + 2
        return None, j

    while i < len(words):
        word = words[i].lower()
        if looks_like_period(word):
            if period is not None:
                raise ScenarioError(f"two periods given ({period} and {word}); give one")
            period = word
            i += 1
            continue
        if word == "route":
            j = i + 1
            spec: list[str] = []
            while (
                j < len(words)
                and not boundary(j)
                and not _is_pct(words[j])
                and words[j].lower()
                not in (
                    "feature",
                    "on",
                )
            ):
                spec.append(words[j])
                j += 1
            joined = " ".join(spec).replace("→", "->")
            parts = [p.strip() for p in re.split(r"->|\s+to\s+", joined)] if joined else []
            if len(parts) != 2 or not all(parts) or " " in parts[0] or " " in parts[1]:
                raise ScenarioError(
                    f"route: write `route FROM->TO [PCT] [feature F]`, e.g. `route gpt-4o->gpt-4o-mini 40`; "
                    f"got {' '.join(words[i:j])!r}"
                )
            pct = HUNDRED
            if j < len(words) and _is_pct(words[j]):
                pct = _pct(words[j], "route")
                j += 1
            feature, j = feature_at(j, "route")
            source, target = parts[0].lower(), parts[1].lower()
            if source == target:
                raise ScenarioError(f"route: {source} -> {target} routes a model to itself")
            levers.append(Route(source, target, pct, feature))
            i = j
        elif word == "cache":
            j = i + 1
            rate: Decimal | None = None
            if j < len(words) and _is_pct(words[j]):
                rate = _pct(words[j], "cache")
                j += 1
            feature, j = feature_at(j, "cache")
            levers.append(Cache(rate, feature))
            i = j
        elif word == "price":
            if i + 1 >= len(words):
                raise ScenarioError("price: name a plan and its terms, e.g. `price usage 0.40/task`")
            plan = words[i + 1].lower()
            j = i + 2
            terms: list[str] = []
            while j < len(words) and not boundary(j):
                terms.append(words[j])
                j += 1
            levers.append(parse_plan(plan, " ".join(terms)))
            i = j
        elif word == "usage":
            if i + 1 >= len(words) or not _FACTOR.match(words[i + 1].lower()):
                raise ScenarioError("usage: write `usage xN`, e.g. `usage x10` (ten times today's usage)")
            factor = Decimal(_FACTOR.match(words[i + 1].lower()).group(1))  # type: ignore[union-attr]
            if factor <= 0 or factor > 10_000:
                raise ScenarioError("usage: the factor must be more than 0 and at most 10000")
            levers.append(Usage(factor))
            i += 2
        else:
            raise ScenarioError(f"{words[i]!r} is not a lever; {HOW_TO}")
    if not levers:
        raise ScenarioError(f"no lever given; {HOW_TO}")
    if sum(isinstance(lever, Price) for lever in levers) > 1:
        raise ScenarioError("give at most one `price` lever (a customer has one plan at a time)")
    return levers, period


def split_subject(words: Sequence[str]) -> tuple[str | None, list[str]]:
    """Split `CUSTOMER... LEVER...`: the levers start at the first lever word (route, cache, price, usage).

    Returns (customer, lever words); customer is None for `portfolio`. A customer whose name contains a lever
    word is named by its id or an alias instead.
    """
    cut = next((i for i, w in enumerate(words) if w.lower() in LEVER_WORDS), len(words))
    # A period written right after the name (`acme 2026-10 cache 30`) belongs with the levers.
    periods = [w for w in words[:cut] if looks_like_period(w)]
    subject = " ".join(w for w in words[:cut] if not looks_like_period(w)).strip()
    rest = [*periods, *words[cut:]]
    if not subject:
        raise ScenarioError(f"name a customer (or `portfolio`) before the levers; {HOW_TO}")
    if subject.lower() in ("portfolio", "--portfolio"):
        return None, rest
    return subject, rest
