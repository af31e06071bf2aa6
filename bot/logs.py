"""Logging for every marginbot process: one format, and the libraries' chatter kept below what an operator reads.

What stays at INFO is what an operator acts on: where the bot listens, one line per scheduled job run, refused
requests (without their bodies). What goes: Alembic's note at every schema check, APScheduler's two lines around
every job run (our jobs log one of their own), uvicorn's start/stop banners, and Bolt's verification log, which
holds the whole body of a badly signed request. What never shows, not even with --verbose: slack_sdk's debug lines
and Bolt's debug lines that carry a request's or an answer's body (bot/slack/app.py drops those).
"""

from __future__ import annotations

import logging

# Each at WARNING unless --verbose: they say nothing an operator needs at INFO (see the module docstring).
QUIET = ("alembic", "apscheduler", "uvicorn.error", "slack_bolt.RequestVerification")
# Never below INFO, even with --verbose: slack_sdk's debug lines print each request's URL and body and each answer
# (the webhook client a command's response_url and the whole answer, the Web API client its payloads, Socket Mode
# every envelope), and the log promises never to hold a request's body or its response_url.
PRIVATE = ("slack_sdk",)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: int | str = logging.INFO) -> None:
    """Log to stderr at `level` (a number or a name such as "DEBUG"); quiet the noisy libraries unless DEBUG."""
    numeric = logging.getLevelName(level) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        numeric = logging.INFO
    logging.basicConfig(level=numeric, format=FORMAT)
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.DEBUG if numeric <= logging.DEBUG else logging.WARNING)
    for name in PRIVATE:
        logging.getLogger(name).setLevel(max(numeric, logging.INFO))
