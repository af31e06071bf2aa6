"""Contracts from CSV: who pays what, for which product, from when. A file is refused whole on any bad row."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, select

from engine.money import ZERO
from engine.store.models import Contract, Customer
from engine.vocab import Plan, Unit

COLUMNS = (
    "customer",
    "customer_name",
    "aliases",
    "product",
    "plan",
    "start",
    "end",
    "seats",
    "seat_price_usd",
    "platform_fee_usd",
    "included_units",
    "unit",
    "unit_price_usd",
)


class ContractFileError(ValueError):
    def __init__(self, path: str, errors: list[tuple[int, str]]) -> None:
        lines = [f"{path}: refused, nothing imported:"] + [f"  line {n}: {why}" for n, why in errors]
        super().__init__("\n".join(lines))
        self.errors = errors


@dataclass
class ContractImport:
    path: str
    created: int = 0
    replaced: int = 0
    customers: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.path}: {self.created} contract(s) added, {self.replaced} replaced, "
            f"for {len(self.customers)} customer(s)"
        )


def _money(row: dict[str, str], key: str, *, required: bool = False) -> Decimal:
    text = (row.get(key) or "").strip()
    if not text:
        if required:
            raise ValueError(f"{key} is required for this plan")
        return ZERO
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{key} must be a number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ValueError(f"{key} must be a non-negative number, got {text!r}")
    return value


def _date(row: dict[str, str], key: str) -> date | None:
    text = (row.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{key} must be a date like 2026-01-31, got {text!r}") from None


_Word = TypeVar("_Word", Plan, Unit)


def _word(words: type[_Word], row: dict[str, str], key: str) -> _Word:
    """The row's `key` as one of `words` (any case); a ValueError listing them otherwise."""
    try:
        return words((row.get(key) or "").strip().lower())
    except ValueError:
        raise ValueError(f"{key} must be one of {', '.join(words)}, got {row.get(key)!r}") from None


def parse_contract(row: dict[str, str]) -> tuple[Contract, str, str]:
    """One CSV row → (contract, customer name, aliases). Raises ValueError naming the field."""
    customer = (row.get("customer") or "").strip()
    if not customer:
        raise ValueError("customer is required")
    if len(customer) > 200:
        raise ValueError("customer is longer than 200 characters")
    plan = _word(Plan, row, "plan")
    start = _date(row, "start")
    if start is None:
        raise ValueError("start is required")
    end = _date(row, "end")
    if end is not None and end < start:
        raise ValueError(f"end {end} is before start {start}")
    seats_text = (row.get("seats") or "").strip()
    try:
        seats = int(seats_text) if seats_text else 0
    except ValueError:
        raise ValueError(f"seats must be a whole number, got {seats_text!r}") from None
    if seats < 0:
        raise ValueError("seats must not be negative")
    unit = _word(Unit, row, "unit") if (row.get("unit") or "").strip() else None
    if plan.is_metered and unit is None:
        raise ValueError(f"unit is required for a {plan} plan")
    if plan is Plan.SEAT and seats <= 0:
        raise ValueError("a seat plan needs seats > 0")
    contract = Contract(
        customer=customer,
        product=(row.get("product") or "").strip(),
        plan=plan,
        start=start,
        end=end,
        seats=seats,
        seat_price_usd=_money(row, "seat_price_usd", required=plan is Plan.SEAT),
        platform_fee_usd=_money(row, "platform_fee_usd", required=plan is Plan.FLAT),
        included_units=_money(row, "included_units"),
        unit=unit or "",
        unit_price_usd=_money(row, "unit_price_usd", required=plan.is_metered),
    )
    return contract, (row.get("customer_name") or "").strip(), (row.get("aliases") or "").strip()


def import_contracts_file(engine: Engine, path: Path | str, *, delimiter: str = ",") -> ContractImport:
    """Validate every row, then add or replace (same customer, product and start) in one transaction.

    `delimiter` separates the CSV fields."""
    from engine.ingest.headers import separator_hint, unknown_columns

    path = Path(path)
    parsed: list[tuple[Contract, str, str]] = []
    errors: list[tuple[int, str]] = []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle, delimiter=delimiter)
        header = [h.strip() for h in (reader.fieldnames or [])]
        if not header:
            raise ContractFileError(str(path), [(1, "the file is empty (a header line is required)")])
        hint = separator_hint(header, COLUMNS, delimiter)
        if hint:
            raise ContractFileError(str(path), [(1, hint)])
        unknown = [h for h in header if h not in COLUMNS]
        missing = [c for c in ("customer", "plan", "start") if c not in header]
        if unknown or missing:
            why = unknown_columns(unknown, COLUMNS) if unknown else f"missing column(s) {missing}"
            raise ContractFileError(
                str(path), [(1, why if unknown else f"{why}; the columns are: {', '.join(COLUMNS)}")]
            )
        reader.fieldnames = header
        seen: dict[tuple[str, str, date], int] = {}
        for row in reader:
            try:
                item = parse_contract(row)
            except ValueError as exc:
                errors.append((reader.line_num, str(exc)))
                continue
            key = (item[0].customer, item[0].product, item[0].start)
            if key in seen:
                errors.append((reader.line_num, f"same customer, product and start as line {seen[key]}"))
                continue
            seen[key] = reader.line_num
            parsed.append(item)
    if errors:
        raise ContractFileError(str(path), errors)
    result = ContractImport(path=str(path))
    with Session(engine) as session:
        for contract, name, aliases in parsed:
            existing = session.exec(
                select(Contract).where(
                    Contract.customer == contract.customer,
                    Contract.product == contract.product,
                    Contract.start == contract.start,
                )
            ).first()
            if existing is not None:
                session.delete(existing)
                session.flush()
                result.replaced += 1
            else:
                result.created += 1
            session.add(contract)
            customer = session.get(Customer, contract.customer)
            if customer is None:
                customer = Customer(id=contract.customer, name=name or contract.customer, aliases=aliases)
                session.add(customer)
            else:
                customer.name = name or customer.name or contract.customer
                customer.aliases = aliases or customer.aliases
            if contract.customer not in result.customers:
                result.customers.append(contract.customer)
        session.commit()
    return result
