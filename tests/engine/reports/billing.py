"""Billed revenue stored as a Stripe sync stores it (`revenue_actual`), for tests of how it is split and shown."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine, text


def store_invoice_line(
    engine: Engine, line: str, customer: str, start: str, end: str, amount: Decimal | int, product: str = ""
) -> None:
    """One invoice line of `amount` dollars over the days `start` to `end` (inclusive)."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                "currency, invoice_id) VALUES (:id, 'stripe', :c, :p, :a, :b, :amount, 'usd', :id)"
            ),
            {"id": line, "c": customer, "p": product, "a": start, "b": end, "amount": amount},
        )


def store_one_off(engine: Engine, line: str, customer: str, day: str, amount: Decimal | int, product: str = "") -> None:
    """A one-off charge (a Stripe invoice item, a setup fee) of `amount` dollars on `day`."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO revenue_actual (id, source, customer, product, period_start, period_end, amount_usd, "
                "currency, invoice_id, one_off) VALUES (:id, 'stripe', :c, :p, :d, :d, :amount, 'usd', :id, :once)"
            ),
            {"id": line, "c": customer, "p": product, "d": day, "amount": amount, "once": True},
        )
