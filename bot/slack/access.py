"""Who may see figures: users on MARGINBOT_ALLOWED_USERS, or anyone asking in a channel on
MARGINBOT_ALLOWED_CHANNELS.

Closed by default: with both lists empty nobody sees figures, and the bot says (in its log) how to open it up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from config.settings import Settings

log = logging.getLogger(__name__)

HOW_TO_CONFIGURE = (
    "marginbot refuses everyone: set MARGINBOT_ALLOWED_USERS (comma-separated Slack member IDs, "
    "e.g. U012AB3CD) "
    "and/or MARGINBOT_ALLOWED_CHANNELS (channel IDs, e.g. C0123ABCD; anyone asking there sees figures)"
)


@dataclass(frozen=True)
class Access:
    users: frozenset[str]
    channels: frozenset[str]

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(frozenset(settings.allowed_users), frozenset(settings.allowed_channels))

    @property
    def closed(self) -> bool:
        return not self.users and not self.channels

    def allows(self, user_id: str | None, channel_id: str | None = None) -> bool:
        """May `user_id`, asking in `channel_id`, see figures? (channel None: not a channel, e.g. App Home)"""
        if user_id and user_id in self.users:
            return True
        return bool(channel_id) and channel_id in self.channels

    def may_act(self, user_id: str | None, owners: tuple[str, ...] = ()) -> bool:
        """May `user_id` change an alert (Acknowledge, Snooze)? People on MARGINBOT_ALLOWED_USERS, and the
        customer's owners. Not everyone in an allowed channel: seeing a figure there is not owning the alert."""
        return bool(user_id) and (user_id in self.users or user_id in owners)

    def warn_if_closed(self) -> None:
        if self.closed:
            log.warning(HOW_TO_CONFIGURE)
