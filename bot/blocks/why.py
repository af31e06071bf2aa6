"""`/margin why`: the margin bridge as Block Kit, revenue parts then COGS parts, each in dollars and points."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from bot.answer_types import Answer
from bot.blocks.kit import context, esc_name, esc_text, fields, fit, header, section, sections
from bot.render.fmt import money, percent, points
from engine.money import CENT, TENTH, round_to
from engine.reports.bridge import Bridge, BridgePart
from engine.reports.bridge_words import signed_usd


def _names(b: Bridge) -> list[str]:
    """The names the bridge's sentences may hold (its subject's name and key): see esc_text."""
    return [n for n in (b.name, b.key) if n]


def _subject(b: Bridge) -> str:
    return "the portfolio" if b.key is None else f"{b.kind} {b.name}"


def _part_line(p: BridgePart, bridge: Bridge) -> str:
    labels = {q.part: q.short_label for q in bridge.parts}
    if p.margin_pts_tenth is not None:
        carried = f" (includes {' and '.join(labels[c] for c in p.carries)}'s)" if p.carries else ""
        pts = f" · {points(p.margin_pts_tenth)} margin{carried}"
    else:
        # Without revenue at its step the part has no points of its own; a later part holds them (a note says so).
        holder = next((labels[q.part] for q in bridge.parts if p.part in q.carries), None)
        pts = f" · no revenue at this step: its points are under {holder}" if holder else ""
    return f"{p.label}  *{_signed(p.change, p.exact)}*{pts}"


def _part_lines(parts: list[BridgePart], bridge: Bridge) -> list[str]:
    """The parts that moved; the others are named on one line, so the reader sees every part is there."""
    lines = [_part_line(p, bridge) for p in parts if p.exact or p.margin_pts_tenth]
    still = [p.label for p in parts if not (p.exact or p.margin_pts_tenth)]
    if still:
        lines.append(f"_no change: {', '.join(still)}_")
    return lines


def _usd(shown: Decimal, exact: Fraction) -> str:
    """An amount to the cent, or "<$0.01" ("-<$0.01") where it rounds to $0.00 but is not nothing
    (engine.money.usd_text's rule)."""
    if shown == 0 and exact:
        return "<$0.01" if exact > 0 else "-<$0.01"
    return money(shown)


def _signed(shown: Decimal, exact: Fraction) -> str:
    """A change to the cent with its sign, or "+<$0.01" ("-<$0.01") where it rounds to $0.00 but is not nothing."""
    if shown == 0 and exact:
        return "+<$0.01" if exact > 0 else "-<$0.01"
    return signed_usd(shown)


def _side_heading(side: str, change: Decimal, exact: Fraction, sign: int) -> str:
    """ "Revenue -$500.00 (takes from gross profit)": what the change as shown does to gross profit, by its sign
    (`sign` is how a rise of the side moves gross profit); with no change, what a rise would do."""
    shown = _signed(change, exact)
    effect = sign * (round_to(change, CENT) or exact)
    if effect > 0:
        return f"{side} {shown} (adds to gross profit)"
    if effect < 0:
        return f"{side} {shown} (takes from gross profit)"
    return f"{side} {shown} (a rise {'adds to' if sign > 0 else 'takes from'} gross profit)"


def why_text(b: Bridge) -> str:
    """The notification text: the move and the biggest contributor."""
    before, after = b.margin
    top = b.top(1)
    lead = f" Biggest: {top[0].words}." if top else ""
    profit = _signed(b.gross_profit[1] - b.gross_profit[0], _moved(b.gross_profit_exact))
    return (
        f"Why {_subject(b)} moved ({b.previous.label} → {b.period.title}): gross margin {percent(before)} → "
        f"{percent(after)} ({points(_tenth_change(b))}), gross profit {profit}.{lead}"
    )


def _moved(ends: tuple[Fraction, Fraction]) -> Fraction:
    return ends[1] - ends[0]


def _tenth_change(b: Bridge) -> Decimal | None:
    # The exact change rounded once, as `/margin CUSTOMER` shows it (and what the parts' tenths add up to): the
    # difference of the two margins as shown (90.2% − 88.9%) can be a tenth off it (+1.4 pts).
    return b.margin_change(TENTH)


def why_message(b: Bridge) -> Answer:
    """Headline, the three biggest contributors, then every part; the parts add up to the change as shown."""
    gp_before, gp_after = b.gross_profit
    gp_exact, rev_exact, cogs_exact = b.gross_profit_exact, b.revenue_exact, b.cogs_exact
    revenue_parts = [p for p in b.parts if p.side == "revenue"]
    cogs_parts = [p for p in b.parts if p.side == "cogs"]
    blocks = [
        header(f"Why {b.name} moved · {b.period.title}"),
        context(
            f"{esc_name(_subject(b))} · {b.previous.label} ({b.previous.start} to {b.previous.end}) → {b.period.label} "
            f"({b.period.start} to {b.period.end}) · each part is a step of a fixed-order bridge; they add up to "
            "the change to the cent"
        ),
        section(
            f"Gross margin *{percent(b.margin[0])}* → *{percent(b.margin[1])}* ({points(_tenth_change(b))})\n"
            f"Gross profit {_usd(gp_before, gp_exact[0])} → {_usd(gp_after, gp_exact[1])} "
            f"({_signed(gp_after - gp_before, _moved(gp_exact))})"
        ),
        fields(
            f"*Revenue*\n{_usd(b.revenue[0], rev_exact[0])} → {_usd(b.revenue[1], rev_exact[1])}\n"
            f"_{_signed(b.revenue[1] - b.revenue[0], _moved(rev_exact))}_",
            f"*COGS*\n{_usd(b.cogs[0], cogs_exact[0])} → {_usd(b.cogs[1], cogs_exact[1])}\n"
            f"_{_signed(b.cogs[1] - b.cogs[0], _moved(cogs_exact))}_",
        ),
    ]
    top = b.top()
    blocks += sections("Biggest contributors", [esc_name(c.words) for c in top] or ["_nothing moved_"])
    revenue_moved, cogs_moved = b.revenue[1] - b.revenue[0], b.cogs[1] - b.cogs[0]
    blocks += sections(_side_heading("Revenue", revenue_moved, _moved(rev_exact), +1), _part_lines(revenue_parts, b))
    blocks += sections(_side_heading("COGS", cogs_moved, _moved(cogs_exact), -1), _part_lines(cogs_parts, b))
    # The engine's notes, as --json has them: why a part has no points, a price file changed since the import.
    for note in b.notes:
        blocks.append(context(f":warning: {esc_text(note, _names(b))}"))
    blocks.append(
        context("The board pack (`/margin report PERIOD`) lists the rows behind each part; docs/why.md has the method.")
    )
    return Answer(esc_text(why_text(b), _names(b)), fit(blocks))
