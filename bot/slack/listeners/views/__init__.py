from __future__ import annotations

from slack_bolt import App

from bot.blocks.interactive import WHATIF_VIEW
from bot.slack.listeners.views.whatif import whatif_submitted


def register(app: App) -> None:
    app.view(WHATIF_VIEW)(whatif_submitted)
