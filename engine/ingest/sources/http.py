"""How connectors talk HTTP: timeouts, retries with backoff on 429/5xx, clear errors, no leaked secrets.

Every vendor call goes through `Fetcher.get_json`. It retries 429 and 5xx (and dropped connections) with
exponential backoff, honouring `Retry-After` and Stripe's `Stripe-Should-Retry` (a source may give rate limits
a budget of waiting of their own, `rate_limit_wait`); it turns 401/403, other 4xx and malformed JSON into a
`SourceError` that names the source, the path and the cause. Secrets travel only in headers, which are never
put in a message; vendor error bodies are scrubbed of the secrets (and of anything shaped like a key) before
they are quoted, because some vendors echo part of the key back.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from engine.scrub import remember_basic
from engine.scrub import scrub as scrub_secrets

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0  # seconds; a vendor asking for longer is treated as down
MAX_BACKOFF = 60.0  # seconds: the longest of the growing waits on repeated 429s
MAX_RATE_LIMITED = 30  # 429s on one request before giving up, whatever the waits (a back-off of 0 waits nothing)
# Public keys are not secrets, but a vendor echoing `pk-…` next to a secret says which account it was: masked too.
_PUBLIC_KEYISH = re.compile(r"\bpk[-_][A-Za-z0-9_\-]{6,}", re.IGNORECASE)

Params = Mapping[str, Any] | list[tuple[str, Any]]


class SourceError(RuntimeError):
    """A source could not be read; the message names the source and the cause (never a secret)."""

    def __init__(self, source: str, cause: str) -> None:
        super().__init__(f"{source}: {cause}")
        self.source = source
        self.cause = cause


class Fetcher:
    """GET JSON from one vendor with retries. `sleep` is injectable so tests never wait."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        secrets: tuple[str, ...] = (),
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timeout: float = 30.0,
        attempts: int = 3,
        backoff: float = 1.0,
        rate_limit_wait: float = 0.0,
    ) -> None:
        self.source = source
        self.sleep = sleep
        self.attempts = max(1, attempts)
        # Seconds one request may wait in all on 429s, backing off 1, 2, 4, … s (at most MAX_BACKOFF a wait), before
        # giving up; 0 counts a 429 as one of the `attempts`, like a 5xx.
        self.rate_limit_wait = rate_limit_wait
        self.backoff = backoff
        self._secrets = tuple(s for s in secrets if s)
        if auth is not None:
            # Basic auth travels as base64("user:secret"); vendors that echo the header echo that form.
            remember_basic(*auth)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers=dict(headers or {}),
            auth=auth,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=10.0),
            follow_redirects=False,
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def scrub(self, text: str) -> str:
        """`text` with every secret (this source's and the process's) and anything shaped like one masked."""
        return _PUBLIC_KEYISH.sub("***", scrub_secrets(text, self._secrets))

    def fail(self, cause: str) -> SourceError:
        return SourceError(self.source, self.scrub(cause))

    def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET `path` (relative to the base URL) and return the decoded JSON body."""
        path = path.lstrip("/")
        failed = 0  # failures other than rate limits, counted against `attempts`
        limited = 0  # 429s, retried while the waits stay within `rate_limit_wait`
        waited = 0.0
        while True:
            try:
                response = self._client.get(path, params=params)
            except httpx.TimeoutException:
                cause = "timed out"
                failed += 1
                wait = self._delay(failed, None)
            except httpx.TransportError as exc:
                cause = f"connection failed ({type(exc).__name__})"
                failed += 1
                wait = self._delay(failed, None)
            else:
                status = response.status_code
                if status < 300:
                    return self._decode(path, response)
                if status in (401, 403):
                    raise self.fail(
                        f"HTTP {status} from GET /{path}: the credentials were refused "
                        f"({'invalid or revoked key' if status == 401 else 'the key lacks the permission'})"
                    )
                # Stripe says whether a request may succeed if retried (`Stripe-Should-Retry`), and sends no
                # Retry-After: its word goes before the status.
                should = response.headers.get("stripe-should-retry", "").strip().lower()
                if should == "false" or (status not in RETRY_STATUSES and should != "true"):
                    raise self.fail(f"HTTP {status} from GET /{path}: {_vendor_message(response)}")
                cause = f"HTTP {status}"
                if status == 429 and self.rate_limit_wait:
                    limited += 1
                    # Never less than the growing back-off: a "Retry-After: 0" (or a date gone by) from a proxy
                    # kept the waits at nothing and the requests coming for ever.
                    asked = self._delay(limited, response.headers.get("retry-after"), cap=MAX_BACKOFF)
                    grown = min(MAX_BACKOFF, self.backoff * 2 ** (limited - 1))
                    wait = None if asked is None else max(asked, grown)
                    if limited >= MAX_RATE_LIMITED or (wait is not None and waited + wait > self.rate_limit_wait):
                        raise self.fail(
                            f"GET /{path} was rate limited {limited} time(s) in {waited:.0f}s of waiting; giving up"
                        )
                else:
                    failed += 1
                    wait = self._delay(failed, response.headers.get("retry-after"))
            if failed >= self.attempts or wait is None:
                raise self.fail(f"GET /{path} failed {failed + limited} time(s), last: {cause}; giving up")
            log.warning("%s: GET /%s: %s, retrying in %.1fs", self.source, path, cause, wait)
            waited += wait
            self.sleep(wait)

    def _delay(self, attempt: int, retry_after: str | None, *, cap: float = MAX_RETRY_AFTER) -> float | None:
        """Seconds to wait before the next attempt; None when the vendor asks for an unreasonable wait."""
        if retry_after:
            seconds = _retry_after_seconds(retry_after)
            if seconds is not None:
                return None if seconds > MAX_RETRY_AFTER else seconds
        return min(cap, self.backoff * 2 ** (attempt - 1))

    def _decode(self, path: str, response: httpx.Response) -> Any:
        try:
            # Numbers with a point or an exponent as Decimals, digit for digit, as the file imports read them:
            # through a float, a LiteLLM spend of 0.12345678949999999999 would be stored a nano-dollar over.
            return json.loads(response.content, parse_float=Decimal)
        except (ValueError, RecursionError, ArithmeticError) as exc:  # bad JSON or UTF-8, a 4,300-digit number,
            if isinstance(exc, json.JSONDecodeError):  # deep nesting, an exponent past what a Decimal holds
                where = f" (line {exc.lineno} column {exc.colno}: {exc.msg})"
            elif isinstance(exc, RecursionError):
                where = " (nested too deeply)"
            elif isinstance(exc, ArithmeticError):
                where = " (a number out of range)"
            else:
                where = ""
            raise self.fail(f"malformed JSON from GET /{path}{where}") from None

    def pages(
        self,
        path: str,
        params: Mapping[str, Any] | list[tuple[str, Any]],
        next_params: Callable[[Any], list[tuple[str, Any]] | None],
        *,
        first: list[tuple[str, Any]] | None = None,
        max_pages: int = 100_000,
    ) -> Iterator[Any]:
        """Every page of a paginated list: `next_params(page)` gives the extra parameters of the next page, which
        replace those of the page before (`first`: the first page's, for a list read from the middle)."""
        base = list(params.items()) if isinstance(params, Mapping) else list(params)
        extra: list[tuple[str, Any]] = list(first or [])
        seen: set[str] = {repr(extra)} if extra else set()
        for _ in range(max_pages):
            page = self.get_json(path, base + extra)
            yield page
            following = next_params(page)
            if following is None:
                return
            marker = repr(following)
            if marker in seen:  # a vendor handing back the same cursor would loop for ever
                raise self.fail(f"GET /{path}: the next-page cursor repeats; stopping")
            seen.add(marker)
            extra = following
        raise self.fail(f"GET /{path}: more than {max_pages} pages; stopping")


def v1_fetcher(
    source: str,
    base_url: str,
    key: str,
    headers: dict[str, str],
    *,
    transport: httpx.BaseTransport | None,
    sleep: Callable[[float], None],
    rate_limit_wait: float = 0.0,
) -> Fetcher:
    """A Fetcher on `<base>/v1` (the configured base may already end in /v1) that keeps `key` out of messages."""
    base = base_url.rstrip("/")
    return Fetcher(
        source,
        base if base.endswith("/v1") else base + "/v1",
        headers=headers,
        secrets=(key,),
        transport=transport,
        sleep=sleep,
        rate_limit_wait=rate_limit_wait,
    )


def next_page_token(param: str = "page", field: str = "next_page") -> Callable[[Any], list[tuple[str, Any]] | None]:
    """OpenAI/Anthropic style: `has_more` + an opaque `next_page` token sent back as `page`."""

    def follow(page: Any) -> list[tuple[str, Any]] | None:
        if isinstance(page, Mapping) and page.get("has_more") and page.get(field):
            return [(param, page[field])]
        return None

    return follow


def starting_after() -> Callable[[Any], list[tuple[str, Any]] | None]:
    """Stripe style: `has_more` + the id of the last object sent back as `starting_after`."""

    def follow(page: Any) -> list[tuple[str, Any]] | None:
        if isinstance(page, Mapping) and page.get("has_more"):
            data = page.get("data") or []
            if data and isinstance(data[-1], Mapping) and data[-1].get("id"):
                return [("starting_after", data[-1]["id"])]
        return None

    return follow


def _retry_after_seconds(value: str) -> float | None:
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - time.time())


def _vendor_message(response: httpx.Response) -> str:
    """The vendor's own error text, shortened: `error.message`, `message`, `detail` or the raw body."""
    try:
        body = response.json()
    except (ValueError, RecursionError):  # not JSON, or nested past what the parser follows: its text, shortened
        return response.text[:300] or response.reason_phrase
    if isinstance(body, Mapping):
        err = body.get("error")
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])[:300]
        for key in ("message", "detail", "error"):
            if body.get(key):
                return str(body[key])[:300]
    return json.dumps(body)[:300]
