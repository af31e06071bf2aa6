"""The board pack: a period's portfolio as sheets a spreadsheet opens (bot/render/workbook.py writes them).

Every figure comes from the same dicts `--json` prints (`portfolio_to_dict`, `bridge_to_dict`), so the pack and
`marginbot portfolio --json` agree to the cent: portfolio summary, customers and products with their bands, the
bridges of the portfolio and of the customers whose margin moved the most (and of those begun or gone, by their
gross profit), the P50/P99 spread, unpriced usage and the price sources the period's COGS used. Its first sheet,
notes, says in words what could make a figure misread (a period to date, unpriced usage, contracts left out,
revenue in no product's row, and the notices every report carries): the sheet a finance reader opens first, and
one that goes with the pack when it is forwarded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from importlib.metadata import version
from typing import Any

from sqlalchemy import Connection, text

from engine.money import CENT, TENTH, json_number, pct_text, usd, usd_text
from engine.periods import Period
from engine.pricing.book import PriceBook
from engine.reports.bridge import bridge_to_dict, margin_bridge
from engine.reports.figures import Thresholds, margin_change
from engine.reports.portfolio import Portfolio, PortfolioRow, portfolio
from engine.reports.serialize import portfolio_to_dict
from engine.store.sql import COST_SUM
from engine.vocab import CostType, SubjectKind

MOVERS = 5  # customers whose bridge the pack carries, besides the portfolio's

Cell = str | int | float | None


@dataclass(frozen=True, kw_only=True)
class Sheet:
    """One table of the pack: a sheet in the workbook, a CSV file in a directory."""

    name: str  # the sheet's name and the CSV file's stem
    columns: list[str]
    rows: list[list[Cell]]  # money and percentages are floats already rounded to 0.01; counts are ints


@dataclass(kw_only=True)
class BoardPack:
    period: Period
    sheets: list[Sheet] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # the portfolio as `portfolio --json` prints it
    # The notices given to `board_pack` (every answer carries them already): the rest of the notes sheet is the
    # pack's own, which its Slack message says too.
    notices: list[str] = field(default_factory=list)

    def own_notes(self) -> list[str]:
        """The notes sheet's lines but the notices and the line saying there are none."""
        given = set(self.notices)
        return [str(r[0]) for r in self.sheet("notes").rows if r[0] != NO_NOTES and r[0] not in given]

    def sheet(self, name: str) -> Sheet:
        return next(s for s in self.sheets if s.name == name)


FIGURES = ["revenue_usd", "cogs_usd", "gross_profit_usd", "gross_margin_pct", "status", "events", "unpriced_events"]


def _band(status: str, t: Thresholds) -> str:
    return {
        "breach": f"below {t.breach_pct}%",
        "watch": f"{t.breach_pct}% to {t.healthy_pct}%",
        "healthy": f"{t.healthy_pct}% or more",
    }.get(status, "no revenue")


def _subject_sheet(name: str, key: str, rows: list[dict[str, Any]], t: Thresholds) -> Sheet:
    columns = [key, "name", "band", *FIGURES, "previous_revenue_usd", "previous_cogs_usd",
               "previous_gross_margin_pct", "change_margin_pts"]  # fmt: skip
    out: list[list[Cell]] = []
    for r in rows:
        out.append(
            [r[key], r["name"], _band(r["status"], t) + ("" if r.get("material", True) else " (immaterial)"),
             *(r[c] for c in FIGURES), r["previous"]["revenue_usd"],
             r["previous"]["cogs_usd"], r["previous"]["gross_margin_pct"], r["change"]["gross_margin_pts"]]
        )  # fmt: skip
    return Sheet(name=name, columns=columns, rows=out)


def counted(d: dict[str, Any], status: str) -> int:
    """The customers of `portfolio_to_dict` in `status` that count: an immaterial one (`material` false: revenue
    and COGS both under MARGINBOT_MATERIALITY_USD) is no one's breach."""
    return sum(1 for r in d["customers"] if r["status"] == status and r.get("material", True))


def _summary_sheet(d: dict[str, Any], t: Thresholds) -> Sheet:
    period, previous = d["period"], d["previous"]
    to_date = "" if period.get("complete", True) else ", to date"  # a month or quarter still running
    rows: list[list[Cell]] = [
        ["period", f"{period['label']}{to_date} ({period['start']} to {period['end']})"],
        ["revenue_usd", d["revenue_usd"]],
        ["cogs_usd", d["cogs_usd"]],
        ["gross_profit_usd", d["gross_profit_usd"]],
        ["gross_margin_pct", d["gross_margin_pct"]],
        ["status", d["status"]],
        ["events", d["events"]],
        ["unpriced_events", d["unpriced_events"]],
        ["previous_revenue_usd", previous["revenue_usd"]],
        ["previous_cogs_usd", previous["cogs_usd"]],
        ["previous_gross_margin_pct", previous["gross_margin_pct"]],
        ["change_revenue_usd", d["change"]["revenue_usd"]],
        ["change_cogs_usd", d["change"]["cogs_usd"]],
        ["change_margin_pts", d["change"]["gross_margin_pts"]],
        ["breach_pct", float(t.breach_pct)],
        ["healthy_pct", float(t.healthy_pct)],
        ["customers_in_breach", counted(d, "breach")],
        ["customers_on_watch", counted(d, "watch")],
    ]
    return Sheet(name="summary", columns=["figure", "value"], rows=rows)


def _bridge_rows(d: dict[str, Any]) -> list[list[Cell]]:
    who = d["name"]
    # "of" names, for a contributor, the part it belongs to; for a part, those whose points it carries (a step
    # with no revenue has no margin to count points from: bridge._points).
    rows: list[list[Cell]] = [
        [who, p["side"], p["part"], p["label"], p["change_usd"], p["gross_profit_usd"], p["margin_pts"],
         ", ".join(p["margin_pts_carried_from"])]
        for p in d["parts"]
    ]  # fmt: skip
    rows += [
        [who, c["side"], "contributor", c["words"], c["change_usd"], c["gross_profit_usd"], None, c["part"]]
        for c in d["contributors"]
    ]
    # What the sheet's figures need said (no points at all, whose points another part holds), as `why` says it.
    rows += [[who, None, "note", note, None, None, None, ""] for note in d["notes"]]
    return rows


def _bridged(customers: list[PortfolioRow]) -> list[str]:
    """The customers whose bridges the pack carries: the five whose margin moved the most points, then the five whose
    gross profit moved the most dollars among those with no margin in one of the two periods to move from or to (a
    customer begun or gone, or with COGS and no revenue). Ranked by points alone, a churned $500 contract, the
    biggest move in the book, had no bridge."""
    moved: list[tuple[Decimal, str]] = []
    unmeasured: list[tuple[Decimal, str]] = []
    for r in customers:
        pts = margin_change(r.current, r.previous)
        if pts is None:
            unmeasured.append((-abs(r.current.gross_profit_cents - r.previous.gross_profit_cents), r.key))
        else:
            moved.append((-abs(pts), r.key))
    return [key for ranked in (moved, unmeasured) for by, key in sorted(ranked)[:MOVERS] if by]


def _bridges(conn: Connection, period: Period, book: Portfolio, prices: PriceBook, timezone: str) -> Sheet:
    rows: list[list[Cell]] = []
    subjects: list[tuple[SubjectKind, str | None]] = [(SubjectKind.PORTFOLIO, None)]
    subjects += [(SubjectKind.CUSTOMER, key) for key in _bridged(book.customers)]
    for kind, key in subjects:
        bridge = margin_bridge(conn, kind, key, period, prices=prices, timezone=timezone)
        rows += _bridge_rows(bridge_to_dict(bridge))
    return Sheet(
        name="bridges",
        columns=["subject", "side", "part", "label", "change_usd", "gross_profit_change_usd", "margin_pts", "of"],
        rows=rows,
    )


def _spread(d: dict[str, Any]) -> Sheet:
    rows: list[list[Cell]] = [[k, v] for k, v in d["spread"].items()]
    return Sheet(name="spread", columns=["figure", "value"], rows=rows)


def _unpriced(conn: Connection, period: Period) -> Sheet:
    rows = conn.execute(
        text(
            "SELECT provider, model, SUM(unpriced_events), COUNT(DISTINCT customer) FROM daily_rollup "
            "WHERE day BETWEEN :a AND :b AND unpriced_events > 0 GROUP BY provider, model ORDER BY 3 DESC, 1, 2"
        ),
        {"a": period.start, "b": period.end},
    ).all()
    return Sheet(
        name="unpriced",
        columns=["provider", "model", "unpriced_events", "customers"],
        rows=[[p or "?", m or "?", int(n), int(c)] for p, m, n, c in rows],
    )


def _price_sources(conn: Connection, period: Period, prices: PriceBook) -> Sheet:
    """Which prices the period's COGS used, per provider and model: the price file, the genai-prices catalogue,
    the source's own cost (cost_usd), or none (unpriced). Rates are as of the period's last day."""
    rows = conn.execute(
        text(
            f"SELECT provider, model, SUM(events), SUM({COST_SUM}), SUM({CostType.SOURCE.column}), "
            "SUM(unpriced_events) FROM daily_rollup WHERE day BETWEEN :a AND :b GROUP BY provider, model "
            "ORDER BY 4 DESC, 1, 2"
        ),
        {"a": period.start, "b": period.end},
    ).all()
    at = datetime.combine(period.end, time(12), UTC)
    catalogue = f"genai-prices {version('genai-prices')} catalogue"
    out: list[list[Cell]] = []
    for provider, model, events, cost, source_cost, unpriced in rows:
        cost, source_cost = int(cost or 0), int(source_cost or 0)
        rates = prices.rates(provider or "", model or "", at) if model else None
        where: list[str] = []
        if rates is not None:
            where.append("price file override" if rates.source == "override" else catalogue)
        if source_cost:
            where.append("priced by the source (cost_usd)")
        if unpriced:
            where.append(f"unpriced ({int(unpriced)} events)")
        out.append(
            [provider or "?", model or "?", int(events), json_number(usd(cost), CENT), "; ".join(where) or "no tokens"]
        )
    for d in prices.discounts:
        if d.effective_from <= period.end:
            scope = f"{d.provider}/{d.model}" if d.model else f"{d.provider} (every model)"
            out.append(["discount", scope, None, None, f"{d.percent}% off from {d.effective_from}"])
    out.append(["price file", prices.fingerprint, None, None, "fingerprint of the price file and catalogue"])
    return Sheet(
        name="price_sources",
        columns=["provider", "model", "events", "cogs_usd", "prices from"],
        rows=out,
    )


NO_NOTES = (
    "No notices: the period is over, every event in it is priced, every contract was read and all of its revenue "
    "is in a product's row."
)


def _to_date(period: Period) -> str:
    """A period still running, counted to its last complete day, and what it is compared with (as the reports'
    context lines say it: "the same 14 days of 2026-10")."""
    prev = period.previous()
    whole = period.unit if period.unit != "days" else "period"
    return (
        f"{period.title}: the figures count {period.start} to {period.end} only, not the whole {whole}, and are "
        f"compared with {prev.start} to {prev.end}{prev.likeness}; they will change until the {whole} is over."
    )


def _run_rate(book: Portfolio) -> str | None:
    """The run rate of a period to date, labelled as a projection (as the portfolio table says it)."""
    p = book.projection
    if p is None:
        return None
    f = p.figures
    margin = "n/a" if f.margin_pct is None else pct_text(f.margin_pct, TENTH)
    return (
        f"Run rate (a projection, not actuals): all {p.full_days} days of {p.label}, {p.basis}: "
        f"revenue {usd_text(f.revenue)}, COGS {usd_text(f.cogs)}, gross profit {usd_text(f.gross_profit_cents)}, "
        f"gross margin {margin}." + (f" Note: {p.caveat}." if p.caveat else "")
    )


def _unpriced_note(book: Portfolio) -> str | None:
    t = book.total
    if not t.unpriced_events and not book.unpriced_models:
        return None
    share = ""
    if t.events:
        exact = Decimal(t.unpriced_events) * 100 / Decimal(t.events)
        shown = pct_text(exact, TENTH)
        share = f" ({'<0.1%' if shown == '0.0%' and exact else shown})"
    models = ", ".join(book.unpriced_models) or "unknown models"
    return (
        f"Unpriced usage of {models}: {t.unpriced_events:,} of {t.events:,} events{share} have no price, so COGS "
        "is understated until they are priced; the Unpriced usage sheet lists them by model."
    )


def _unallocated_note(book: Portfolio) -> str | None:
    """The revenue in the total that no product's row holds (Portfolio.unallocated_revenue), as the portfolio
    table and Slack say it, and what it does to the Products sheet."""
    now, before = book.unallocated_revenue, book.previous_unallocated_revenue
    if not now and not before:
        return None
    why = "contracts for every product or invoice lines naming no product, with no usage to split them by"
    where = (
        "the Summary's revenue includes it, so the Products sheet's revenue adds up to less"
        if now
        else "the Products sheet's previous revenue adds up to less than the Summary's"
    )
    if not now:  # "$0.00 of revenue is in no product's row" would headline nothing
        return f"The previous period's product rows leave out {usd_text(before)} of its revenue: {why}; {where}."
    return f"{usd_text(now)} of revenue is in no product's row (previous {usd_text(before)}): {why}; {where}."


def _immaterial_note(book: Portfolio) -> str | None:
    """The subjects too small to count (Figures.material), said once: their rows are in the sheets as they are."""
    small = [
        r for r in book.customers + book.products if (r.current.revenue or r.current.cogs) and not r.current.material
    ]
    if not small:
        return None
    customers = sum(1 for r in small if r.kind is SubjectKind.CUSTOMER)
    who = " and ".join(
        f"{n} {kind}{'s' * (n != 1)}" for n, kind in ((customers, "customer"), (len(small) - customers, "product")) if n
    )
    floor = usd_text(book.total.thresholds.material_usd)
    return (
        f"{who} {'is' if len(small) == 1 else 'are'} immaterial (revenue and COGS each under {floor} in the period, "
        'MARGINBOT_MATERIALITY_USD): their rows are listed last with "(immaterial)" beside their band, and '
        "customers_in_breach and customers_on_watch do not count them."
    )


def _notes(book: Portfolio, notices: Sequence[str]) -> Sheet:
    """What could make a figure of the pack misread, one row each; one row saying there is none otherwise."""
    notes: list[str] = []
    if not book.period.complete:
        notes.append(_to_date(book.period))
        if run_rate := _run_rate(book):
            notes.append(run_rate)
    notes += notices
    if unpriced := _unpriced_note(book):
        notes.append(unpriced)
    notes += [
        f"{c}; revenue is understated until it is re-imported with `marginbot import contracts`."
        for c in book.skipped_contracts
    ]
    if unallocated := _unallocated_note(book):
        notes.append(unallocated)
    notes += [f"{u.text()[0].upper()}{u.text()[1:]}." for u in book.unconverted]
    notes += [f"{w.text()[0].upper()}{w.text()[1:]}." for w in book.written_off]
    notes += [f"{book.customers_named(k)}: {n.text()}." for k, n in sorted(book.not_invoiced.items())]
    if immaterial := _immaterial_note(book):
        notes.append(immaterial)
    return Sheet(name="notes", columns=["note"], rows=[[n] for n in notes or [NO_NOTES]])


def board_pack(
    conn: Connection,
    period: Period,
    *,
    prices: PriceBook,
    timezone: str,
    thresholds: Thresholds,
    notices: Sequence[str] = (),
) -> BoardPack:
    """Every sheet of the pack for `period` (a month, a quarter or any period), compared with the one before.
    `notices` are the lines every report carries (Runtime.notices): the notes sheet, first, says them too."""
    book = portfolio(conn, period, thresholds=thresholds)
    d = portfolio_to_dict(book)
    sheets = [
        _notes(book, notices),
        _summary_sheet(d, thresholds),
        _subject_sheet("customers", "customer", d["customers"], thresholds),
        _subject_sheet("products", "product", d["products"], thresholds),
        _bridges(conn, period, book, prices, timezone),
        _spread(d),
        _unpriced(conn, period),
        _price_sources(conn, period, prices),
    ]
    return BoardPack(period=period, sheets=sheets, summary=d, notices=list(notices))
