"""One contracts CSV row → a contract, checked against what the columns hold (engine.store.bounds) so that SQLite
and PostgreSQL accept exactly the same files. Every refusal is a ValueError naming the field and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Final, TypeVar

from engine.money import HUNDRED, ZERO
from engine.store.bounds import (
    MONEY_MAX,
    PCT_PLACES,
    SEATS_MAX,
    TEXT_MAX,
    amount,
    character_kind,
    control_character,
    number,
    parse_owners,
    shown,
)
from engine.store.models import Contract
from engine.vocab import Plan, Unit

# In `owner`, `breach_pct` or `healthy_pct`: remove the customer's value (a blank cell leaves it as it is).
CLEAR: Final = "none"
_PCT_STEP = Decimal(10) ** -PCT_PLACES


@dataclass(kw_only=True)
class ContractRow:
    """A checked row: the contract, the customer's name and aliases, and the account values the row gives.

    `account` holds only the columns the row fills: `owner` (a tuple of member IDs, () to clear), `breach_pct`
    and `healthy_pct` (a Decimal, None to clear). A blank cell is not in it: it leaves the stored value."""

    line: int
    contract: Contract
    name: str
    aliases: str
    account: dict[str, object] = field(default_factory=dict)


# What people write for "every product" in a product column: read as a product of that name, the contract's revenue
# would sit on a product with no usage and its customer's usage show no revenue.
EVERY_PRODUCT_WORDS = frozenset({"all", "*", "any", "every", "all products", "every product", "(all)", "<all>"})


def text_cell(row: dict[str, str | None], key: str) -> str:
    """A text column, stripped, within its length and free of control characters."""
    value = (row.get(key) or "").strip()
    bad = control_character(value)
    if bad:
        raise ValueError(f"{key} contains {character_kind(bad)} ({bad}): {shown(value)}")
    limit = TEXT_MAX[key]
    if len(value) > limit:
        raise ValueError(f"{key} is longer than {limit} characters ({len(value):,})")
    return value


def money(row: dict[str, str | None], key: str, *, required: bool = False) -> Decimal:
    """A contract amount (engine.store.bounds.amount); blank is 0, or refused when `required`."""
    text = (row.get(key) or "").strip()
    if not text:
        if required:
            raise ValueError(f"{key} is required for this plan")
        return ZERO
    return amount(key, text)


def percent(row: dict[str, str | None], key: str) -> Decimal | None:
    """A margin band, 0 to 100 with at most two decimals; None for `none` (clear it). Blank: see `account_values`."""
    text = (row.get(key) or "").strip()
    if text.lower() == CLEAR:
        return None
    value = number(key, text.removesuffix("%").strip())
    if not ZERO <= value <= HUNDRED:
        raise ValueError(f"{key} must be a percentage from 0 to 100, got {shown(text)}")
    if value.quantize(_PCT_STEP) != value:
        raise ValueError(f"{key} {shown(text)} has more than {PCT_PLACES} decimal places")
    return value


def date_cell(row: dict[str, str | None], key: str) -> date | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key} must be a date like 2026-01-31, got {shown(text)}") from None


def seats_cell(row: dict[str, str | None]) -> int:
    text = (row.get("seats") or "").strip()
    if not text:
        return 0
    if len(text) > 12 or not text.lstrip("+-").isdigit() or not text.isascii():  # isdigit() passes ４２ too
        raise ValueError(f"seats must be a whole number, got {shown(text)}")
    seats = int(text)
    if seats < 0:
        raise ValueError("seats must not be negative")
    if seats > SEATS_MAX:
        raise ValueError(f"seats must be at most {SEATS_MAX:,}, got {seats:,}")
    return seats


_Word = TypeVar("_Word", Plan, Unit)


def word(words: type[_Word], row: dict[str, str | None], key: str) -> _Word:
    """The row's `key` as one of `words` (any case); a ValueError listing them otherwise."""
    text = (row.get(key) or "").strip()
    try:
        return words(text.lower())
    except ValueError:
        raise ValueError(f"{key} must be one of {', '.join(words)}, got {shown(text)}") from None


def account_values(row: dict[str, str | None]) -> dict[str, object]:
    """The customer-wide columns this row fills (owner, breach_pct, healthy_pct), checked."""
    out: dict[str, object] = {}
    owner = text_cell(row, "owner")
    if owner:
        out["owner"] = () if owner.lower() == CLEAR else parse_owners_cell(owner)
    for key in ("breach_pct", "healthy_pct"):
        if (row.get(key) or "").strip():
            out[key] = percent(row, key)
    breach, healthy = out.get("breach_pct"), out.get("healthy_pct")
    if isinstance(breach, Decimal) and isinstance(healthy, Decimal) and breach > healthy:
        raise ValueError(f"breach_pct {breach} is above healthy_pct {healthy}")
    return out


def parse_owners_cell(owner: str) -> tuple[str, ...]:
    try:
        return parse_owners(owner)
    except ValueError as exc:
        raise ValueError(f"owner: {exc}") from None


def parse_contract(row: dict[str, str | None], line: int = 0) -> ContractRow:
    """One CSV row → a checked ContractRow. Raises ValueError naming the field."""
    customer = text_cell(row, "customer")
    if not customer:
        raise ValueError("customer is required")
    product = text_cell(row, "product")
    if product.casefold() in EVERY_PRODUCT_WORDS:
        raise ValueError(
            f"product {shown(product)} would be a product of that name, which no usage has: leave product blank for a "
            "contract that covers every product"
        )
    name, aliases = text_cell(row, "customer_name"), text_cell(row, "aliases")
    plan = word(Plan, row, "plan")
    start = date_cell(row, "start")
    if start is None:
        raise ValueError("start is required")
    end = date_cell(row, "end")
    if end is not None and end < start:
        raise ValueError(f"end {end} is before start {start}")
    seats = seats_cell(row)
    unit = word(Unit, row, "unit") if (row.get("unit") or "").strip() else None
    if plan.is_metered and unit is None:
        raise ValueError(f"unit is required for a {plan} plan")
    if plan is Plan.SEAT and seats <= 0:
        raise ValueError("a seat plan needs seats > 0")
    seat_price = money(row, "seat_price_usd", required=plan is Plan.SEAT)
    if plan.has_seats and seats * seat_price > MONEY_MAX:
        raise ValueError(f"seats × seat_price_usd is more than a contract holds a month (at most {MONEY_MAX:,})")
    contract = Contract(
        customer=customer,
        product=product,
        plan=plan,
        start=start,
        end=end,
        seats=seats,
        seat_price_usd=seat_price,
        platform_fee_usd=money(row, "platform_fee_usd", required=plan is Plan.FLAT),
        included_units=money(row, "included_units"),
        unit=unit or "",
        unit_price_usd=money(row, "unit_price_usd", required=plan.is_metered),
    )
    _charged_only(contract, plan)
    return ContractRow(line=line, contract=contract, name=name, aliases=aliases, account=account_values(row))


def _charged_only(c: Contract, plan: Plan) -> None:
    """Refuse a value the plan does not charge: a seat plan's platform fee was stored, shown in the terms and left
    out of revenue, which then read $5,000 a month short with the fee on screen beside it."""
    hybrid = "hybrid for seats, a fee and usage"
    for name, value, charged, fix in (
        ("platform_fee_usd", c.platform_fee_usd, plan.has_fee, f"use plan {hybrid}"),
        ("seats", c.seats, plan.has_seats, f"use plan seat, or {hybrid}"),
        ("seat_price_usd", c.seat_price_usd, plan.has_seats, f"use plan seat, or {hybrid}"),
        ("unit_price_usd", c.unit_price_usd, plan.is_metered, f"use plan usage, or {hybrid}"),
        ("included_units", c.included_units, plan is Plan.HYBRID, "use plan hybrid for units included in its fee"),
    ):
        if value and not charged:
            raise ValueError(f"{name} is not charged on a {plan} plan: {fix}, or leave it blank")
