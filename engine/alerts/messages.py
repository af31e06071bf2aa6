"""Which outbox messages one alerts run queues, per channel: new episodes at the top level, the rest in threads.

For each alert channel, a subject's events this run go
- as a reply in its open thread there when it has one (reminders, recoveries, "trending to breach" → breach and
  breach ↔ cost without revenue, which are also broadcast to the channel and re-render the root, whose
  acknowledgement no longer holds), and a recovery or a clearing closes the thread and re-renders its root;
- otherwise in the run's top-level message, which becomes the subject's thread root while its episode lasts; so
  does a new episode whose old thread only an unpriced-usage flag kept open (that thread is closed).

A message holds whole subjects (all of a subject's events together) and is split into parts by `pack`, which
knows how big each subject renders (bot/blocks/alerts.py hands in one that keeps every part within Slack's
limits); each part is one outbox row, numbered (1/3), with its own dedupe key, so parts are retried, delivered
and threaded independently, and a part Slack truly cannot take leaves only its own subjects un-announced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.alerts.threads import CLEARED, ENDED_BY, UNDELIVERED, UNROUTED, Thread

# An alert payload → its events in parts (each subject's events together, in order). The engine's own default
# only counts subjects; `serve` and the CLI hand in the Block Kit packer, which measures them.
Pack = Callable[[dict[str, Any]], list[list[dict[str, Any]]]]
MAX_SUBJECTS = 12
KEY_DIGEST = 16


@dataclass(kw_only=True)
class Message:
    """One outbox message: a part of the run's alerts for one channel, at the top level or in a thread."""

    channel: str
    dedupe_key: str
    payload: dict[str, Any]
    reply_to: str = ""


@dataclass(kw_only=True)
class Plan:
    """The messages to queue, and the thread changes that go with them (in the same transaction)."""

    messages: list[Message] = field(default_factory=list)
    opens: list[tuple[str, str, str, str]] = field(default_factory=list)  # (root_key, subject_kind, subject, channel)
    closes: list[tuple[str, str, str, str]] = field(default_factory=list)  # (subject_kind, subject, channel, outcome)


SubjectKey = tuple[str, str]


def subject_of(event: dict[str, Any]) -> SubjectKey:
    return (str(event["subject_kind"]), str(event["subject"]))


def by_subject(events: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Events grouped by subject, subjects in order of their first event."""
    groups: dict[SubjectKey, list[dict[str, Any]]] = {}
    for e in events:
        groups.setdefault(subject_of(e), []).append(e)
    return list(groups.values())


def pack_by_count(payload: dict[str, Any]) -> list[list[dict[str, Any]]]:
    """At most MAX_SUBJECTS subjects a part: the fallback when no measuring packer is given."""
    groups = by_subject(payload["events"])
    return [[e for g in groups[i : i + MAX_SUBJECTS] for e in g] for i in range(0, len(groups), MAX_SUBJECTS)]


def _digest(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:KEY_DIGEST]


def plan_messages(
    *,
    channels: list[str],
    header: dict[str, Any],
    events: list[dict[str, Any]],
    open_after: dict[SubjectKey, bool],
    threads: dict[tuple[str, str, str], Thread],
    pack: Pack,
    fresh: set[SubjectKey] | frozenset[SubjectKey] = frozenset(),
) -> Plan:
    """Everything one run queues. `events` are payload dicts in message order; an event with a `channels` list goes
    only there. `open_after` says whose episode (or unpriced flag) is still open after this run; `fresh`, whose
    episode began this run (announced at the top level, never under an earlier episode's thread)."""
    plan = Plan()
    for channel in channels:
        mine = [e for e in events if e.get("channels") is None or channel in e["channels"]]
        top: list[dict[str, Any]] = []
        replies: dict[str, list[dict[str, Any]]] = {}
        # root_key → a subject under it ended its episode, or became other news (a trend to a breach, a breach to cost
        # without revenue) whose acknowledgement the root must stop showing: the root is re-rendered.
        closing: dict[str, bool] = {}
        handled: set[SubjectKey] = set()
        stale_roots: list[str] = []
        for group in by_subject(mine):
            key = subject_of(group[0])
            handled.add(key)
            thread = threads.get((*key, channel))
            still_open = open_after.get(key, False)
            if thread is not None and thread.live and key in fresh:
                # The thread was kept open by an unpriced flag after its episode ended: it is closed, its root
                # re-rendered, and the new episode gets a root of its own.
                plan.closes.append((*key, channel, CLEARED))
                stale_roots.append(thread.root_key)
                top.extend(group)
                continue
            if thread is not None and thread.live:
                replies.setdefault(thread.root_key, []).extend(group)
                if any(e["kind"] in ("breach", "no_revenue") for e in group):
                    closing[thread.root_key] = True
                if not still_open:
                    ended = next((ENDED_BY[e["kind"]] for e in group if e["kind"] in ENDED_BY), CLEARED)
                    plan.closes.append((*key, channel, ended))
                    closing[thread.root_key] = True
                continue
            if thread is not None:  # its root never reached this channel: this announcement replaces it
                plan.closes.append((*key, channel, UNDELIVERED))
            top.extend(group)
        # Threads whose subject went quiet without news (a trend that no longer crosses, unpriced usage priced):
        # closed, and their roots re-rendered so their buttons go.
        refresh: dict[str, list[str]] = {root: [] for root in stale_roots}
        for (kind, subject, ch), thread in threads.items():
            if ch != channel or (kind, subject) in handled or open_after.get((kind, subject), False):
                continue
            plan.closes.append((kind, subject, channel, CLEARED if thread.live else UNDELIVERED))
            if thread.live:
                refresh.setdefault(thread.root_key, [])
        base = f"alerts:{channel}:{header['as_of']}:" + _digest(
            *(f"{e['kind']}:{e['subject_kind']}:{e['subject']}:{e['since']}" for e in mine), *sorted(refresh)
        )
        _queue(plan, channel, base, header, top, pack, open_after=open_after)
        for root_key, group in replies.items():
            tag = f"{base}:re-{_digest(root_key)[:10]}"
            extra = {
                "thread": True,
                "broadcast": any(e["kind"] in ("breach", "no_revenue") for e in group),
                # The root is drawn again when the episode ends, and with a reminder: one comes once a snooze has
                # ended, and the root would read "Snoozed … until" a day gone by, its buttons gone, for good.
                "refresh_roots": (
                    [root_key] if closing.get(root_key) or any(e["kind"] == "reminder" for e in group) else []
                ),
            }
            _queue(plan, channel, tag, {**header, **extra}, group, pack, reply_to=root_key)
        if refresh:
            plan.messages.append(
                Message(
                    channel=channel,
                    dedupe_key=f"{base}:refresh",
                    payload={**header, "type": "alert_refresh", "refresh_roots": sorted(refresh), "events": []},
                )
            )
    _unrouted(plan, channels, header, threads)
    return plan


def _unrouted(
    plan: Plan, channels: list[str], header: dict[str, Any], threads: dict[tuple[str, str, str], Thread]
) -> None:
    """Threads in a channel taken off the alert channels: closed, and their roots drawn again without their
    buttons. The channel hears nothing more of the episode (its recovery, its reminders), so buttons left there would
    act on an alert that, for all it shows, never ends. (A run with no channel set records nothing, and closes none.)"""
    if not any(channels):
        return
    gone: dict[str, set[str]] = {}
    for (kind, subject, channel), thread in threads.items():
        if channel not in channels:
            plan.closes.append((kind, subject, channel, UNROUTED if thread.live else UNDELIVERED))
            if thread.live:
                gone.setdefault(channel, set()).add(thread.root_key)
    for channel, roots in sorted(gone.items()):
        plan.messages.append(
            Message(
                channel=channel,
                dedupe_key=f"alerts:{channel}:{header['as_of']}:unrouted:" + _digest(*sorted(roots)),
                payload={**header, "type": "alert_refresh", "refresh_roots": sorted(roots), "events": []},
            )
        )


def _queue(
    plan: Plan,
    channel: str,
    base: str,
    header: dict[str, Any],
    events: list[dict[str, Any]],
    pack: Pack,
    *,
    reply_to: str = "",
    open_after: dict[SubjectKey, bool] | None = None,
) -> None:
    if not events:
        return
    clean = [{k: v for k, v in e.items() if k != "channels"} for e in events]
    parts = [part for part in pack({**header, "events": clean}) if part] or [clean]
    for i, part in enumerate(parts, 1):
        key = f"{base}:{i}/{len(parts)}"
        payload = {**header, "events": part, "part": [i, len(parts)]}
        plan.messages.append(Message(channel=channel, dedupe_key=key, payload=payload, reply_to=reply_to))
        if open_after is not None:
            for subject in dict.fromkeys(subject_of(e) for e in part):
                if open_after.get(subject, False):
                    plan.opens.append((key, *subject, channel))
