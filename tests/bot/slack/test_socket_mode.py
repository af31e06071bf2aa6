"""Socket Mode's repeated connection errors: the first is logged, then one line a minute with the count held."""

from __future__ import annotations

import logging

from bot.slack.socket_mode import REPEAT_WINDOW, RepeatedErrors


def record(message: str) -> logging.LogRecord:
    return logging.LogRecord("slack_bolt.App", logging.ERROR, __file__, 1, message, None, None)


def test_an_outage_is_logged_once_a_minute_with_how_many_were_held() -> None:
    now = [0.0]
    errors = RepeatedErrors(clock=lambda: now[0])
    failing = "Failed to check the current session or reconnect to the server (session id: s1, error: URLError)"
    passed = []
    for _ in range(31):  # a minute of ticks every 2 seconds
        r = record(failing)
        if errors.filter(r):
            passed.append(r.getMessage())
        now[0] += 2.0
    assert passed == [failing, failing + " (29 more like it in the last minute)"]
    assert now[0] - 2.0 >= REPEAT_WINDOW
    other = record("A new session has been established (session id: s2)")
    assert errors.filter(other) and other.getMessage() == "A new session has been established (session id: s2)"


def test_a_connection_that_cannot_be_opened_is_logged_once_a_minute_too() -> None:
    # The SDK's monitor retries every tick; each attempt has its own session id, and the same error.
    now = [0.0]
    errors = RepeatedErrors(clock=lambda: now[0])
    passed = []
    for tick in range(31):
        r = record(f"Failed to establish a connection (session id: s{tick}, error: [Errno 111] Connection refused)")
        if errors.filter(r):
            passed.append(r.getMessage())
        now[0] += 2.0
    assert passed == [
        "Failed to establish a connection (session id: s0, error: [Errno 111] Connection refused)",
        "Failed to establish a connection (session id: s30, error: [Errno 111] Connection refused)"
        " (29 more like it in the last minute)",
    ]
