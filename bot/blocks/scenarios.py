"""What-if, forecast and price-floor answers as Block Kit. Pure: the `--json` dict in, an `Answer` out.

They read the same dicts `marginbot whatif|forecast|floor --json` prints (`scenario_to_dict`, `forecast_to_dict`,
`floor_to_dict` in engine.scenarios), so the terminal, JSON and Slack agree.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from bot.answer_types import Answer
from bot.blocks.kit import Block, code, context, divider, esc_name, esc_text, fields, fit, header, section, sections
from bot.render.fmt import STATUS_EMOJI, STATUS_LABEL, exact, money, percent, plural, points
from bot.render.tables import COST_TYPE_LABEL
from engine.money import unit_price_text
from engine.periods import Period
from engine.scenarios.basis import WINDOW_DAYS

TOP_CUSTOMERS = 10
TABLE_ROWS = 36
COST_LABEL = {**COST_TYPE_LABEL, "cache_lookup": "cache lookups"}
UNIT_LABEL = {
    "request": "request",
    "task": "task",
    "1k_tokens": "1k tokens",
    "seat": "seat",
    "month": "month",
}


def _d(value: Any) -> Decimal | None:
    # The dicts hold JSON numbers; the engine's carry the exact value they were rounded from (see
    # engine.reports.serialize.Rounded), so a margin shown to one decimal is rounded once, like everywhere else.
    return exact(value)


def _money(value: Any) -> str:
    return money(_d(value))


def _pct(value: Any) -> str:
    return percent(_d(value))


def _pts(value: Any) -> str:
    return points(_d(value))


def _signed_money(value: Any) -> str:
    d = _d(value) or Decimal(0)
    return ("+" if d > 0 else "") + money(d)


def _title(period: dict[str, Any]) -> str:
    """A period's label, with "month to date (through Nov 26)" when it was cut at the as-of day."""
    if period.get("complete", True) or "full_end" not in period:
        return str(period["label"])
    cut = Period(
        date.fromisoformat(period["start"]),
        date.fromisoformat(period["end"]),
        period["label"],
        full_end=date.fromisoformat(period["full_end"]),
        running=True,
    )
    return cut.title


def _status(status: str) -> str:
    return f"{STATUS_EMOJI[status]} {STATUS_LABEL[status]}"


# ---------------------------------------------------------------- what-if


def _cogs_unmoved(d: dict[str, Any]) -> bool:
    """No lever moved COGS (a price alone): a "COGS saving $0.00" is no headline, its gross profit is."""
    return _d(d["before"]["cogs_usd"]) == _d(d["after"]["cogs_usd"]) and not _d(d["saving_per_month_usd"])


def whatif_text(d: dict[str, Any]) -> str:
    b, a = d["before"], d["after"]
    from_zero = _d(d.get("priced_from_zero_per_month_usd")) or 0
    unlike = f" ({_money(from_zero)} a month of it counted as $0 before: unpriced usage)" if from_zero else ""
    moved = (
        f"gross profit {_signed_money(d['gross_profit_change_per_month_usd'])} a month (COGS unchanged)"
        if _cogs_unmoved(d)
        else f"COGS saving {_signed_money(d['saving_per_month_usd'])} a month{unlike}"
    )
    if d.get("material") is False:  # a what-if queued or cached before the key existed is material
        return (
            f"What if, {d['name']} ({_title(d['period'])}): {_immaterial(d)} (gross margin "
            f"{_pct(b['gross_margin_pct'])} → {_pct(a['gross_margin_pct'])}, {moved})"
        )
    return (
        f"What if, {d['name']} ({_title(d['period'])}): gross margin {_pct(b['gross_margin_pct'])} → "
        f"{_pct(a['gross_margin_pct'])} ({STATUS_LABEL[b['status']]} → {STATUS_LABEL[a['status']]}), {moved}"
    )


def _immaterial(d: dict[str, Any]) -> str:
    """What leads a what-if on a subject too small to count (engine.reports.figures.Figures.material)."""
    return f"immaterial, revenue and COGS each under {_money(d['materiality_usd'])} before and after"


def _priced_from_zero(d: dict[str, Any]) -> list[Block]:
    """A route that moved unpriced usage to a priced model: "after" counts a cost "before" counted as $0, so the
    saving beside it is not like for like. Said where the saving is, not only in the assumptions."""
    amount = _d(d.get("priced_from_zero_usd")) or 0
    if not amount:
        return []
    monthly = _money(d.get("priced_from_zero_per_month_usd"))
    return [
        section(
            f":warning: *After adds {_money(amount)} of COGS ({monthly} a month) that before counted as $0*: the "
            f"route prices usage no price covered, so the COGS saving is {monthly} a month lower than like for like"
        )
    ]


def whatif_message(d: dict[str, Any]) -> Answer:
    """Before and after side by side, the monthly saving, the levers and every assumption."""
    b, a = d["before"], d["after"]
    who = "the portfolio" if d["kind"] == "portfolio" else f"customer {code(d['customer'])}"
    blocks = [
        header(f"What if · {d['name']} · {_title(d['period'])}"),
        context(f"{who} · {d['period']['start']} to {d['period']['end']}"),
        *_unpriced(
            d,
            "in the period",
            "the margins before and after are both too kind"
            if d["after"].get("unpriced_events")
            else "the margin before is too kind (after, the levers leave none unpriced)",
        ),
        *_priced_from_zero(d),
        section("*Levers*\n" + "\n".join(f"• {esc_text(lever, _names(d))}" for lever in d["levers"])),
        fields(
            "*Before*",
            "*After*",
            f"Revenue  {_money(b['revenue_usd'])}",
            f"Revenue  {_money(a['revenue_usd'])}",
            f"COGS  {_money(b['cogs_usd'])}",
            f"COGS  {_money(a['cogs_usd'])}",
            f"Gross margin  *{_pct(b['gross_margin_pct'])}*",
            f"Gross margin  *{_pct(a['gross_margin_pct'])}*",
            _status(b["status"]),
            _status(a["status"]),
        ),
        context(
            f"_{_immaterial(d)[0].upper()}{_immaterial(d)[1:]}: nothing here is worth a headline_ · "
            f"COGS saving {_signed_money(d['saving_per_month_usd'])} a month ({esc_text(d['month'])}) · "
            f"gross profit {_signed_money(d['gross_profit_change_per_month_usd'])} a month"
        )
        if d.get("material") is False
        else section(
            f":moneybag: *Gross profit {_signed_money(d['gross_profit_change_per_month_usd'])} a month* "
            f"({esc_text(d['month'])}) · margin {_pts(d['change']['gross_margin_pts'])} · COGS unchanged"
            if _cogs_unmoved(d)
            else f":moneybag: *COGS saving {_signed_money(d['saving_per_month_usd'])} a month* "
            f"({esc_text(d['month'])}) · "
            f"gross profit {_signed_money(d['gross_profit_change_per_month_usd'])} a month · "
            f"margin {_pts(d['change']['gross_margin_pts'])}"
        ),
    ]
    by_type = [
        f"{COST_LABEL.get(t, t)}: {_money(v['before'])} → {_money(v['after'])}"
        for t, v in d["cogs_by_type"].items()
        if v["before"] != v["after"]
    ]
    if by_type:
        blocks.append(section("*COGS that moves*\n" + "\n".join(by_type)))
    terms = d.get("terms")
    if terms and terms["before"] != terms["after"]:
        blocks.append(
            section(
                "*Revenue terms*\nbefore: "
                + esc_text("; ".join(terms["before"]) or "none", _names(d))
                + "\nafter: "
                + esc_text("; ".join(terms["after"]) or "none", _names(d))
            )
        )
    if d["kind"] == "portfolio":
        blocks += _movers(d["customers"])
    blocks.append(divider())
    blocks += _assumptions(d["assumptions"], _names(d))
    return Answer(esc_text(whatif_text(d), _names(d)), fit(blocks))


def _movers(customers: list[dict[str, Any]]) -> list[Block]:
    """The customers the levers move most: by how far their COGS moves, either way (the order the engine gives, kept
    here too), titled by what the list holds: savings, cost increases, or both ("Biggest COGS changes", each line
    signed). When no lever moves COGS (a `price` lever alone), by how far their gross profit moves."""
    saving = {c["customer"]: _d(c["saving_per_month_usd"]) or Decimal(0) for c in customers}
    movers = sorted(
        (c for c in customers if saving[c["customer"]]), key=lambda c: (-abs(saving[c["customer"]]), c["customer"])
    )[:TOP_CUSTOMERS]
    if movers:
        total = f"({len(customers)} customers in total)"
        if all(saving[c["customer"]] > 0 for c in movers):
            title, words = f"Biggest savings {total}", lambda v: f"{_signed_money(v)} a month"
        elif all(saving[c["customer"]] < 0 for c in movers):
            title, words = f"Biggest cost increases {total}", lambda v: f"COGS {_signed_money(-v)} a month"
        else:
            title, words = f"Biggest COGS changes {total}", lambda v: f"COGS saving {_signed_money(v)} a month"
        lines = [
            f"{esc_name(c['name'])}: {_pct(c['before']['gross_margin_pct'])} → "
            f"{_pct(c['after']['gross_margin_pct'])}, {words(saving[c['customer']])}"
            for c in movers
        ]
        return sections(title, lines)
    by = {c["customer"]: _d(c.get("gross_profit_change_per_month_usd")) or Decimal(0) for c in customers}
    changed = sorted(
        (c for c in customers if by[c["customer"]]), key=lambda c: (-abs(by[c["customer"]]), c["customer"])
    )
    if not changed:
        return []
    lines = [
        f"{esc_name(c['name'])}: {_pct(c['before']['gross_margin_pct'])} → {_pct(c['after']['gross_margin_pct'])}, "
        f"gross profit {_signed_money(c['gross_profit_change_per_month_usd'])} a month"
        for c in changed[:TOP_CUSTOMERS]
    ]
    return sections(f"Biggest gross-profit changes ({len(customers)} customers in total)", lines)


def _assumptions(items: list[str], names: list[str]) -> list[Block]:
    return sections("Assumptions", [f"• {esc_text(x, names)}" for x in items])


def _names(d: dict[str, Any]) -> list[str]:
    """The names an answer's engine sentences may hold (its subject's name and key): see esc_text."""
    return [str(d[k]) for k in ("name", "customer", "product") if d.get(k)]


def _unpriced(d: dict[str, Any], where: str, so: str) -> list[Block]:
    """Usage no price covers in the days the answer stands on (`unpriced_events`): its COGS counts as $0, so the
    answer is kinder than the usage, said as `/margin` says it. (Absent from a dict made before it was kept.)"""
    n = d.get("unpriced_events") or 0
    if not n:
        return []
    models = esc_name(", ".join(d.get("unpriced_models") or []))
    return [section(f":warning: *{plural(n, 'unpriced event')}* ({models}) {where}: COGS is understated, so {so}")]


# ---------------------------------------------------------------- forecast


def _month_table(months: list[dict[str, Any]]) -> str:
    rows = [("month", "usage", "P50 margin", "P99 margin", "P50 COGS", "P99 COGS")]  # typical and heavy months
    for m in months[:TABLE_ROWS]:
        rows.append(
            (
                m["month"],
                f"×{_d(m['usage_factor']):.2f}",
                f"{_pct(m['p50']['gross_margin_pct'])} {_flag(m['p50'])}",
                f"{_pct(m['p99']['gross_margin_pct'])} {_flag(m['p99'])}",
                _money(m["p50"]["cogs_usd"]),
                _money(m["p99"]["cogs_usd"]),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    return "```\n" + "\n".join(line.rstrip() for line in lines) + "\n```"


def _flag(figures: dict[str, Any]) -> str:
    # Cost with no revenue has no margin (n/a) and is a breach all the same (engine.scenarios.forecast).
    if figures["status"] == "no_revenue" and (_d(figures["cogs_usd"]) or 0) > 0:
        return "!"
    return {"breach": "!", "watch": "~"}.get(figures["status"], " ")


def _breach(month: str | None, reason: str | None = None) -> str:
    if not month:
        return "not within the forecast"
    return f"*{month}*" + (" (cost without revenue)" if reason == "cost_without_revenue" else "")


def _breach_words(month: str | None, reason: str | None) -> str:
    """A breach month in plain text, as the Slack notification text says it."""
    if not month:
        return "not within the forecast"
    return month + (" (cost without revenue)" if reason == "cost_without_revenue" else "")


NO_WINDOW = "none: no usage in the history"


def _window(w: dict[str, Any] | None) -> str:
    """A P50 or P99 window. One shorter than WINDOW_DAYS (all the history there is) says so: its COGS is of its own
    days, and the month worked out from it is that scaled up."""
    if not w:
        return "n/a"
    days = w.get("days")
    short = (
        f" in those {plural(days, 'day')}, scaled to {WINDOW_DAYS}" if days is not None and days < WINDOW_DAYS else ""
    )
    cogs = f", COGS {_money(w['cogs_usd'])}{short}" if "cogs_usd" in w else ""
    return f"{w['start']} to {w['end']}{cogs}"


def _stress_line(d: dict[str, Any], months: list[dict[str, Any]], breach: str | None) -> str | None:
    """The stress case, beside the forecast and never in its table: every day like the P99 day."""
    if not months or "stress" not in months[0]:
        return None
    first = months[0]
    day = d.get("p99_day")
    which = f" ({day['day']}, COGS {_money(day['cogs_usd'])} a day)" if day else ""
    crosses = f"; under the breach line from {breach}" if breach else ""
    if breach and d.get("breach_reason_stress") == "cost_without_revenue":
        crosses = f"; cost without revenue from {breach}"
    return (
        f":warning: *Stress case, not a forecast:* every day like the P99 day{which}: margin "
        f"{_pct(first['stress']['gross_margin_pct'])} in {first['month']}{crosses}"
    )


def forecast_text(d: dict[str, Any]) -> str:
    if d["kind"] == "customer":
        return (
            f"Forecast, {d['name']} ({d['growth']}): breach in a typical month "
            f"{_breach_words(d['breach_month_p50'], d.get('breach_reason_p50'))}, in a heavy month "
            f"{_breach_words(d['breach_month_p99'], d.get('breach_reason_p99'))}"
        )
    crossing = sum(1 for c in d["customers"] if c["breach_month_p99"])
    return f"Portfolio forecast ({d['growth']}): {plural(crossing, 'customer')} cross the breach line in a heavy month"


def forecast_message(d: dict[str, Any]) -> Answer:
    """Margin month by month in a typical (P50) and a heavy (P99) month, the month each crosses the breach line,
    and the stress case beside them."""
    blocks = [
        header(f"Forecast · {d['name']} · {plural(d['months'], 'month')}"),
        context(f"history {d['basis']['start']} to {d['basis']['end']} · {esc_text(d['growth'], _names(d))}"),
    ]
    if d.get("history_note"):
        blocks.append(section(f":warning: {esc_text(d['history_note'], _names(d))}"))
    blocks += _unpriced(d, "in the history", "every month forecast is too kind and a breach may come sooner")
    # No usage in the history: the windows are one empty day, not 30 days that happened.
    used = d.get("history_days") != 0
    if d["kind"] == "customer":
        blocks += [
            fields(
                f"*Breach in a typical month (P50)*\n{_breach(d['breach_month_p50'], d.get('breach_reason_p50'))}",
                f"*Breach in a heavy month (P99)*\n{_breach(d['breach_month_p99'], d.get('breach_reason_p99'))}",
                f"*Typical 30 days (P50)*\n{_window(d.get('p50_window')) if used else NO_WINDOW}",
                f"*Heavy 30 days (P99)*\n{_window(d.get('p99_window')) if used else NO_WINDOW}",
            ),
            section(_month_table(d["forecast"])),
            context("Terms: " + esc_text("; ".join(d["terms"]) or "none", _names(d)) + " · `!` breach, `~` watch"),
        ]
        if changes := d.get("contract_changes"):
            blocks += sections(
                "Contracts that end or start within the forecast",
                [f"• {esc_text(c['note'], _names(d))}" for c in changes],
            )
        if line := _stress_line(d, d["forecast"], d.get("breach_month_stress")):
            blocks.append(section(line))
    else:
        blocks.append(section("*Portfolio, month by month*\n" + _month_table(d["total"])))
        if d.get("p50_window") and used:
            blocks.append(
                context(
                    f"the portfolio's own 30-day windows: typical {_window(d['p50_window'])} · heavy "
                    f"{_window(d['p99_window'])}"
                )
            )
        crossing = [c for c in d["customers"] if c["breach_month_p50"] or c["breach_month_p99"]]
        lines = [
            f"{esc_name(c['name'])}: typical month {_breach(c['breach_month_p50'], c.get('breach_reason_p50'))} · "
            "heavy "
            f"month {_breach(c['breach_month_p99'], c.get('breach_reason_p99'))}"
            for c in crossing[:TOP_CUSTOMERS]
        ]
        if len(crossing) > TOP_CUSTOMERS:
            lines.append(f"_and {len(crossing) - TOP_CUSTOMERS} more_")
        blocks += sections("Customers crossing the breach line", lines or ["_none within the forecast_"])
        plan_lines = [
            f"*{esc_name(p['plan'])}* ({plural(p['customers'], 'customer')}): like its P50 customer "
            f"{code(p['p50_customer'])} breach "
            f"{_breach(p['breach_month_like_p50'], p.get('breach_reason_like_p50'))}; "
            f"like its P99 customer {code(p['p99_customer'])} breach "
            f"{_breach(p['breach_month_like_p99'], p.get('breach_reason_like_p99'))}"
            for p in d["plans"]
        ]
        if plan_lines:
            blocks += sections("A new customer of each plan (each in a typical month)", plan_lines)
        if d["total"] and "stress" in d["total"][0]:
            first = d["total"][0]
            blocks.append(
                context(
                    f":warning: Stress case, not a forecast: every customer at their own P99 day at once: margin "
                    f"{_pct(first['stress']['gross_margin_pct'])} in {first['month']}"
                )
            )
    blocks.append(divider())
    blocks += _assumptions(d["assumptions"], _names(d))
    return Answer(esc_text(forecast_text(d), _names(d)), fit(blocks))


# ---------------------------------------------------------------- price floor


def _price(value: str | None, unit: str) -> str:
    if value is None:
        return "n/a"
    # Cents at least, and every decimal the price has beyond them (a floor to 0.0001 a task, today's contract price):
    # never rounded, and never "$2.5/task".
    return f"{unit_price_text(Decimal(value))}/{UNIT_LABEL.get(unit, unit)}"


def _today(d: dict[str, Any]) -> str:
    price = _price(d["current_price_usd"], d["unit"])
    # An effective price is what today's terms earn per unit in the heavy month, the month the floor is solved on.
    effective = d.get("current_price_is_effective") and d["current_price_usd"]
    return f"{price} (effective, heavy month)" if effective else price


def floor_text(d: dict[str, Any]) -> str:
    if d["floor_price_usd"] is None:
        return (
            f"Price floor, {d['name']}: no price per {UNIT_LABEL.get(d['unit'], d['unit'])} reaches a "
            f"{_pct(d['target_pct'])} margin in a heavy month (today {_today(d)})"
        )
    if not _d(d["floor_price_usd"]):
        if not _d(d["p99_month_cogs_usd"]):
            return f"Price floor, {d['name']}: the heavy month has no COGS to cover (today {_today(d)})"
        return (
            f"Price floor, {d['name']}: its other charges alone keep a {_pct(d['target_pct'])} margin in a heavy "
            f"month, at any price per {UNIT_LABEL.get(d['unit'], d['unit'])} (today {_today(d)})"
        )
    return (
        f"Price floor, {d['name']}: {_price(d['floor_price_usd'], d['unit'])} keeps a {_pct(d['target_pct'])} margin "
        f"in a heavy month (today {_today(d)})"
    )


def _floor_line(d: dict[str, Any], when: str) -> str:
    unit = d["unit"]
    if d["floor_price_usd"] is None:
        # No price in this unit moves revenue in the heavy month (the note says why): nothing "keeps" the margin.
        return (
            f":triangular_ruler: *No floor per {UNIT_LABEL.get(unit, unit)}*: no price in it reaches "
            f"*{_pct(d['target_pct'])}* in a heavy month{when}"
        )
    if not _d(d["floor_price_usd"]):  # "*Floor $0.00/request*" headlined a nothing
        if not _d(d["p99_month_cogs_usd"]):  # no cost priced at all (unpriced usage, said above): nothing to cover
            return f":triangular_ruler: *No floor to set*: the heavy month has no COGS to cover{when}"
        return (
            f":triangular_ruler: *Any price per {UNIT_LABEL.get(unit, unit)}*: its other charges alone keep the gross "
            f"margin at *{_pct(d['target_pct'])}* in a heavy month{when}"
        )
    return (
        f":triangular_ruler: *Floor {_price(d['floor_price_usd'], unit)}* keeps the gross margin at "
        f"*{_pct(d['target_pct'])}* in a heavy month{when}"
    )


def floor_message(d: dict[str, Any]) -> Answer:
    """The lowest price that keeps the target margin in a heavy (P99) month that happened, against today's price,
    with today's and the floor's margin in a typical and a heavy month."""
    unit = d["unit"]
    heavy = d.get("p99_window")
    if heavy and heavy.get("days", WINDOW_DAYS) < WINDOW_DAYS:  # all the history there is: one window
        when = f" (the only window, all {heavy['days']} days of history: {_window(heavy)})"
    else:
        when = f" (the P99 {WINDOW_DAYS} days, {_window(heavy)})" if heavy else ""
    blocks = [
        header(f"Price floor · {d['name']}"),
        context(
            f"customer {code(d['customer'])} · history {d['basis']['start']} to {d['basis']['end']} · "
            + esc_text("; ".join(d["terms"]) or "no terms", _names(d))
        ),
        *_unpriced(d, "in the history", "the floor is too low and today's margins too kind"),
        section(_floor_line(d, when) + (" (a usage plan they are not on today)" if d["hypothetical"] else "")),
        fields(
            f"*Today's price*\n{_today(d)}",
            f"*Floor*\n{_price(d['floor_price_usd'], unit)}",
            # A line each: two "typical · heavy" pairs side by side read as one run of four figures.
            f"*Margin today*\ntypical month {_pct(d.get('margin_p50_at_current_pct'))}\n"
            f"heavy month {_pct(d['margin_p99_at_current_pct'])}",
            f"*Margin at the floor*\ntypical month {_pct(d['margin_p50_at_floor_pct'])}\n"
            f"heavy month {_pct(d['margin_p99_at_floor_pct'])}",
            f"*Heavy month COGS*\n{_money(d['p99_month_cogs_usd'])}",
            f"*Revenue it needs*\n{_money(d.get('revenue_needed_per_month_usd'))} a month",
        ),
    ]
    if d.get("note"):
        blocks.append(section(f":information_source: {esc_text(d['note'], _names(d))}"))
    if d.get("history_note"):
        blocks.append(section(f":warning: {esc_text(d['history_note'], _names(d))}"))
    stress = d.get("stress")
    if stress:
        blocks.append(
            context(
                f"Stress case, not the floor's month: 30 days like the P99 day, COGS {_money(stress['cogs_usd'])}: "
                f"margin {_pct(stress['margin_at_current_pct'])} today, {_pct(stress['margin_at_floor_pct'])} at the "
                "floor"
            )
        )
    blocks.append(divider())
    blocks += _assumptions(d["assumptions"], _names(d))
    return Answer(esc_text(floor_text(d), _names(d)), fit(blocks))
