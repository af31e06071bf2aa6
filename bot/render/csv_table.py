"""Reports as CSV for spreadsheets (`--csv`): one header, one row per customer/product or per breakdown line.

Money is a plain decimal to the cent ("1484.73": no "$", no thousands separator, so a spreadsheet reads it as a
number), percentages to 0.01; both rounded half-up once, from the exact figures (never through a float).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from itertools import accumulate
from typing import TYPE_CHECKING

from engine.money import CENT, ZERO, round_to
from engine.vocab import SubjectKind

if TYPE_CHECKING:
    from engine.reports.figures import Figures
    from engine.reports.margin import MarginReport
    from engine.reports.portfolio import Portfolio

PORTFOLIO_COLUMNS = (
    "kind",
    "key",
    "name",
    "period",
    "revenue_usd",
    "cogs_usd",
    "gross_profit_usd",
    "gross_margin_pct",
    "status",
    "events",
    "unpriced_events",
    "previous_revenue_usd",
    "previous_cogs_usd",
    "previous_gross_margin_pct",
)
REPORT_COLUMNS = (
    "subject",
    "period",
    "section",
    "item",
    "revenue_usd",
    "cogs_usd",
    "gross_profit_usd",
    "gross_margin_pct",
    "share_pct",
    "previous_cogs_usd",
    "detail",
)


def dec(value: Decimal | None) -> str:
    """A plain decimal to 0.01, or empty (a margin without revenue has no value)."""
    return "" if value is None else str(round_to(value, CENT))


# What a spreadsheet reads as the start of a formula (OWASP's list for CSV injection): a customer named
# `=HYPERLINK(...)` or `@SUM(...)`, from a gateway's metadata, must open as the text it is.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def inert(value: object) -> object:
    """`value` as a spreadsheet cell that cannot run: text starting like a formula gets a leading apostrophe
    (shown by spreadsheets as the text itself); numbers, "-12.50" among them, stay as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _table(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([inert(v) for v in row] for row in rows)
    return out.getvalue()


def _figures(f: Figures) -> list[object]:
    return [
        dec(f.revenue),
        dec(f.cogs),
        dec(f.gross_profit_cents),
        dec(f.margin_pct),
        f.status,
        f.events,
        f.unpriced_events,
    ]


def portfolio_csv(p: Portfolio) -> str:
    """Every customer, then every product: current figures and the previous period's."""
    rows = [
        [
            row.kind,
            row.key,
            row.name,
            p.period.title,  # "2026-11, month to date (through Nov 26)" for a month still running
            *_figures(row.current),
            dec(row.previous.revenue),
            dec(row.previous.cogs),
            dec(row.previous.margin_pct),
        ]
        for row in (*p.customers, *p.products)
    ]
    return _table(PORTFOLIO_COLUMNS, rows)


def report_csv(r: MarginReport) -> str:
    """One customer or product: a total line, then each revenue line and each slice of COGS (by type, model and
    feature), so a spreadsheet can sum any section back to the total."""
    subject, label = r.name or r.key, r.period.title

    def line(section: str, item: str, **values: object) -> list[object]:
        return [subject, label, section, item, *(values.get(c, "") for c in REPORT_COLUMNS[4:])]

    c = r.current
    rows = [
        line(
            "total",
            r.key,
            revenue_usd=dec(c.revenue),
            cogs_usd=dec(c.cogs),
            gross_profit_usd=dec(c.gross_profit_cents),
            gross_margin_pct=dec(c.margin_pct),
            previous_cogs_usd=dec(r.previous.cogs),
            detail=c.status,
        )
    ]
    if r.kind is SubjectKind.PRODUCT:
        # A product's revenue lines are its customers': each its share of the product (a contract for every product
        # is split by usage), as the total counts it; the whole contract's total summed past the product's. Each is
        # the difference of the running sums rounded, so the rows add up to the total to the cent.
        running = [round_to(total, CENT) for total in accumulate(rl.by_product.get(r.key, ZERO) for rl in r.revenue)]
        rows += [
            line(
                "revenue",
                rl.customer if rl.product else f"{rl.customer} (its share of all products)",
                revenue_usd=str(now - before),
                detail=rl.terms,
            )
            for rl, before, now in zip(r.revenue, [ZERO.quantize(CENT), *running], running, strict=False)
        ]
    else:
        rows += [
            line("revenue", rl.product or "all products", revenue_usd=dec(rl.total), detail=rl.terms)
            for rl in r.revenue
        ]
    rows += [line("cogs_by_type", kind, cogs_usd=dec(cost)) for kind, cost in r.cogs_by_type.items()]
    for section, shares in (("cogs_by_model", r.by_model), ("cogs_by_feature", r.by_feature)):
        rows += [
            line(
                section,
                s.key,
                cogs_usd=dec(s.cost),
                share_pct=dec(s.share_pct),
                previous_cogs_usd=dec(s.previous),
                detail=s.provider,
            )
            for s in shares
        ]
    return _table(REPORT_COLUMNS, rows)
