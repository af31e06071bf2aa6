"""The weekly leadership digest message. Pure: the payload from `engine.alerts.digest` in, {"text", "blocks"} out.

Every figure is read exact where the payload keeps it (`figure`), so each is rounded once, as `/margin` rounds it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.blocks.alerts import amount, figure
from bot.blocks.common import against_same_days
from bot.blocks.kit import MAX_SECTION_TEXT, clip, context, esc_name, esc_text, fields, header, section, unbold, unesc
from bot.render.fmt import delta_pct, money, percent, plural, points
from engine.alerts.lag import lagging_text
from engine.reports.movers import Move

MAX_LISTED = 10  # subjects per list; the rest are counted


def _subjects(rows: list[dict[str, Any]], *, with_change: bool = False) -> str:
    lines = []
    for r in rows[:MAX_LISTED]:
        if with_change and r.get("cogs_change"):
            # A mover: the dollars of COGS it moved first, then where its margin went.
            margin = f"margin {percent(figure(r, 'margin_pct'))}"
            if r.get("change_pts") is not None:
                margin += f" ({points(figure(r, 'change_pts'))})"
            lines.append(
                f"• *{esc_name(r['name'])}* ({r['kind']}) COGS {esc_text(r['cogs_change'])} to "
                f"{money(figure(r, 'cogs_usd'))} · "
                f"{margin} · revenue {money(figure(r, 'revenue_usd'))}"
            )
            continue
        own = f" · own bands {r['breach_pct']}%/{r['healthy_pct']}%" if r.get("own_bands") else ""
        lines.append(
            f"• *{esc_name(r['name'])}* ({r['kind']}) {percent(figure(r, 'margin_pct'))} · "
            f"revenue {money(figure(r, 'revenue_usd'))} · COGS {money(figure(r, 'cogs_usd'))}{own}"
        )
    if len(rows) > MAX_LISTED:
        lines.append(f"…and {len(rows) - MAX_LISTED} more")
    return "\n".join(lines)


def _models(p: dict[str, Any]) -> str:
    lines = [
        f"• {esc_name(m['model'])} ({esc_name(m['provider'] or '?')}) {money(figure(m, 'cogs_usd'))} · "
        f"{percent(figure(m, 'share_pct'))} of COGS · {_moved(m)} vs the week before"
        for m in p["models"]
    ]
    return "\n".join(lines) or "no COGS this week"


def _moved(m: dict[str, Any]) -> str:
    now, before = amount(m, "cogs_usd"), amount(m, "previous_cogs_usd")
    return Move(key="", now=now, before=before).how if now != before else "no change"


def _trend(p: dict[str, Any]) -> str:
    known = [(t["week"], margin) for t in p["trend"] if (margin := figure(t, "margin_pct")) is not None]
    if not known:
        return "no revenue in the last 12 weeks"
    low, high = min(known, key=lambda k: k[1]), max(known, key=lambda k: k[1])
    weeks = len(p["trend"])
    # A new book has revenue in only some of the weeks: the trend says so rather than call them all twelve.
    span = (
        f"{weeks}-week blended margin"
        if len(known) == weeks
        else f"blended margin in the {len(known)} of the last {weeks} weeks with revenue"
    )
    return (
        f"{span}: {percent(known[0][1])} ({known[0][0]}) → "
        f"{percent(known[-1][1])} ({known[-1][0]}); low {percent(low[1])} ({low[0]}), "
        f"high {percent(high[1])} ({high[0]})"
    )


def _or_own(rows: list[dict[str, Any]]) -> str:
    """What a heading adds when some of its rows are judged by their own bands: a customer at 87.7% under its own
    88% line is in breach, which "under 40%" alone would contradict (each such row names its bands)."""
    return ", or a customer's own bands" if any(r.get("own_bands") for r in rows[:MAX_LISTED]) else ""


def digest_message(p: dict[str, Any]) -> dict[str, Any]:
    """The digest as {"text", "blocks"}: headline figures, who needs attention, movers, drivers, trend."""
    week = p["week"]
    margin, change = figure(p, "margin_pct"), figure(p, "margin_change_pts")
    revenue, cogs = amount(p, "revenue_usd"), amount(p, "cogs_usd")
    blocks: list[dict[str, Any]] = [
        header(f"Weekly margin digest: {week['label']} ({week['start']} to {week['end']})"),
        fields(
            f"*Blended gross margin*\n{percent(margin)} ({points(change) if change is not None else 'n/a'})",
            f"*Revenue*\n{money(revenue)} ({delta_pct(revenue, amount(p, 'previous_revenue_usd'))})",
            f"*COGS*\n{money(cogs)} ({delta_pct(cogs, amount(p, 'previous_cogs_usd'))})",
            f"*Usage events*\n{p['events']:,}",
        ),
    ]
    attention = []
    if p["breach"]:
        bands = f"under {p['breach_pct']}%{_or_own(p['breach'])}"
        attention.append(f"*:red_circle: In breach ({bands})*\n" + _subjects(p["breach"]))
    if p["no_revenue"]:
        attention.append("*:white_circle: Cost without revenue*\n" + _subjects(p["no_revenue"]))
    if p["watch"]:
        bands = f"{p['breach_pct']}% to {p['healthy_pct']}%{_or_own(p['watch'])}"
        attention.append(f"*:large_yellow_circle: Watch ({bands})*\n" + _subjects(p["watch"]))
    blocks += [section(text) for text in attention] or [section(":large_green_circle: Nobody in breach or watch.")]
    if small := p.get("immaterial"):  # absent from digests queued before it existed
        names = ", ".join(f"{esc_name(r['name'])} ({r['kind']})" for r in small[:MAX_LISTED])
        more = f" and {len(small) - MAX_LISTED} more" if len(small) > MAX_LISTED else ""
        floor = money(Decimal(p["materiality_usd"]))
        blocks.append(
            context(f"_Immaterial (revenue and COGS each under {floor} this week; in no list above):_ {names}{more}")
        )
    if p["movers"]:
        blocks.append(
            section("*Biggest movers (COGS against the week before)*\n" + _subjects(p["movers"], with_change=True))
        )
    if month := _month_to_date(p.get("month_to_date")):
        blocks.append(section(month))
    blocks.append(section("*Top cost drivers by model*\n" + _models(p)))
    if p["unpriced_models"]:
        names = ", ".join(
            f"{esc_name(m['provider'] or '?')}/{esc_name(m['model'])} ({m['events']:,})" for m in p["unpriced_models"]
        )
        blocks.append(
            section(
                clip(
                    f"*:grey_question: Unpriced usage*: {plural(p['unpriced_events'], 'event')} without a "
                    f"price ({names}); COGS is understated until they are added to the price file and "
                    "`marginbot reprice` runs.",
                    MAX_SECTION_TEXT,
                    mrkdwn=True,
                )
            )
        )
    if p.get("skipped_contracts"):  # absent from digests queued before it existed
        blocks.append(
            section(
                clip(
                    f"*:warning: {len(p['skipped_contracts'])} contract(s) left out*: a stored value cannot be read, "
                    "so revenue is understated until they are re-imported: "
                    + "; ".join(esc_text(c) for c in p["skipped_contracts"]),
                    MAX_SECTION_TEXT,
                    mrkdwn=True,
                )
            )
        )
    # Absent from digests queued before they existed.
    blocks += [
        section(clip(text, MAX_SECTION_TEXT, mrkdwn=True))
        for text in (_not_invoiced(p), _unconverted(p), _uncollectible(p))
        if text
    ]
    if lagging := p.get("lagging_sources"):  # absent from digests queued before it existed
        blocks.append(section(clip(_lagging(lagging), MAX_SECTION_TEXT, mrkdwn=True)))
    blocks.append(context(_trend(p) + " · chart below"))
    blocks += [context(f":warning: {esc_text(n)}") for n in p.get("notices") or []]
    return {"text": digest_text(p), "blocks": blocks}


def _days(n: dict[str, Any]) -> str:
    span = f"{n['from']} to {n['to']}" if n["from"] != n["to"] else n["from"]
    return f"{span} ({plural(n['days'], 'day')}) COGS {money(figure(n, 'cogs_usd'))}"


def _not_invoiced(p: dict[str, Any]) -> str | None:
    """Customers billed in arrears whose last days of the week, or of the month to date, no invoice covers yet: the
    figures count those days' COGS against no revenue (engine.reports.invoicing), which `portfolio` says too."""
    week = {n["customer"]: n for n in p.get("not_invoiced") or []}
    month = {n["customer"]: n for n in (p.get("month_to_date") or {}).get("not_invoiced") or []}
    if not week and not month:
        return None
    lines = []
    for key in sorted(week.keys() | month.keys()):
        parts = [f"the week's {_days(week[key])}"] if key in week else []
        if key in month:
            parts.append(f"the month to date's {_days(month[key])}")
        first = week.get(key) or month[key]
        billed = [n for n in (week.get(key), month.get(key)) if n and figure(n, "billed_margin_pct") is not None]
        alone = f"; its billed days alone {percent(figure(billed[-1], 'billed_margin_pct'))}" if billed else ""
        lines.append(
            f"• *{esc_name(first['name'])}*: billed through {first['billed_through']}; {'; '.join(parts)}{alone}"
        )
    return (
        "*:hourglass_flowing_sand: Not invoiced yet* (billed in arrears: the figures above count these days' COGS "
        "against no revenue until the invoice comes)\n" + "\n".join(_capped(lines))
    )


def _unconverted(p: dict[str, Any]) -> str | None:
    """Invoice lines over the week or the month to date in another currency than USD, left out of their revenue."""
    return _named_once(
        p,
        "unconverted_invoice_lines",
        ("invoice", "line"),
        "*:warning: Invoices left out of revenue* (not in USD, so not in the figures above)",
    )


def _uncollectible(p: dict[str, Any]) -> str | None:
    """Invoices over the week or the month to date marked uncollectible in Stripe: in the figures as earned."""
    return _named_once(
        p,
        "uncollectible_invoices",
        ("customer", "invoice"),
        "*:money_with_wings: Invoices marked uncollectible* (in the figures above as earned)",
    )


def _named_once(p: dict[str, Any], key: str, ident: tuple[str, ...], heading: str) -> str | None:
    """The week's and the month to date's entries under `key` (each with its `text`), one a line under `heading`,
    an entry both name (the same `ident` fields) once; None when there are none."""
    lines: dict[tuple[str, ...], str] = {}
    for entry in (p.get(key) or []) + ((p.get("month_to_date") or {}).get(key) or []):
        lines.setdefault(tuple(entry[f] for f in ident), f"• {esc_text(entry['text'])}")
    if not lines:
        return None
    return heading + "\n" + "\n".join(_capped(list(lines.values())))


def _capped(lines: list[str]) -> list[str]:
    """At most MAX_LISTED lines, the rest said as "…and N more"."""
    if len(lines) <= MAX_LISTED:
        return lines
    return [*lines[:MAX_LISTED], f"…and {len(lines) - MAX_LISTED} more"]


def _lagging(sources: list[dict[str, str | None]]) -> str:
    """Sources the week's figures are missing usage from: synced only to a moment before the week ended, or never."""
    named = esc_text(lagging_text(sources))
    return (
        f"*:warning: Usage not synced to the week's end*: {named}. COGS they have not read is missing from these "
        "figures, so the margins read too high until the sync catches up (`marginbot sync`)."
    )


def _month_to_date(m: dict[str, Any] | None) -> str | None:
    """The calendar month so far, against the same days of the month before, with its run rate labelled."""
    if not m:
        return None
    against = against_same_days(figure(m, "margin_change_pts"), figure(m, "previous_margin_pct"))
    line = (
        f"*{esc_text(m['title'])}:* gross margin {percent(figure(m, 'margin_pct'))} ({against}) · "
        f"revenue {money(figure(m, 'revenue_usd'))} · COGS {money(figure(m, 'cogs_usd'))}"
    )
    p = m.get("projection")
    if p:
        # A digest queued before the run rate carried contracts over their own days has no basis to say: "at this
        # pace" was all it carried.
        basis = f" ({esc_text(p['basis'])})" if p.get("basis") else ""
        pace = "" if basis else " at this pace"
        line += (
            f"\n:crystal_ball: Run rate, not actuals: all {p['full_days']} days{pace} would be revenue "
            f"{money(figure(p, 'revenue_usd'))}, COGS {money(figure(p, 'cogs_usd'))}, "
            f"margin {percent(figure(p, 'margin_pct'))}{basis}"
        )
        if p.get("caveat"):  # a digest queued before the run rate said so has none
            line += f"\n:warning: {esc_text(p['caveat'])}"
    return line


def digest_text(p: dict[str, Any]) -> str:
    change = figure(p, "margin_change_pts")
    return clip(
        f"Weekly margin digest {p['week']['label']}: blended margin {percent(figure(p, 'margin_pct'))}"
        f" ({points(change) if change is not None else 'n/a'}), revenue {money(amount(p, 'revenue_usd'))}, "
        f"COGS {money(amount(p, 'cogs_usd'))}; {len(p['breach'])} in breach, {len(p['watch'])} on watch.",
        3000,
    )


def digest_plain(p: dict[str, Any]) -> str:
    """The digest as terminal text (for `marginbot digest send --dry-run`)."""
    out = []
    for block in digest_message(p)["blocks"]:
        if block["type"] in ("header", "section") and "text" in block:
            out.append(block["text"]["text"])
        elif block["type"] == "section":
            out.append("\n".join(f["text"].replace("\n", ": ") for f in block["fields"]))
        elif block["type"] == "context":
            out.append(" ".join(e["text"] for e in block["elements"]))
    return unesc(unbold("\n\n".join(out)))  # a terminal shows "AT&T", not Slack's "AT&amp;T"
