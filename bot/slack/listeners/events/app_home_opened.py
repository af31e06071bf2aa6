"""App Home: publish the dashboard for people with access, and how to get access for everyone else."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient

from bot.answer import home
from bot.blocks.home import home_no_access_view
from bot.slack.services import Services


def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext, logger: logging.Logger) -> None:
    if event.get("tab") != "home":
        return
    services: Services = context["services"]
    services.workers.submit(publish_home, services, client, str(event.get("user", "")), logger)


def publish_home(services: Services, client: WebClient, user: str, logger: logging.Logger) -> None:
    try:
        view = home(services.runtime) if services.access.allows(user) else home_no_access_view(user)
        client.views_publish(user_id=user, view=view)
    except Exception:
        logger.exception("could not publish the App Home for %s", user)
