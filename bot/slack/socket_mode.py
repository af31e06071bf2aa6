"""Socket Mode: the connection settings, and a log that says an outage once rather than every few seconds.

Why these settings: the SDK's client pings every `ping_interval` seconds and calls the link dead once no pong came
for more than four intervals, checked once an interval: in all about six intervals after the last pong. Bolt's
default (10 s) notices a silently dropped connection after about a minute; 2.5 s took 15.2 s, 2 s takes 12.1 s
(measured against the loopback stand-in of tests/e2e/test_socket_mode.py, which stops answering pings). A ping of
a few bytes every 2 s is nothing next to that.

While Slack is unreachable, the client logs the same ERROR at every monitor tick (now every 2 s) for the
whole outage. `RepeatedErrors` lets the first through, then one line a minute saying how many were held.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

PING_INTERVAL = 2.0  # seconds; dead link noticed after about 4 × this without a pong
REPEAT_WINDOW = 60.0  # seconds between two copies of the same connection error in the log
# The messages the client repeats at every tick of an outage (their start is enough to recognise them).
REPEATED = (
    "Failed to establish a connection",
    "Failed to check the current session or reconnect to the server",
    "Failed to send a request to Slack API server",
    "on_error invoked",
)


class RepeatedErrors(logging.Filter):
    """Let one of each repeated connection error through per REPEAT_WINDOW, counting the ones held back."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = next((k for k in REPEATED if message.startswith(k)), None)
        if kind is None:
            return True
        now = self._clock()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < REPEAT_WINDOW:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            record.msg, record.args = f"{message} ({held} more like it in the last minute)", None
        return True


_FILTER = RepeatedErrors()


def socket_mode_handler(app: App, app_token: str) -> SocketModeHandler:
    """Bolt's Socket Mode handler with marginbot's settings: dead links noticed within ~15 s, outages logged
    once a minute."""
    for name in ("slack_bolt.App", "slack_sdk.web.base_client", "slack_sdk.socket_mode.builtin.client"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    return SocketModeHandler(app, app_token, ping_interval=PING_INTERVAL)
