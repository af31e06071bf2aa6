from __future__ import annotations

from slack_bolt import App

from bot.blocks.alerts import ACK, OPEN, SNOOZE, WHATIF
from bot.blocks.interactive import SHARE
from bot.slack.listeners.actions.alert_buttons import acknowledge_clicked, open_clicked, snooze_chosen, whatif_clicked
from bot.slack.listeners.actions.share import share_clicked


def register(app: App) -> None:
    app.action(ACK)(acknowledge_clicked)
    app.action(SNOOZE)(snooze_chosen)
    app.action(OPEN)(open_clicked)
    app.action(WHATIF)(whatif_clicked)
    app.action(SHARE)(share_clicked)
