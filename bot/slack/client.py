"""The Slack clients marginbot uses everywhere: base URL from settings, and retries that never block for long.

Why capped: the SDK's own rate-limit handler sleeps the whole `Retry-After` inside the API call, up to three
times, uncapped. A 429 with `Retry-After: 60` then holds a delivery run for three minutes, and an outbox claim can
expire while the send is still in flight (another run would claim and post the same message). Here a call waits
at most MAX_IN_CALL_WAIT seconds in all for its retries; a longer `Retry-After` is not retried in the call: the
caller sees the 429 and the outbox schedules the message for later (engine/store/delivery.py), without holding
other channels.
"""

from __future__ import annotations

import http.client
import random
import time
import urllib.error
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from slack_sdk import WebClient
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

from config.settings import Settings

MAX_IN_CALL_WAIT = 3.0  # seconds one API call may spend waiting between its attempts, all retries together
TIMEOUT = 10.0  # seconds per HTTP attempt
# Slack's answers about the bot token itself: nothing can be sent with it until a person fixes it (the server's
# start-up check refuses to start; the outbox pauses rather than fail every message).
BAD_TOKEN = frozenset(
    {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired", "not_allowed_token_type"}
)
_SPENT = "marginbot_waited_s"  # RetryState.custom_values key: the wait budget is shared by every handler of a call

Sleep = Callable[[float], None]


def retry_after_seconds(headers: object) -> float | None:
    """`Retry-After` in seconds (a number or an HTTP date), from headers as the SDK gives them; None if absent."""
    if not isinstance(headers, dict):
        return None
    for key, value in headers.items():
        if str(key).lower() != "retry-after":
            continue
        raw = value[0] if isinstance(value, list) and value else value
        text = str(raw).strip()
        try:
            return max(0.0, float(text))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        return None if when.tzinfo is None else max(0.0, when.timestamp() - time.time())
    return None


def _spent(state: RetryState) -> float:
    return float((state.custom_values or {}).get(_SPENT, 0.0))


class _CappedRetry(RetryHandler):
    """A retry whose waits come out of the call's shared budget and go through an injectable `sleep`."""

    def __init__(self, *, max_retry_count: int, max_wait: float, sleep: Sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self.sleep = sleep

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float | None:
        """Seconds to wait before the next attempt, or None to give up now (the caller deals with it)."""
        raise NotImplementedError

    def _budget_left(self, state: RetryState) -> float:
        return self.max_wait - _spent(state)

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if not self._matches(response, error):
            return False
        wait = self.wait_for(state, response)
        return wait is not None and wait <= self._budget_left(state)

    def _matches(self, response: HttpResponse | None, error: Exception | None) -> bool:
        raise NotImplementedError

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        wait = min(self.wait_for(state, response) or 0.0, max(0.0, self._budget_left(state)))
        if state.custom_values is None:
            state.custom_values = {}
        state.custom_values[_SPENT] = _spent(state) + wait
        if wait > 0:
            self.sleep(wait)
        state.increment_current_attempt()


class RateLimitRetry(_CappedRetry):
    """429: retried in the call only when Slack asks for a short wait; otherwise the 429 reaches the caller."""

    def _matches(self, response: HttpResponse | None, error: Exception | None) -> bool:
        return response is not None and response.status_code == 429

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float | None:
        wait = retry_after_seconds(response.headers) if response is not None else None
        # No Retry-After at all: one second, Slack's documented pace for posting.
        return 1.0 if wait is None else wait


class ServerErrorRetry(_CappedRetry):
    """500 and 503 (Slack's transient ones): a short backoff, 0.5 s then 1 s, plus jitter."""

    def _matches(self, response: HttpResponse | None, error: Exception | None) -> bool:
        return response is not None and response.status_code in (500, 503)

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float | None:
        return 0.5 * 2**state.current_attempt + random.random() * 0.1


class ConnectionRetry(_CappedRetry):
    """A dropped or refused connection before any response: a short backoff, as for server errors."""

    def _matches(self, response: HttpResponse | None, error: Exception | None) -> bool:
        if response is not None or error is None:
            return False
        return isinstance(error, urllib.error.URLError | ConnectionResetError | http.client.RemoteDisconnected)

    def wait_for(self, state: RetryState, response: HttpResponse | None) -> float | None:
        return 0.5 * 2**state.current_attempt + random.random() * 0.1


def retry_handlers(
    *, max_retries: int = 2, max_wait: float = MAX_IN_CALL_WAIT, sleep: Sleep = time.sleep
) -> list[RetryHandler]:
    """The retries every marginbot Slack call gets: rate limits, server errors, dropped connections."""
    return [
        RateLimitRetry(max_retry_count=max_retries, max_wait=max_wait, sleep=sleep),
        ServerErrorRetry(max_retry_count=max_retries, max_wait=max_wait, sleep=sleep),
        ConnectionRetry(max_retry_count=max_retries, max_wait=max_wait, sleep=sleep),
    ]


def make_client(
    settings: Settings, *, max_retries: int = 2, max_wait: float = MAX_IN_CALL_WAIT, sleep: Sleep = time.sleep
) -> WebClient:
    """A WebClient on SLACK_API_URL whose retries wait MAX_IN_CALL_WAIT seconds at most per call."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return WebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=int(TIMEOUT),
        retry_handlers=retry_handlers(max_retries=max_retries, max_wait=max_wait, sleep=sleep),
    )


def make_webhook(url: str, *, sleep: Sleep = time.sleep) -> WebhookClient:
    """A client for one `response_url`, with the same capped retries (Bolt's own `respond` has none)."""
    return WebhookClient(url, timeout=int(TIMEOUT), retry_handlers=retry_handlers(sleep=sleep))
