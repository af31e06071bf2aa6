"""Days a customer billed by invoice has not been invoiced for yet.

A customer billed in arrears (a metered Stripe price invoiced after each month) has its revenue only once the
invoice comes: on the days after its last billed line, with no contract in force, the window counts the days'
COGS against no revenue. The figures stay as they are (every day's COGS, the revenue billed), and the answers say
which days are not invoiced yet and what the margin is over the days that are (`NotInvoiced`); the alerts judge
such a customer on its billed days alone, so the days awaiting an invoice do not open a breach.

A tail counts as "not invoiced yet" while it is no longer than its last billed line's service period plus
`GRACE_DAYS` (the next invoice of the same length is due when that period ends, and takes a few days to be
finalised and synced). Past that, the days are cost without revenue like any other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Connection, text

from engine.money import CENT, TENTH, ZERO, json_number, pct_text, usd, usd_text
from engine.periods import Period
from engine.reports.figures import Figures
from engine.reports.revenue import contracts_in, scoped
from engine.store.sql import COST_SUM
from engine.timeutil import as_date

GRACE_DAYS = 7


def _without(b: Figures, label: str) -> str:
    """The figures without the days not invoiced yet, in words ("; over the billed days: revenue …"), if any."""
    if b.revenue <= 0 and b.cogs <= 0:
        return ""
    margin = b.margin_pct
    shown = pct_text(margin, TENTH) if margin is not None else "n/a"
    return f"; {label}: revenue {usd_text(b.revenue)}, COGS {usd_text(b.cogs)}, gross margin {shown}"


def _billed_days(b: Figures) -> dict[str, object]:
    # Half-up once, as every --json figure (round() on a Decimal is half-even: 0.125 read 0.12).
    return {
        "revenue_usd": json_number(b.revenue, CENT),
        "cogs_usd": json_number(b.cogs, CENT),
        "gross_margin_pct": json_number(b.margin_pct, CENT),
        "status": b.status,
    }


@dataclass(frozen=True, kw_only=True)
class NotInvoiced:
    """A billed customer's last days of a period that no invoice covers yet (and no contract)."""

    customer: str
    billed_through: date  # the last day its billed lines cover
    start: date  # the first day of the period not invoiced yet
    end: date  # the period's last day
    cogs: Decimal  # the COGS of those days, counted against no revenue
    cogs_by_product: dict[str, Decimal]  # that COGS by product (a product's alert is judged without it too)
    billed: Figures  # the period's figures over the days its invoices cover: its revenue, the COGS of those days

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def text(self) -> str:
        """The plain words: what is billed, what is not yet, and the margin over the billed days."""
        days = f"{self.start} to {self.end}" if self.days > 1 else f"{self.start}"
        out = (
            f"revenue is billed through {self.billed_through}; {days} ({self.days} day{'s' * (self.days != 1)}) "
            f"not invoiced yet, so COGS {usd_text(self.cogs)} of those days has no revenue against it until the "
            "invoice comes"
        )
        return out + _without(self.billed, "over the billed days")

    def as_dict(self) -> dict[str, object]:
        return {
            "billed_through": self.billed_through.isoformat(),
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "days": self.days,
            "cogs_usd": json_number(self.cogs, CENT),
            "billed_days": _billed_days(self.billed),
            "text": self.text(),
        }


def awaiting(conn: Connection, period: Period, customers: list[str] | None = None) -> dict[str, tuple[date, date]]:
    """For each customer billed by invoice whose last billed line ends before the period does, no longer ago than
    that line's service period plus GRACE_DAYS, with no contract in force after it: (billed through, first day of
    the period not invoiced yet)."""
    # A one-off charge bills no service period: the invoice a customer awaits is of its service lines.
    sql = "SELECT customer, period_start, period_end FROM revenue_actual WHERE period_end >= :early AND NOT one_off"
    early = period.start - timedelta(days=400)
    last: dict[str, tuple[date, int]] = {}
    for customer, start, end in conn.execute(text(sql), {"early": early}):
        if customers is not None and customer not in customers:
            continue
        a, b = as_date(start), as_date(end)
        length = (b - a).days + 1
        seen = last.get(customer)
        if seen is None or b > seen[0] or (b == seen[0] and length > seen[1]):
            last[customer] = (b, length)
    out: dict[str, tuple[date, date]] = {}
    for customer, (through, length) in last.items():
        if through >= period.end or (period.end - through).days > length + GRACE_DAYS:
            continue
        start = max(through + timedelta(days=1), period.start)
        if contracts_in(conn, Period(start, period.end, "not invoiced"), [customer]):
            continue  # its contract's revenue counts on those days
        out[customer] = (through, start)
    return out


def not_invoiced(
    conn: Connection, period: Period, figures: dict[str, Figures], customers: list[str] | None = None
) -> dict[str, NotInvoiced]:
    """`awaiting`, with each customer's COGS of the days not invoiced yet and its figures over the billed days.
    `figures`: the customers' figures over the whole period (the report's or the portfolio row's)."""
    out: dict[str, NotInvoiced] = {}
    for customer, (through, start) in awaiting(conn, period, customers).items():
        whole = figures.get(customer)
        if whole is None:
            continue
        sql = (
            f"SELECT product, SUM({COST_SUM}) FROM daily_customer_product WHERE customer = :c "
            "AND day BETWEEN :a AND :b GROUP BY product"
        )
        nanos = {p: int(n or 0) for p, n in conn.execute(text(sql), {"c": customer, "a": start, "b": period.end})}
        by_product = {p: usd(n) for p, n in nanos.items() if n}
        cogs = usd(sum(nanos.values()))
        if cogs <= 0:
            continue  # nothing counted against the missing revenue: the figures read as they are
        billed = replace(whole, cogs=whole.cogs - cogs)
        out[customer] = NotInvoiced(
            customer=customer,
            billed_through=through,
            start=start,
            end=period.end,
            cogs=cogs,
            cogs_by_product=by_product,
            billed=billed,
        )
    return out


@dataclass(frozen=True, kw_only=True)
class CustomerDays:
    """One customer's days not invoiced yet, with the COGS they put on one product."""

    customer: str
    billed_through: date
    start: date
    end: date
    cogs: Decimal  # of the product, on those days

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def text(self) -> str:
        days = f"{self.start} to {self.end}" if self.days > 1 else f"{self.start}"
        return (
            f"{self.customer} is billed through {self.billed_through}, {days} ({self.days} "
            f"day{'s' * (self.days != 1)}, COGS {usd_text(self.cogs)}) not invoiced yet"
        )


# Customers a product's note names in its words; its --json lists every one.
NAMED = 5


@dataclass(frozen=True, kw_only=True)
class ProductNotInvoiced:
    """A product's COGS on the days its customers billed in arrears have no invoice for yet (`awaiting`): counted
    against no revenue until their invoices come, so the product's revenue is short by those days."""

    product: str
    customers: list[CustomerDays]  # most COGS first
    billed: Figures  # the product's figures without that COGS: over the days its customers' invoices cover

    @property
    def cogs(self) -> Decimal:
        return sum((c.cogs for c in self.customers), ZERO)

    def text(self) -> str:
        """Which customers, which days, and the product's margin without them."""
        named = "; ".join(c.text() for c in self.customers[:NAMED])
        if len(self.customers) > NAMED:
            more = len(self.customers) - NAMED
            named += f"; and {more} more customer{'s' * (more != 1)}"
        out = (
            f"{named}, so COGS {usd_text(self.cogs)} of {self.product} on those days has no revenue against it until "
            f"the invoice{'s' * (len(self.customers) != 1)} come{'s' * (len(self.customers) == 1)}"
        )
        return out + _without(self.billed, "without those days")

    def as_dict(self) -> dict[str, object]:
        return {
            "customers": [
                {
                    "customer": c.customer,
                    "billed_through": c.billed_through.isoformat(),
                    "from": c.start.isoformat(),
                    "to": c.end.isoformat(),
                    "days": c.days,
                    "cogs_usd": json_number(c.cogs, CENT),
                }
                for c in self.customers
            ],
            "cogs_usd": json_number(self.cogs, CENT),
            "billed_days": _billed_days(self.billed),
            "text": self.text(),
        }


def product_not_invoiced(conn: Connection, period: Period, product: str, whole: Figures) -> ProductNotInvoiced | None:
    """The customers of `product` awaiting an invoice for the period's last days (`awaiting`) that used it on those
    days, with that COGS; `whole`: the product's figures over the period. None when there are none."""
    sql = (
        f"SELECT SUM({COST_SUM}) FROM daily_customer_product WHERE customer = :c AND product = :p "
        "AND day BETWEEN :a AND :b"
    )
    days = []
    for customer, (through, start) in sorted(awaiting(conn, period).items()):
        nanos = conn.execute(text(sql), {"c": customer, "p": product, "a": start, "b": period.end}).scalar()
        if nanos:
            days.append(
                CustomerDays(
                    customer=customer, billed_through=through, start=start, end=period.end, cogs=usd(int(nanos))
                )
            )
    if not days:
        return None
    days.sort(key=lambda c: (-c.cogs, c.customer))
    cogs = sum((c.cogs for c in days), ZERO)
    return ProductNotInvoiced(product=product, customers=days, billed=replace(whole, cogs=whole.cogs - cogs))


# Stripe's currencies without a minor unit: an amount in them is in whole units (¥9,000 is 9000).
ZERO_DECIMAL = frozenset(
    ["bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"]
)
# Stripe's three-decimal currencies, whose amounts it sends in thousandths (KWD 9,000.000 is 9000000).
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])


def minor_units(currency: str) -> int:
    """How many decimals Stripe's integer amounts of `currency` hold."""
    return 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2


@dataclass(frozen=True, kw_only=True)
class Unconverted:
    """A billed line in a currency marginbot does not read (revenue_unconverted), left out of revenue."""

    customer: str
    invoice: str
    line: str
    product: str
    start: date
    end: date
    currency: str  # upper case: "EUR"
    amount: Decimal  # in that currency's units (cents divided)

    def text(self) -> str:
        days = f"{self.start} to {self.end}" if self.end != self.start else f"{self.start}"
        amount = f"{self.amount:,.{minor_units(self.currency.lower())}f}"
        return (
            f"invoice {self.invoice} of {self.customer} ({self.currency} {amount}, line {self.line}, {days}) is left "
            f"out of revenue until converted: marginbot reads USD invoices only, so {self.customer}'s revenue on those "
            "days is its contract's, if any"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "customer": self.customer,
            "invoice": self.invoice,
            "line": self.line,
            "product": self.product or None,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "currency": self.currency,
            "amount": float(self.amount),
            "text": self.text(),
        }


def unconverted(conn: Connection, period: Period, customers: list[str] | None = None) -> list[Unconverted]:
    """Billed lines of `customers` (all when None) in another currency than USD whose service period overlaps
    `period`: left out of its revenue, which the answers say."""
    sql = (
        "SELECT customer, invoice_id, id, product, period_start, period_end, currency, amount_minor "
        "FROM revenue_unconverted WHERE period_start <= :b AND period_end >= :a"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    sql = scoped(sql, params, customers)
    out = []
    for customer, invoice, line_id, product, start, end, currency, minor in conn.execute(text(sql), params):
        if customers is not None and customer not in customers:
            continue
        cur = str(currency)
        amount = Decimal(int(minor)).scaleb(-minor_units(cur))
        out.append(
            Unconverted(
                customer=customer,
                invoice=invoice,
                line=line_id,
                product=product,
                start=as_date(start),
                end=as_date(end),
                currency=cur.upper(),
                amount=amount,
            )
        )
    out.sort(key=lambda u: (u.customer, u.start, u.invoice, u.line))
    return out


@dataclass(frozen=True, kw_only=True)
class WrittenOff:
    """An invoice marked uncollectible in Stripe, its lines over a period: revenue as earned all the same (a write-off
    is a bad-debt expense, not a reversal of revenue), which the answers say, since it will not be collected."""

    customer: str
    invoice: str
    products: tuple[str, ...]  # the products its lines name ('' for none)
    start: date
    end: date
    amount: Decimal  # its lines' revenue, USD, as billed (not prorated to the period)

    def text(self) -> str:
        days = f"{self.start} to {self.end}" if self.end != self.start else f"{self.start}"
        return (
            f"invoice {self.invoice} of {self.customer} ({usd_text(self.amount)} for {days}) is marked uncollectible "
            "in Stripe: its revenue stays in the figures as earned; the write-off is a bad-debt expense, outside "
            "gross margin"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "customer": self.customer,
            "invoice": self.invoice,
            "products": [p or None for p in self.products],
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "amount_usd": json_number(self.amount, CENT),  # half-up once, as every --json figure
            "text": self.text(),
        }


def written_off(conn: Connection, period: Period, customers: list[str] | None = None) -> list[WrittenOff]:
    """Invoices of `customers` (all when None) marked uncollectible whose lines' service overlaps `period`: one
    each, its lines over the period added up."""
    sql = (
        "SELECT customer, invoice_id, product, period_start, period_end, amount_usd FROM revenue_actual "
        "WHERE uncollectible AND period_start <= :b AND period_end >= :a"
    )
    params: dict[str, object] = {"a": period.start, "b": period.end}
    sql = scoped(sql, params, customers)
    invoices: dict[tuple[str, str], list[tuple[str, date, date, Decimal]]] = {}
    for customer, invoice, product, start, end, amount in conn.execute(text(sql), params):
        if customers is None or customer in customers:
            invoices.setdefault((customer, invoice), []).append(
                (product, as_date(start), as_date(end), Decimal(str(amount)))
            )
    out = [
        WrittenOff(
            customer=customer,
            invoice=invoice,
            products=tuple(sorted({line[0] for line in lines})),
            start=min(line[1] for line in lines),
            end=max(line[2] for line in lines),
            amount=sum((line[3] for line in lines), Decimal(0)),
        )
        for (customer, invoice), lines in invoices.items()
    ]
    out.sort(key=lambda w: (w.customer, w.start, w.invoice))
    return out


def touching(conn: Connection, lines: list[Unconverted], product: str, period: Period) -> list[Unconverted]:
    """Of `lines`, those whose revenue would be `product`'s: billing it, or billing no product for a customer that
    used it on the line's days in `period` (such a line's revenue is split across products by their usage)."""
    out = []
    for u in lines:
        if u.product:
            if u.product == product:
                out.append(u)
            continue
        if used(conn, u.customer, product, max(u.start, period.start), min(u.end, period.end)):
            out.append(u)
    return out


def used(conn: Connection, customer: str, product: str, first: date, last: date) -> bool:
    """Whether `customer` used `product` on a day from `first` to `last`: a line of theirs billing no product is then
    split onto it by usage (engine.reports.revenue), so it is part of that product's revenue."""
    sql = "SELECT 1 FROM daily_customer_product WHERE customer = :c AND product = :p AND day BETWEEN :a AND :b LIMIT 1"
    return conn.execute(text(sql), {"c": customer, "p": product, "a": first, "b": last}).first() is not None


def written_off_touching(conn: Connection, found: list[WrittenOff], product: str, period: Period) -> list[WrittenOff]:
    """Of `found`, the invoices whose revenue is `product`'s, as `touching` picks lines: a line billing it, or one
    billing no product of a customer that used it on the invoice's days in `period`."""
    return [
        w
        for w in found
        if product in w.products
        or ("" in w.products and used(conn, w.customer, product, max(w.start, period.start), min(w.end, period.end)))
    ]
