"""Stripe invoices shaped as the API sends them (the fixture's first invoice, its lines replaced), for tests that
store billed revenue through the Stripe sync itself."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

from engine.ingest.sync import sync_source
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, fixture, stripe_list

PRODUCT = "prod_QXg1hqf4jFNsqG"  # "assist" in the tests' mapping; the fixture's customer is acme


def ts(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def line(line_id: str, cents: int, start: date, end: date, *, product: str | None = PRODUCT) -> dict[str, Any]:
    """A line of `cents` over [start, end) as Stripe gives a service period (end exclusive at midnight UTC)."""
    out: dict[str, Any] = {"id": line_id, "amount": cents, "period": {"start": ts(start), "end": ts(end)}}
    if product:
        out["pricing"] = {
            "type": "price_details",
            "price_details": {"price": "price_x", "product": product},
            "unit_amount_decimal": None,
        }
    return out


def invoice(invoice_id: str, lines: list[dict[str, Any]], created: date, **fields: Any) -> dict[str, Any]:
    inv = fixture("stripe_invoices_list.json")["data"][0]
    base = inv["lines"]["data"][0]
    out = []
    for given in lines:
        one = copy.deepcopy(base)
        one["invoice"] = invoice_id
        one.update(given)
        out.append(one)
    total = sum(one["amount"] for one in out)
    inv.update(id=invoice_id, status="paid", created=ts(created))
    inv["lines"] = {"object": "list", "data": out, "has_more": False, "url": f"/v1/invoices/{invoice_id}/lines"}
    inv.update(subtotal=total, total=total, total_excluding_tax=total, amount_due=total)
    inv.update(fields)
    return inv


def sync_invoices(rt: Runtime, vendor: Vendor, invoices: list[dict[str, Any]], since: date) -> str:
    """Serve `invoices` (and no subscriptions) and run the Stripe sync from `since`: its summary."""
    vendor.route("/v1/invoices", stripe_list(invoices))
    vendor.route("/v1/subscriptions", stripe_list([]))
    return sync_source(rt, "stripe", since=since, transport=vendor.transport).summary()
