"""Every listener, registered by kind (the bolt-python starter template's layout)."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import commands, events


def register(app: App) -> None:
    commands.register(app)
    events.register(app)
