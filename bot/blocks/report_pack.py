"""`/margin report`: what the board pack holds, as Block Kit (the workbook itself goes to the asker as a file)."""

from __future__ import annotations

from decimal import Decimal

from bot.answer_types import Answer
from bot.blocks.common import period_context
from bot.blocks.kit import context, esc, esc_text, fields, fit, header, section
from bot.render.fmt import money, percent
from bot.render.workbook import TITLES
from engine.reports.pack import BoardPack, counted


def pack_filename(pack: BoardPack) -> str:
    return f"marginbot-board-pack-{pack.period.label.replace(' ', '-')}.xlsx"


def _dec(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def report_pack_message(pack: BoardPack, *, asked: str | None = None, shared: bool = False) -> Answer:
    """The pack's headline figures and its sheets; the same figures as `/margin portfolio` for the period.
    `asked`: the period as the asker typed it (None: the default), quoted in the hint to share it; none once
    `shared`, the answer being in the channel already."""
    d, p = pack.summary, pack.period
    breach = counted(d, "breach")
    notes = pack.own_notes()
    counts = {s.name: len(s.rows) for s in pack.sheets} | {"notes": len(notes) + len(pack.notices)}
    sheets = ", ".join(f"{TITLES.get(s.name, s.name)} ({counts[s.name] or 'none'})" for s in pack.sheets)
    text = (
        f"Board pack {p.title}: revenue {money(_dec(d['revenue_usd']))}, COGS {money(_dec(d['cogs_usd']))}, "
        f"gross margin {percent(_dec(d['gross_margin_pct']))}; {breach} customer(s) in breach."
    )
    blocks = [
        header(f"Board pack · {p.title}"),
        # The days compared, as every answer says them: a month to date is compared with the same days before it.
        context(period_context(p)),
        fields(
            f"*Revenue*\n{money(_dec(d['revenue_usd']))}",
            f"*COGS*\n{money(_dec(d['cogs_usd']))}",
            f"*Gross margin*\n{percent(_dec(d['gross_margin_pct']))}",
            f"*Customers in breach*\n{breach}",
        ),
        section(f":bar_chart: `{esc(pack_filename(pack))}`, one sheet each: {esc_text(sheets)}"),
        # What could make a figure misread, as the workbook's first sheet says it (the notices follow the answer).
        *(context(f":warning: {esc_text(n)}") for n in notes),
    ]
    if not shared:  # the period as typed: a label ("last 30 days") is no command
        words = " ".join(w for w in ("/margin report", asked or "", "share") if w)
        blocks.append(context(f"`{esc(words)}` posts it in this channel for everyone here"))
    return Answer(esc_text(text), fit(blocks))
