"""App Home: publish the dashboard for people with access, and how to get access for everyone else (one
`publish_home` for this and for the alert buttons' refresh of the Home tab, so both check the access list)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.slack.alert_actions import publish_home
from bot.slack.services import Services


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext, logger: logging.Logger) -> None:
    if event.get("tab") != "home":
        return
    services: Services = context["services"]
    services.workers.submit(publish_home, services, client, str(event.get("user", "")), logger)
