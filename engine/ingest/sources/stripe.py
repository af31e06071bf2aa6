"""Stripe invoices → billed revenue lines (revenue_actual); subscriptions → seat counts on seat contracts.

Each invoice line is stored with its own `period` (the invoice's period_start/end look back one period on
subscription invoices). Amounts are integers in cents; a line's revenue is its amount less its discounts, the
billing credits applied before tax and the tax a tax-inclusive price includes: before tax. The credit notes issued
on an invoice (its pre- and post-payment credit note amounts, tax included) are then taken off its lines: their
share before tax, split across the lines that charge in proportion to their amounts (see `_after_credit_notes`). Only
finalized invoices count (open, paid, uncollectible); a draft may still change, and a voided invoice's lines are
removed. An uncollectible invoice's lines stay as revenue, marked: the write-off is a bad-debt expense, not a reversal
of what was earned. Invoices are re-read for REVISIT days after creation, because they get paid, credited, voided and
finalized after they are created; a re-read invoice's lines replace the ones stored for it (see `_line_key` for
their ids), so nothing is counted twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx

from config.settings import Settings
from engine.ingest.events import shown
from engine.ingest.sources.base import (
    DAY,
    FIRST_SYNC_DAYS,
    Batch,
    Context,
    Window,
    count,
    from_unix,
    leaves_a_gap,
    records,
    split,
    stable_id,
)
from engine.ingest.sources.http import Fetcher, SourceError, starting_after, v1_fetcher
from engine.money import usd_text
from engine.store.bounds import MONEY_PLACES

NAME = "stripe"
REVISIT = timedelta(days=40)
# An invoice marked uncollectible was finalized and its service given: its revenue stays (marked), as accrual
# accounting keeps it; the write-off is a bad-debt expense outside gross margin. A void one was never owed.
COUNTED = {"open", "paid", "uncollectible"}
REMOVED = {"void"}
SEAT_STATUSES = {"active", "past_due"}
# Three 429s on one page failed the window and lost every page of it read before. Stripe sends no Retry-After and asks
# for exponential backoff, so a request backs off 1, 2, 4, … s, up to this many seconds in all, before it gives up.
RATE_LIMIT_WAIT = 120.0
# Invoices are read in windows of this many days of creation, each written in its own transaction: a sync that fails
# keeps the invoices of the windows before (each invoice whole, its lines and credit notes together), where one
# window for the whole range lost every invoice read when a late page failed. Subscriptions, which set seats as
# their sum, are read whole by the last window.
CHUNK = timedelta(days=10)
_CENT = Decimal(100)
# Credit note shares are kept to what revenue_actual.amount_usd holds exactly (NUMERIC, MONEY_PLACES decimals):
# a cent is this many of those units.
_UNITS_PER_CENT = 10 ** (MONEY_PLACES - 2)


class StripeConnector:
    name = NAME
    reads_usage = False

    def missing(self, settings: Settings) -> str | None:
        return None if settings.stripe_api_key else "set STRIPE_API_KEY (a restricted key with read access is enough)"

    def fetcher(
        self, settings: Settings, *, transport: httpx.BaseTransport | None, sleep: Callable[[float], None]
    ) -> Fetcher:
        assert settings.stripe_api_key is not None
        key = settings.stripe_api_key.get_secret_value()
        return v1_fetcher(
            NAME,
            settings.stripe_base_url,
            key,
            {"Authorization": f"Bearer {key}"},
            transport=transport,
            sleep=sleep,
            rate_limit_wait=RATE_LIMIT_WAIT,
        )

    def windows(
        self, ctx: Context, cursor: Mapping[str, Any] | None, since: datetime | None, until: datetime | None
    ) -> list[Window]:
        if since is not None:
            start = since
        elif cursor and cursor.get("created") is not None:
            start = from_unix(int(cursor["created"]), "sync cursor", NAME) - REVISIT
        else:
            start = ctx.now - timedelta(days=FIRST_SYNC_DAYS)
        end = min(until, ctx.now) if until is not None else ctx.now
        windows = [replace(w, reads_state=False) for w in split(start, end, CHUNK, DAY)]
        return [*windows[:-1], replace(windows[-1], reads_state=True)] if windows else []

    def cursor_after(self, window: Window, cursor: Mapping[str, Any] | None, ctx: Context) -> dict[str, Any]:
        if not cursor or cursor.get("created") is None:
            return {"created": int(window.end.timestamp())}
        previous = int(cursor["created"])
        if leaves_a_gap(window, from_unix(previous, "sync cursor", NAME)):
            return dict(cursor)
        return {"created": max(previous, int(window.end.timestamp()))}

    def fetch(self, fetcher: Fetcher, window: Window, ctx: Context) -> Batch:
        batch = Batch()
        params = [
            ("limit", 100),
            ("created[gte]", int(window.start.timestamp())),
            ("created[lt]", int(window.end.timestamp())),
        ]
        for page in fetcher.pages("invoices", params, starting_after()):
            for invoice in records(page, "data", "invoices page", NAME):
                _invoice(fetcher, invoice, ctx, batch)
        if not window.reads_state:
            return batch
        seats: list[dict[str, Any]] = []
        for page in fetcher.pages("subscriptions", [("limit", 100)], starting_after()):
            for sub in records(page, "data", "subscriptions page", NAME):
                seats += _subscription(sub, ctx, batch.notes)
        batch.seats += _seat_totals(seats)
        return batch


def _invoice(fetcher: Fetcher, invoice: Any, ctx: Context, batch: Batch) -> None:
    if not isinstance(invoice, Mapping) or not invoice.get("id"):
        raise SourceError(NAME, "invoices: an invoice must be an object with an id")
    invoice_id = str(invoice["id"])
    status = invoice.get("status")
    if status in REMOVED:
        batch.void_invoices.add(invoice_id)
        return
    if status not in COUNTED:
        return
    customer_id = invoice.get("customer")
    if isinstance(customer_id, Mapping):  # expanded
        customer_id = customer_id.get("id")
    # Billed revenue without a product is the customer's revenue across every product ('').
    target = ctx.mapping.resolve(NAME, [("customers", customer_id or None)], default_product="")
    lines_page = invoice.get("lines") or {}
    lines = list(records(lines_page, "data", f"invoice {invoice_id} lines", NAME))
    if isinstance(lines_page, Mapping) and lines_page.get("has_more") and lines:
        # More than the embedded first page: read the rest from the invoice's own lines list.
        # The first page starts after the embedded lines; the next ones after their own last line (one
        # `starting_after` a request, so it goes through the paging callback, not the fixed parameters).
        after = [("starting_after", lines[-1].get("id"))]
        for page in fetcher.pages(f"invoices/{invoice_id}/lines", [("limit", 100)], starting_after(), first=after):
            lines.extend(records(page, "data", f"invoice {invoice_id} lines", NAME))
    tz = ctx.settings.tz
    # Each USD line's row and its amount in cents before credit notes, by its key (a line read twice counts once).
    pending: dict[str, tuple[dict[str, Any], Decimal]] = {}
    skipped = False
    for line in lines:
        if not isinstance(line, Mapping) or not line.get("id"):
            raise SourceError(NAME, f"invoice {invoice_id}: a line must be an object with an id")
        where = f"invoice {invoice_id} line {line['id']}"
        currency = str(line.get("currency") or invoice.get("currency") or "").lower()
        period = line.get("period")
        if not isinstance(period, Mapping):
            raise SourceError(NAME, f"{where}: `period` must be an object with start and end")
        start = from_unix(period.get("start"), f"{where}: period.start", NAME)
        end = from_unix(period.get("end"), f"{where}: period.end", NAME)
        first = start.astimezone(tz).date()
        # Stripe's period end is the next period's start, at the billing anchor's time of day: the day it falls on is
        # the next period's first, so the last day billed is the day before, whatever the hour. (The day of the
        # second before it gave a line anchored at 17:23 UTC, or at midnight UTC read in New York, the next line's
        # first day too: a month of 32 days, the boundary day billed twice.)
        last = max(first, end.astimezone(tz).date() - timedelta(days=1)) if end > start else first
        product = ctx.mapping.stripe_product(_line_product(line))
        key = _line_key(invoice_id, line)
        row = {
            "id": key,
            "source": NAME,
            "customer": target.customer,
            "product": product if product is not None else target.product,
            "period_start": first,
            "period_end": last,
            "invoice_id": invoice_id,
        }
        if currency != "usd":
            batch.notes.append(f"{where}: {currency.upper() or '?'} amounts are not supported; skipped")
            skipped = True
            # Kept in its own currency, so the answers over its days say it was left out (revenue_unconverted).
            minor = line.get("amount")
            batch.unconverted[key] = {
                **row,
                "currency": currency or "?",
                "amount_minor": minor if isinstance(minor, int) and not isinstance(minor, bool) else 0,
            }
            continue
        batch.read += 1
        amount = _cents(line.get("amount"), f"{where}: amount") - _deductions(line, where, batch.notes)
        if not target.mapped:
            batch.unmapped[target.feature] += 1
        # An invoice item's period starts where it ends: a one-off charge, no service period.
        pending[key] = (
            {**row, "currency": currency, "one_off": end <= start, "uncollectible": status == "uncollectible"},
            amount,
        )
    nets = [amount for _, amount in pending.values()]
    amounts = _after_credit_notes(invoice, invoice_id, nets, skipped, batch.notes)
    for (line_id, (row, _)), amount_usd in zip(pending.items(), amounts, strict=True):
        batch.revenue[line_id] = {**row, "amount_usd": amount_usd}


def _line_key(invoice_id: str, line: Mapping[str, Any]) -> str:
    """The id a line is stored under: unique across invoices, and the same at every sync.

    Since API version 2019-12-03 a line's id is `il_…` and globally unique: it is the key, as it always was, so lines
    stored by earlier syncs keep their rows. Before it (an account on an older version: marginbot sends no
    Stripe-Version) the id (`sub_`, `su_`, `sli_`, `ii_`, `item_`) was not unique: a subscription's line was `sub_X`
    on every month's invoice, and stored by it alone November's line replaced October's. Such a line's `unique_id`
    (`il_…`, the id a newer version gives it) is its key; without one, the invoice's id and the line's id together.
    """
    unique = line.get("unique_id")
    if isinstance(unique, str) and unique:
        return stable_id(unique)
    line_id = str(line["id"])
    return stable_id(line_id) if line_id.startswith("il_") else stable_id(invoice_id, line_id)


def _after_credit_notes(
    invoice: Mapping[str, Any], invoice_id: str, nets: list[Decimal], skipped: bool, notes: list[str]
) -> list[Decimal]:
    """The USD lines' revenue (`nets`, cents) less the invoice's credit notes, in USD.

    Stripe adds every issued credit note (not a voided one) to the invoice's `pre_payment_credit_notes_amount`
    (issued while it was unpaid) or `post_payment_credit_notes_amount` (after: refunds, balance credits). Their
    amounts include tax; the lines are before tax, so the part taken off is the credit times the invoice's
    `total_excluding_tax` over its `total`, i.e. the credit is assumed to cover tax and revenue alike (the credit
    notes' own lines are not read). That part is split across the lines that charge something (a negative line is
    left as billed) in proportion to their amounts, exactly: rounded to the column's units (1e-6 USD), the remainder
    units going to the lines whose exact shares lost the most in rounding (the first such line on a tie), so the
    shares add up to it. A credit taking off more than those lines charge stores them at zero, never below, and
    says so in the sync's notes. Stripe bills one currency per invoice: a USD invoice with lines skipped for their
    currency has only the USD lines' share of the invoice's pre-tax total taken off, and a credit on an invoice in
    another currency is not applied (both noted).
    """
    where = f"invoice {invoice_id}"
    credit = Decimal(0)
    for key in ("pre_payment_credit_notes_amount", "post_payment_credit_notes_amount"):
        value = invoice.get(key)
        if value is not None:  # absent or null: none issued
            cents = _cents(value, f"{where}: {key}")
            if cents < 0:
                raise SourceError(NAME, f"{where}: {key} must be a non-negative integer number of cents, got {value!r}")
            credit += cents
    plain = [net / _CENT for net in nets]
    if not credit or not nets:
        return plain
    currency = str(invoice.get("currency") or "").lower()
    if currency != "usd":
        notes.append(f"{where}: credit notes in {currency.upper() or '?'} are not subtracted from its USD lines")
        return plain
    total = _cents(invoice.get("total"), f"{where}: total")
    raw = invoice.get("total_excluding_tax")
    before_tax = total if raw is None else _cents(raw, f"{where}: total_excluding_tax")
    part = Fraction(int(credit) * _UNITS_PER_CENT)
    if total > 0:
        part *= _fraction(Fraction(int(before_tax), int(total)))
    net_units = [int(net) * _UNITS_PER_CENT for net in nets]
    held = sum(net_units)
    if skipped:
        share = Fraction(held, int(before_tax) * _UNITS_PER_CENT) if before_tax > 0 else Fraction(1)
        part *= _fraction(share)
        notes.append(
            f"{where}: lines in other currencies skipped; {_usd(_half_up(part))} of its credit notes"
            f" ({_usd(int(credit) * _UNITS_PER_CENT)}) taken off its USD lines, their share of the invoice"
        )
    credited = _half_up(part)  # exact when there is no tax and no line skipped
    if credited <= 0:
        return plain
    # The credit comes off the lines that charge something, in proportion to them: a negative line (the unused time
    # of a plan changed mid-cycle) is a credit already, and scaling it too would move revenue between products and
    # periods by more than the credit (a $10 credit on +$100 and -$50 took $20 off one and added $10 to the other).
    charged = sum(units for units in net_units if units > 0)
    if charged <= 0:
        notes.append(f"{where}: credit notes of {_usd(credited)} not subtracted: none of its lines charges anything")
        return plain
    if credited >= charged:
        if credited > charged:
            notes.append(
                f"{where}: credit notes of {_usd(credited)} before tax exceed what its lines charge ({_usd(charged)}):"
                " those lines are stored at $0, not below"
            )
        return [Decimal(0) if units > 0 else amount for units, amount in zip(net_units, plain, strict=True)]
    exact = [Fraction(credited * units, charged) if units > 0 else Fraction(0) for units in net_units]
    shares = [share.numerator // share.denominator for share in exact]  # floor
    left = credited - sum(shares)  # 0 <= left < the number of lines that charge
    by_loss = sorted((i for i, units in enumerate(net_units) if units > 0), key=lambda i: (-(exact[i] - shares[i]), i))
    for i in by_loss[:left]:
        shares[i] += 1
    return [Decimal(units - share).scaleb(-MONEY_PLACES) for units, share in zip(net_units, shares, strict=True)]


def _half_up(value: Fraction) -> int:
    """A non-negative `value` to the nearest whole unit, a half up (the house rounding)."""
    return int((value + Fraction(1, 2)) // 1)


def _fraction(value: Fraction) -> Fraction:
    """`value` held between 0 and 1."""
    return min(max(value, Fraction(0)), Fraction(1))


def _usd(units: int) -> str:
    """An amount in the column's units (1e-6 USD), as dollars to the cent for notes (half up, as every figure)."""
    return usd_text(Decimal(units).scaleb(-MONEY_PLACES))


def _deductions(line: Mapping[str, Any], where: str, notes: list[str]) -> Decimal:
    """What of a line's `amount` is not revenue: its discounts, the billing credits applied before tax, and the
    tax included in a tax-inclusive price (exclusive tax is not in `amount`)."""
    total = Decimal(0)
    discounts = _entries(line, "discount_amounts", where)
    credits = _entries(line, "pretax_credit_amounts", where)
    for entry in discounts:
        total += _cents(entry.get("amount"), f"{where}: discount_amounts.amount")
    for entry in credits:
        kind = entry.get("type")
        if kind == "credit_balance_transaction" or (kind == "discount" and not discounts):
            # A discount is listed both in discount_amounts and here: counted once, from discount_amounts.
            total += _cents(entry.get("amount"), f"{where}: pretax_credit_amounts.amount")
        elif kind != "discount":
            notes.append(f"{where}: pretax credit of unknown type {shown(kind)} not subtracted")
    # Current API versions list `taxes`; versions before 2025-03-31 (basil) list `tax_amounts`: one is read.
    taxes = _entries(line, "taxes", where)
    for entry in taxes:
        behavior = entry.get("tax_behavior")
        if behavior not in ("inclusive", "exclusive"):
            raise SourceError(
                NAME, f"{where}: taxes.tax_behavior must be 'inclusive' or 'exclusive', got {shown(behavior)}"
            )
        if behavior == "inclusive":
            total += _cents(entry.get("amount"), f"{where}: taxes.amount")
    for entry in [] if taxes else _entries(line, "tax_amounts", where):
        inclusive = entry.get("inclusive")
        if not isinstance(inclusive, bool):
            raise SourceError(NAME, f"{where}: tax_amounts.inclusive must be true or false, got {shown(inclusive)}")
        if inclusive:
            total += _cents(entry.get("amount"), f"{where}: tax_amounts.amount")
    return total


def _entries(line: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    """A line's list of amount objects (`discount_amounts`, `taxes`, ...); absent or null is none."""
    value = line.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(entry, Mapping) for entry in value):
        raise SourceError(NAME, f"{where}: {key} must be a list of objects, got {value!r:.80}")
    return value


def _line_product(line: Mapping[str, Any]) -> str | None:
    """The Stripe product id of an invoice line, in the current (pricing) or the older (price) shape."""
    pricing = line.get("pricing")
    if isinstance(pricing, Mapping):
        details = pricing.get("price_details")
        if isinstance(details, Mapping) and details.get("product"):
            return str(details["product"])
    price = line.get("price")
    if isinstance(price, Mapping) and price.get("product"):
        product = price["product"]
        return str(product.get("id") if isinstance(product, Mapping) else product)
    return None


def _subscription(sub: Any, ctx: Context, notes: list[str]) -> list[dict[str, Any]]:
    """A subscription's seats: per product, its licensed items' quantities added up.

    A licensed price's quantity is the number of seats whatever its billing scheme: per unit, or tiered (graduated
    or volume, a seat costing less past the 10th). A tiered price has no one amount a seat, so the seat contract's
    seat price is left as it is, and the sync's notes say that the seats are billed as its invoices say (the invoice
    lines Stripe bills replace the contract's revenue on the days they cover). Skipped, a tiered price's 14 seats left
    the contract at 10, and nothing said so."""
    if not isinstance(sub, Mapping) or not sub.get("id"):
        raise SourceError(NAME, "subscriptions: a subscription must be an object with an id")
    if sub.get("status") not in SEAT_STATUSES:
        return []
    target = ctx.mapping.resolve(NAME, [("customers", sub.get("customer") or None)], default_product="")
    seats: dict[str, int] = {}
    for item in records(sub.get("items") or {}, "data", f"subscription {sub['id']} items", NAME):
        price = item.get("price") if isinstance(item, Mapping) else None
        if not isinstance(price, Mapping):
            continue
        recurring = price.get("recurring")
        # Licensed per-unit prices are seats; metered prices are usage, billed on the invoice.
        if not isinstance(recurring, Mapping) or recurring.get("usage_type") != "licensed":
            continue
        scheme = price.get("billing_scheme") or "per_unit"
        quantity = count(item.get("quantity"), f"subscription {sub['id']}: quantity", NAME)
        if scheme not in ("per_unit", "tiered"):
            notes.append(
                f"subscription {sub['id']}: {quantity} seat(s) of price {price.get('id')} not applied: its billing "
                f"scheme {shown(scheme)} is unknown to marginbot"
            )
            continue
        product = ctx.mapping.stripe_product(str(price.get("product") or "")) or target.product
        if scheme == "tiered":
            mode = price.get("tiers_mode")
            how = f" ({mode})" if isinstance(mode, str) and mode else ""
            notes.append(
                f"subscription {sub['id']}: price {price.get('id')} is tiered{how}: its {quantity} seat(s) are "
                "counted; a tiered price has no one price a seat, so what they are billed is read from its invoices "
                "and the seat contract's seat price is left as it is"
            )
        seats[product] = seats.get(product, 0) + quantity
    return [
        {
            "customer": target.customer,
            "mapped": target.mapped,
            "product": product if target.mapped else "",
            "seats": quantity,
            "subscription": str(sub["id"]),
            "trace": target.feature,
        }
        for product, quantity in seats.items()
    ]


def _seat_totals(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each customer's seats of a product, added up across all its subscriptions (and the Stripe customers mapped to
    it), as the items of one subscription are: a customer's teams on two subscriptions of a product, 5 and 10 seats,
    hold 15. Applied one after the other, each set the contract in turn (15 → 5 → 10) and every sync flipped it back.
    Kept per product: seats of different products set each product's own contract. An unmapped customer's are kept
    per Stripe customer, to be listed as such."""
    totals: dict[tuple[str, str, str], dict[str, Any]] = {}
    for entry in entries:
        key = (entry["customer"], entry["product"], "" if entry["mapped"] else entry["trace"])
        total = totals.get(key)
        if total is None:
            totals[key] = dict(entry)
        else:
            total["seats"] += entry["seats"]
            total["subscription"] += f" + {entry['subscription']}"
    return list(totals.values())


def _cents(value: Any, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SourceError(NAME, f"{what} must be an integer number of cents, got {shown(value)}")
    return Decimal(value)


CONNECTOR = StripeConnector()
