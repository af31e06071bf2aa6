from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners.commands.margin import margin_command


def register(app: App) -> None:
    app.command("/margin")(margin_command)
