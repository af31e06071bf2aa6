"""Usage sources behind: the configured sources whose sync has not reached a moment (the end of the alert window,
the end of the digest's week), said the same way by the alerts, the digest and the command line.

The cost a source has not read is missing from every margin, so margins read better than they are: the alerts
decide no recovery and the digest names the sources. How far each source got comes from
engine.ingest.sync.synced_until; this module keeps out of the connectors so the digest need not load them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Lag = tuple[str, datetime | None]  # a source and the moment it is synced to (None: never synced)


def short_of(synced: Mapping[str, datetime | None], moment: datetime) -> list[Lag]:
    """The sources of `synced` not synced to `moment`, or never synced, by name."""
    return [(s, until) for s, until in sorted(synced.items()) if until is None or until < moment]


def lag_payload(lagging: Iterable[Lag]) -> list[dict[str, Any]]:
    """The payload shape (`lagging_sources`) of alert messages and the digest alike."""
    return [{"source": s, "synced_to": None if until is None else until.isoformat()} for s, until in lagging]


def lag_text(source: str, synced_to: datetime | str | None) -> str:
    """One source behind, in words: "openai (synced to 2026-11-05 10:00 UTC)", "openai (never synced)". Plain
    text: a Slack builder escapes it."""
    if not synced_to:
        return f"{source} (never synced)"
    moment = datetime.fromisoformat(synced_to) if isinstance(synced_to, str) else synced_to
    return f"{source} (synced to {moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC)"


def lagging_text(sources: Iterable[Mapping[str, Any]]) -> str:
    """The `lagging_sources` payload in words, each as lag_text says it, joined: the one wording of the alert
    messages, the digest and the run's summary. Plain text: a Slack builder escapes it."""
    return ", ".join(lag_text(str(s["source"]), s.get("synced_to")) for s in sources)
