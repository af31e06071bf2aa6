"""Alert messages: one section per subject with its buttons, split into parts Slack accepts, and a plain fallback.

Pure: an outbox payload written by `engine.alerts` (a dict) and, optionally, how each subject shows now (its
buttons, or who acknowledged it, or that it recovered: `engine.alerts.threads.Shown`) in; {"text", "blocks"} out.

Size: Slack refuses a message past 50 blocks, and past roughly 12,000 characters of block text
(`msg_blocks_too_long`, undocumented: slackapi/bolt-js#2509, #2867). `pack_alerts` splits a run's alerts into parts
of whole subjects within MAX_MESSAGE_BLOCKS and PACK_TEXT characters, leaving room for a subject's buttons to be
replaced by "Acknowledged by …" later; `alert_fallback` is the same content as plain text in short chunks, for when
Slack refuses the blocks anyway.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.blocks.kit import (
    ELLIPSIS,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_TEXT,
    Block,
    clip,
    context,
    esc,
    esc_name,
    esc_text,
    header,
    section,
    unbold,
    unesc,
)
from bot.render.fmt import delta_pct, money, percent_beside, points
from engine.alerts.lag import lagging_text
from engine.alerts.threads import ENDED_BY, Shown

MAX_TEXT = 600  # the notification text: names and margins; the blocks carry the rest
PACK_TEXT = 10_000  # block text per part; Slack refuses around 12,000, and an acknowledgement adds a little
FALLBACK_CHUNK = 3_000  # characters per plain-text post when Slack refuses the blocks
SNOOZE_OPTIONS = ((1, "Snooze 1 day"), (7, "Snooze 7 days"), (30, "Snooze 30 days"))
# Action ids of the alert buttons (bot/slack/listeners/actions reads them).
ACK, SNOOZE, OPEN, WHATIF = "alert_acknowledge", "alert_snooze", "alert_open", "alert_whatif"
# Slack's limits for what names a subject in a click: a block id, a button's value, an overflow option's value.
MAX_BLOCK_ID, MAX_BUTTON_VALUE, MAX_OPTION_VALUE = 255, 2000, 150
_MEMBER = re.compile(r"^[UW][A-Z0-9]{2,30}$")  # a Slack member ID: safe to put inside <@…>

TITLES = {
    "breach": ":red_circle: New breach",
    "no_revenue": ":white_circle: Cost without revenue",
    "trending_to_breach": ":chart_with_downwards_trend: Trending to breach",
    "unpriced": ":grey_question: Unpriced usage",
    "reminder": ":repeat: Still unresolved",
    "recovered": ":large_green_circle: Recovered",
    "quiet": ":heavy_minus_sign: Gone quiet",
    "moved": ":arrow_right: Moved",
}
ORDER = list(TITLES)
WORDS = {
    "breach": "new breach",
    "no_revenue": "without revenue",
    "trending_to_breach": "trending to breach",
    "unpriced": "unpriced",
    "reminder": "still unresolved",
    "recovered": "recovered",
    "quiet": "gone quiet",
    "moved": "moved",
}


def subject_ref(kind: str, key: str) -> str:
    """What a button's value says: `customer:acme`, `product:search` (escaped like text: a key is user data, and
    nothing the bot sends may hold a live `<!channel>`)."""
    return esc(f"{kind}:{key}")


def subject_digest(kind: str, key: str) -> str:
    """A short, stable name for a subject where its escaped key has no room (a block id, a Snooze option's value):
    `#` and 24 hex digits of the SHA-256 of `kind:key`. A ref starts with its kind, never `#`; the click's subject
    is found again by the digest of each subject with an alert (`names_subject`)."""
    return "#" + hashlib.sha256(f"{kind}:{key}".encode()).hexdigest()[:24]


def old_block_id(kind: str, key: str) -> str:
    """The block id versions before digests gave a subject's buttons: its ref, clipped to 255 characters as `clip`
    clipped then (at the 254th character, an entity cut or not), so a message posted then is still read."""
    ref = f"alert:{subject_ref(kind, key)}"
    return ref if len(ref) <= MAX_BLOCK_ID else ref[: MAX_BLOCK_ID - 1] + ELLIPSIS


def names_subject(token: str, kind: str, key: str) -> bool:
    """Whether `token`, what a click said in place of a subject (its digest, or an older message's block id that
    may have been clipped), names this subject."""
    return token == subject_digest(kind, key) or token == old_block_id(kind, key)


def parse_ref(value: str) -> tuple[str, str] | None:
    """`customer:acme` → ("customer", "acme"); None for anything else."""
    kind, sep, key = unesc(value).partition(":")
    return (kind, key) if sep and kind in ("customer", "product") and key else None


def mention(member: str) -> str:
    """`<@U123>` for a real member ID (it notifies them); anything else is shown as escaped text."""
    return f"<@{member}>" if _MEMBER.match(member) else esc_name(member)


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def figure(d: dict[str, Any], name: str) -> Decimal | None:
    """A figure of an outbox payload, exact (its "exact", engine.reports.serialize.payload_figures), or its text to
    the cent in a payload stored before those were: shown through bot/render/fmt it is rounded once, as `/margin`
    rounds it, not again from the cent ("29.75" would show 29.8% where `/margin` says 29.7%)."""
    exact = d.get("exact") or {}
    return _d(exact[name] if name in exact else d.get(name))


def amount(d: dict[str, Any], name: str) -> Decimal:
    """A figure every payload has (dollars), exact where the payload keeps it."""
    value = figure(d, name)
    if value is None:
        raise KeyError(name)
    return value


def _day(value: str | None, payload: dict[str, Any]) -> str:
    """The day of a stored moment in the user's time zone, the zone the window's days are cut in."""
    return _local_date(value, payload).isoformat() if value else "?"


def _local_date(value: str, payload: dict[str, Any]) -> date:
    moment = datetime.fromisoformat(value)
    # Moments are stored in UTC; one written without an offset is UTC too.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(_zone(payload)).date()


def _zone(payload: dict[str, Any]) -> ZoneInfo:
    try:
        return ZoneInfo(str(payload.get("timezone") or "UTC"))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _when(value: datetime | None, payload: dict[str, Any]) -> str:
    if value is None:
        return "?"
    local = value.astimezone(_zone(payload))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname() or ''}".rstrip()


def _lines(e: dict[str, Any], payload: dict[str, Any]) -> list[Decimal | None]:
    """The lines an event's margin is judged against: its breach line and its recovery line (its own, where the
    customer has them)."""
    return [_d(_line(e, payload, "breach_pct")), _d(_line(e, payload, "recover_pct"))]


def _line(e: dict[str, Any], payload: dict[str, Any], name: str) -> str:
    """An event's `breach_pct` or `recover_pct` as the payload writes it: the customer's own where it has one."""
    return str(e.get(name) or payload[name])


def margin_text(e: dict[str, Any], payload: dict[str, Any]) -> str:
    """An event's margin, never shown on or across a line it was judged against (39.96% under a 40% line is not
    "40.0%"): one decimal, more where rounding to one would cross."""
    return percent_beside(figure(e, "margin_pct"), _lines(e, payload))


def _figures(e: dict[str, Any], payload: dict[str, Any]) -> str:
    margin, before = figure(e, "margin_pct"), figure(e, "previous_margin_pct")
    change = f" ({points(margin - before)} vs previous period)" if margin is not None and before is not None else ""
    revenue, cogs = amount(e, "revenue_usd"), amount(e, "cogs_usd")
    return (
        f"margin *{margin_text(e, payload)}*{change} · revenue {money(revenue)} "
        f"({delta_pct(revenue, amount(e, 'previous_revenue_usd'))}) · COGS {money(cogs)} "
        f"({delta_pct(cogs, amount(e, 'previous_cogs_usd'))})"
    )


def _cause(e: dict[str, Any]) -> str:
    parts = [p for p in (e.get("driver"), e.get("lever")) if p]
    return f"\n      biggest cost driver: {esc_text('; '.join(parts))}" if parts else ""


def event_body(e: dict[str, Any], payload: dict[str, Any], as_of: date) -> str:
    """What one event says about its subject: the figures that matter for this kind of event, and the cause; and,
    for a subject billed by invoice, the days no invoice covers yet and what its billed days alone read."""
    return _event_body(e, payload, as_of) + _not_invoiced(e)


def _not_invoiced(e: dict[str, Any]) -> str:
    """The days no invoice covers yet (engine.reports.invoicing), counted in the figures the alert was judged on."""
    notes = e.get("not_invoiced") or []
    return "".join(
        f"\n      not invoiced yet: {esc_name(n['customer'])}'s {esc_text(n['text'], [n['customer']])}" for n in notes
    )


def _event_body(e: dict[str, Any], payload: dict[str, Any], as_of: date) -> str:
    kind = e["kind"]
    line = _line(e, payload, "breach_pct")
    if kind == "trending_to_breach" and e.get("trend"):
        t = e["trend"]
        crosses = ""
        if t.get("crosses_on"):
            verb = "its fitted line crossed" if t.get("crossed") else "on course to cross"
            crosses = f"; {verb} {line}% on {t['crosses_on']}"
        return (
            f"{_figures(e, payload)}\n      daily margins falling {Decimal(t['slope_pts_per_day']).copy_abs()} "
            f"pts/day over {t['days']} days{crosses} "
            f"(projected {percent_beside(figure(t, 'projected_pct'), [_d(line)])} in 14 days)" + _cause(e)
        )
    if kind == "unpriced":
        models = ", ".join(e.get("unpriced_models") or []) or "models without a price"
        return (
            f"{e['unpriced_share_pct']}% of events ({e['unpriced_events']:,} of {e['events']:,}) "
            f"have no price ({esc_name(models)}), so its COGS is understated. Add them to the price file, "
            "then run `marginbot reprice`."
        )
    if kind == "no_revenue":
        return f"COGS {money(amount(e, 'cogs_usd'))} and no revenue in the period" + _cause(e)
    if kind == "reminder":
        since = e.get("since")
        days = (as_of - _local_date(since, payload)).days if since else None
        what = "no revenue" if e["state"] == "no_revenue" else "in breach"
        now = ""
        if e["state"] == "no_revenue" and e.get("margin_pct") is not None:  # none under half a cent of revenue
            # Earning again at or above the line (under it, it would be a breach): not "in breach", not recovered.
            what, now = "cost without revenue", ", now earning"
        return (
            f"{what} since {_day(since, payload)} ({days} day{'s' if days != 1 else ''}){now}: {_figures(e, payload)}"
            + _cause(e)
            + _held(e, payload)
        )
    if kind == "recovered":
        return f"back above {_line(e, payload, 'recover_pct')}%: {_figures(e, payload)}"
    if kind == "moved":
        to = e.get("moved_to") or {}
        since = f" (open since {_day(e['since'], payload)})" if e.get("since") else ""
        return (
            f"its usage is now counted as *{esc_name(to.get('name'))}*'s: a contracts import made this id "
            f"{esc_name(to.get('name'))}'s (its name, an alias, or its id in another case) and moved its usage there. "
            f"Closed{since}; alerts on {esc_name(to.get('name'))} cover that usage from here."
        )
    if kind == "quiet":
        days = payload.get("window_days")
        window = (f"the last {days} days" if days != 1 else "the last day") if days else "the window"
        since = f" (open since {_day(e['since'], payload)})" if e.get("since") else ""
        return (
            f"no usage and no revenue in {window}, so nothing is at stake: closed{since}. "
            "Its next usage is judged afresh."
        )
    return _figures(e, payload) + _cause(e)


def _held(e: dict[str, Any], payload: dict[str, Any]) -> str:
    """Why an episode whose margin would have ended it is still open (engine.alerts.evaluate HELD_*), one line each."""
    line, recover = _line(e, payload, "breach_pct"), _line(e, payload, "recover_pct")
    reasons = []
    for reason in e.get("held") or []:
        if reason == "recovery_band":
            reasons.append(
                f"held open: the margin is at or above the {line}% line, so not a breach, but under the {recover}% "
                "recovery level"
            )
        elif reason == "unpriced":
            reasons.append(
                f"held open: {e['unpriced_share_pct']}% of events have no price, so this margin's COGS is understated "
                "and is not a recovery"
            )
        elif reason == "sync_lag":
            reasons.append(
                f"held open: usage from {_lagging(payload) or 'a usage source'} is not synced to the window's end, "
                "so this margin is missing cost and is not a recovery"
            )
    return "".join(f"\n      {r}" for r in reasons)


def _lagging(payload: dict[str, Any]) -> str:
    """The usage sources a run found short of its window's end, as the digest says them (engine.alerts.lag)."""
    return esc_text(lagging_text(payload.get("lagging_sources") or []))


def event_line(e: dict[str, Any], payload: dict[str, Any], as_of: date) -> str:
    """One subject and one event on one line (the terminal's dry run)."""
    return f"*{esc_name(e['name'])}* ({e['subject_kind']}): {event_body(e, payload, as_of)}"


def _who(group: list[dict[str, Any]]) -> str:
    e = group[0]
    who = f"*{esc_name(e['name'])}* ({e['subject_kind']})"
    if e.get("own_bands"):
        who += f" · its own breach line: {esc(e.get('breach_pct'))}%"
    owners = [mention(str(o)) for o in e.get("owners") or []]
    if owners:
        who += f" · owner {', '.join(owners)}"
    return who


def subject_text(group: list[dict[str, Any]], payload: dict[str, Any], as_of: date) -> str:
    """The section of one subject: who (its owners, its own line), then each of its events this run."""
    lines = [_who(group)]
    for e in sorted(group, key=lambda e: ORDER.index(e["kind"]) if e["kind"] in ORDER else len(ORDER)):
        lines.append(f"{TITLES.get(e['kind'], e['kind'])}: {event_body(e, payload, as_of)}")
        if e.get("resent"):
            lines.append(f"_first announced {_day(e.get('since'), payload)}; that post did not reach this channel_")
    return clip("\n".join(lines), MAX_SECTION_TEXT, mrkdwn=True)


def buttons(kind: str, key: str, *, acting: bool = True) -> Block:
    """Acknowledge, Snooze (1 / 7 / 30 days), Open and What-if for one subject; each value names the subject.
    Without `acting` (nothing open to acknowledge, e.g. a Home row not alerted on), only Open and What-if.

    Where the escaped key does not fit Slack's limit (an option value holds 150 characters, a block id 255), the
    subject's digest stands in for it: never a clipped key, which could name another subject, or the same block id
    as another long key's (Slack refuses a message whose block ids repeat). A block id that fits stays `alert:{ref}`,
    as before, so messages already posted read the same."""
    ref, digest = subject_ref(kind, key), subject_digest(kind, key)

    def named(prefix: str, limit: int) -> str:
        return f"{prefix}{ref}" if len(prefix) + len(ref) <= limit else f"{prefix}{digest}"

    value = named("", MAX_BUTTON_VALUE)  # a key holds 200 characters, 1,009 once escaped: it always fits
    elements: list[Block] = []
    if acting:
        options = [
            {"text": _plain(label), "value": named(f"{days}d:", MAX_OPTION_VALUE)} for days, label in SNOOZE_OPTIONS
        ]
        elements += [
            {"type": "button", "action_id": ACK, "text": _plain("Acknowledge"), "value": value, "style": "primary"},
            {"type": "overflow", "action_id": SNOOZE, "options": options},
        ]
    elements.append({"type": "button", "action_id": OPEN, "text": _plain("Open"), "value": value})
    if kind == "customer":  # what-ifs are per customer (or the portfolio)
        elements.append({"type": "button", "action_id": WHATIF, "text": _plain("What-if"), "value": value})
    return {"type": "actions", "block_id": named("alert:", MAX_BLOCK_ID), "elements": elements}


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def status_line(s: Shown, payload: dict[str, Any]) -> str | None:
    """What replaces a subject's buttons once someone acted on it, or once its episode ended."""
    if s.status == "acked":
        return f":white_check_mark: Acknowledged by {mention(s.by)} at {_when(s.at, payload)}"
    if s.status == "snoozed":
        return f":zzz: Snoozed by {mention(s.by)} until {_when(s.until, payload)}"
    if s.status == "recovered":
        return f":large_green_circle: Recovered {_when(s.at, payload)}"
    if s.status == "quiet":
        return f":heavy_minus_sign: Closed {_when(s.at, payload)}: no usage or revenue in the window"
    if s.status == "moved":
        return f":arrow_right: Closed {_when(s.at, payload)}: its usage is now another customer's (see the reply)"
    if s.status == "cleared":
        return f":white_check_mark: Cleared {_when(s.at, payload)}: nothing left to act on"
    if s.status == "unrouted":
        return (
            f":heavy_minus_sign: Closed here {_when(s.at, payload)}: this channel no longer gets marginbot's alerts "
            "(MARGINBOT_ALERT_CHANNELS); `/margin` shows where it stands"
        )
    return None


def status_block(s: Shown, payload: dict[str, Any]) -> Block | None:
    line = status_line(s, payload)
    return context(line) if line else None


def _groups(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in events:
        groups.setdefault((e["subject_kind"], e["subject"]), []).append(e)
    return list(groups.values())


def default_shown(group: list[dict[str, Any]]) -> Shown:
    """Before anyone acted: buttons, unless this message says the subject's episode ended."""
    return Shown(status="resolved" if any(e["kind"] in ENDED_BY for e in group) else "open")


def subject_blocks(
    group: list[dict[str, Any]], payload: dict[str, Any], as_of: date, shown: Shown | None = None
) -> list[Block]:
    """The section of one subject, then its buttons or what replaced them."""
    e = group[0]
    s = shown or default_shown(group)
    blocks = [section(subject_text(group, payload, as_of))]
    if s.status == "open":
        blocks.append(buttons(e["subject_kind"], e["subject"]))
    elif (status := status_block(s, payload)) is not None:
        blocks.append(status)
    return blocks


def _headline(events: list[dict[str, Any]]) -> str:
    counts = {k: sum(1 for e in events if e["kind"] == k) for k in ORDER}
    return ", ".join(f"{n} {WORDS[k]}" for k, n in counts.items() if n)


def _part(payload: dict[str, Any]) -> str:
    part = payload.get("part") or [1, 1]
    return f" ({part[0]}/{part[1]})" if part[1] > 1 else ""


def _head(payload: dict[str, Any]) -> list[Block]:
    events = payload["events"]
    period = payload["period"]
    title = "Update" if payload.get("thread") else "Margin alerts"
    return [
        header(f"{title}{_part(payload)}: {_headline(events)}"),
        context(
            f"{esc_text(period['label'])} ({period['start']} to {period['end']}) · "
            f"breach under {payload['breach_pct']}% · recovery at {payload['recover_pct']}% or more"
            + (" · customers with their own line say so" if any(e.get("own_bands") for e in events) else "")
            + (
                f" · :warning: usage from {_lagging(payload)} is not synced to the window's end: no recovery decided"
                if payload.get("lagging_sources")
                else ""
            )
        ),
    ]


def alert_message(payload: dict[str, Any], shown: dict[tuple[str, str], Shown] | None = None) -> dict[str, Any]:
    """{"text", "blocks"} for one part of a run's alerts. `shown` says how each subject shows now (default: its
    buttons). Parts come from `pack_alerts`, so they fit; an old payload that does not is cut, saying so."""
    as_of = _local_date(payload["as_of"], payload)
    blocks = _head(payload)
    groups = _groups(payload["events"])
    for i, group in enumerate(groups):
        key = (group[0]["subject_kind"], group[0]["subject"])
        mine = subject_blocks(group, payload, as_of, (shown or {}).get(key))
        if len(blocks) + len(mine) > MAX_MESSAGE_BLOCKS - 1 or block_text(blocks + mine) > PACK_TEXT + 1_000:
            rest = len(groups) - i
            blocks.append(context(f"…and {rest} more: `/margin portfolio` lists every customer and product"))
            break
        blocks += mine
    return {"text": alert_text(payload), "blocks": blocks}


def alert_text(payload: dict[str, Any], limit: int = MAX_TEXT) -> str:
    """The notification text, escaped like everything else: what happened to whom, in one short paragraph."""
    events = payload["events"]
    parts = []
    for kind in ORDER:
        names = [
            e["name"] + (f" {margin_text(e, payload)}" if e.get("margin_pct") else "")
            for e in events
            if e["kind"] == kind
        ]
        if names:
            parts.append(f"{TITLES[kind].split(' ', 1)[1]}: {', '.join(names)}")
    title = "Update" if payload.get("thread") else "Margin alerts"
    # Escaped before it is clipped: a clip never cuts an entity or a name's literal character in half, and the text
    # stays within `limit` once escaped.
    return clip(esc_text(f"{title}{_part(payload)}. " + "; ".join(parts), [e["name"] for e in events]), limit)


def block_text(blocks: list[Block]) -> int:
    """Characters of text in these blocks, every `text` counted (sections, headers, context, button labels):
    what Slack's undocumented cumulative limit measures, counted generously."""
    total = 0
    stack: list[Any] = list(blocks)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return total


def pack_alerts(payload: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """A run's alerts in parts of whole subjects, each within MAX_MESSAGE_BLOCKS blocks and PACK_TEXT characters
    of block text (engine.alerts.messages.Pack)."""
    as_of = _local_date(payload["as_of"], payload)
    # The head is measured with a two-digit part number and every kind in its headline: the widest it gets.
    head = _head({**payload, "part": [10, 10]})
    head_blocks, head_text = len(head) + 1, block_text(head) + 120  # +1 block, +120: a "…and N more" line
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    blocks, chars = head_blocks, head_text
    for group in _groups(payload["events"]):
        mine = subject_blocks(group, payload, as_of)
        size = block_text(mine)
        if current and (blocks + len(mine) > MAX_MESSAGE_BLOCKS or chars + size > PACK_TEXT):
            parts.append(current)
            current, blocks, chars = [], head_blocks, head_text
        current.extend(group)
        blocks += len(mine)
        chars += size
    if current:
        parts.append(current)
    return parts


def alert_plain(payload: dict[str, Any]) -> str:
    """The whole message as terminal text (for `marginbot alerts check --dry-run`)."""
    as_of = _local_date(payload["as_of"], payload)
    period = payload["period"]
    title = "Update" if payload.get("thread") else "Margin alerts"
    lines = [
        f"{title}{_part(payload)}, {period['label']} ({period['start']} to {period['end']}): "
        + _headline(payload["events"])
    ]
    if payload.get("lagging_sources"):
        lines.append(f"  usage from {_lagging(payload)} is not synced to the window's end: no recovery decided")
    for group in _groups(payload["events"]):
        who = unbold(_who(group))
        for e in group:
            lines.append(
                f"  - {TITLES.get(e['kind'], e['kind']).split(' ', 1)[1]}: {who}: "
                + unbold(event_body(e, payload, as_of))
            )
    return unesc("\n".join(lines))  # a terminal shows "AT&T", not Slack's "AT&amp;T"


def alert_fallback(payload: dict[str, Any]) -> list[str]:
    """The message as plain text (escaped), in chunks of whole subjects under FALLBACK_CHUNK characters: what is
    posted when Slack refuses the blocks (size or invalid blocks), so no subject is lost to them."""
    as_of = _local_date(payload["as_of"], payload)
    period = payload["period"]
    title = "Update" if payload.get("thread") else "Margin alerts"
    head = f"{title}{_part(payload)}, {esc_text(period['label'])} ({period['start']} to {period['end']})"
    chunks: list[str] = []
    current = head
    for group in _groups(payload["events"]):
        text = clip(subject_text(group, payload, as_of), FALLBACK_CHUNK - len(head) - 2, mrkdwn=True)
        if len(current) + 2 + len(text) > FALLBACK_CHUNK:
            chunks.append(current)
            current = head + " (continued)"
        current += "\n\n" + text
    chunks.append(current)
    return chunks
