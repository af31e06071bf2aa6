"""Files an answer hands to the asker (the board pack): uploaded into a direct message with them, or into the
channel when they asked to `share`. Never into a channel by default: a board pack is everyone's figures."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.answer_types import Upload

log = logging.getLogger(__name__)

SCOPES_NEEDED = "files:write and im:write"


class UploadFailed(RuntimeError):
    """Slack did not take the file; the message says what to do, for the asker."""


def send_files(client: WebClient, files: list[Upload], *, user: str, channel: str | None, share: bool) -> str:
    """Upload `files` to `user`'s direct message (or `channel` when shared); returns where, in words."""
    try:
        if share and channel:
            target, where = channel, "in this channel"
        else:
            opened = client.conversations_open(users=user)
            target, where = str((opened.get("channel") or {}).get("id") or ""), "to you as a direct message"
            if not target:
                raise UploadFailed("Slack opened no direct message to send the board pack to")
        for f in files:
            client.files_upload_v2(
                channel=target, file=f.content, filename=f.filename, title=f.title, request_file_info=False
            )
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown error")
        log.error("could not upload %s for %s: %s", [f.filename for f in files], user, error)
        if error in ("missing_scope", "not_allowed_token_type"):
            raise UploadFailed(
                f"Slack refused the upload ({error}): the app needs the {SCOPES_NEEDED} scopes "
                "(manifest.yml lists them; reinstall the app after adding them)"
            ) from None
        if error in ("not_in_channel", "channel_not_found"):
            raise UploadFailed("invite @marginbot to this channel to share the board pack here") from None
        raise UploadFailed(f"Slack refused the upload ({error})") from None
    return where
