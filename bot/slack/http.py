"""Slack's HTTP surface: a small ASGI app in front of the (synchronous) Bolt app, served by uvicorn.

Why a front of our own rather than Bolt's adapters: Bolt's WSGI adapter reads whatever Content-Length claims, with
no cap and no timeout, and its ASGI adapter runs a sync App on the event loop (one slow ack stalls every request).
This front owns the HTTP rules and hands Bolt only requests that are complete, small and signed:

1. `GET /healthz` → 200 while the process serves (liveness); `GET /readyz` → 200 when the database answers, else
   503 (readiness); anything but `POST /slack/events` → 404.
2. Decided from the headers, before a byte of the body is read: no Content-Length (or a chunked body) → 411;
   negative or non-numeric Content-Length → 400; more than `max_body` → 413. (Several that differ never get
   here: uvicorn's parser, h11, answers 400 itself; identical copies it merges into one, which RFC 9110 allows.)
3. The body must arrive within `body_timeout` (408), so a client that stalls mid-body costs a socket, not a thread.
4. The Slack signature is checked on the raw bytes (401), also when the timestamp is not a number, so Bolt never
   parses a forged body and nothing of a refused request (body, response_url) reaches a log line.
5. A signed body that is not a JSON object of the shape Bolt indexes without a check (a click's `actions[0]` and
   its `action_id`, a modal's `view`) is answered 400 with one plain line, and logged in one, without a traceback.
6. Bolt's `app.dispatch` runs in a thread pool: each dispatch waits for its listener's `ack()` (≤ 3 s), and the
   event loop keeps accepting and reading meanwhile.

uvicorn itself has no timeout for a request's headers; `BoundedH11Protocol` adds one, so a connection that never
finishes its headers (slowloris) is closed after `header_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import h11
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.request.internals import build_normalized_headers, extract_content_type, parse_body
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
# A readiness probe waits this long for the database (load balancers time probes out after a few seconds); a check
# still running when the next probe comes is waited on again, not started twice.
READY_TIMEOUT_S = 2.0
# Slack signs `v0:{timestamp}:{body}`; a timestamp older than this is a replay (Slack's documented window).
REPLAY_WINDOW_S = 300
# Each dispatch thread mostly waits for an ack (Bolt's listener pool, 16 threads, does the acking), so a burst of
# 50 concurrent commands needs about 50 of these; 64 leaves room without letting a flood grow threads unbounded.
DISPATCH_THREADS = 64

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """How much a client may send and how long it may take. The defaults suit Slack, which sends a few KB at once."""

    # Slack's largest payloads (a modal's state, a long message action) are tens of KB.
    max_body: int = 1_000_000
    # Slack sends the whole request at once; 10 s covers a slow network without holding a socket for long.
    body_timeout: float = 10.0
    header_timeout: float = 10.0


class StartupFailed(Exception):
    """`on_startup` failed and has already said why in the log, in one line: the front adds no traceback."""


class Refused(Exception):
    """A request answered with a 4xx before Bolt saw it. `reason` is logged (never the body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def check_signature(
    secret: bytes, timestamp: bytes | None, signature: bytes | None, body: bytes, *, now: float
) -> str | None:
    """Why this request is not Slack's (None when it is): Slack's v0 HMAC-SHA256 of `v0:{timestamp}:{body}`."""
    if not secret.strip():
        # Anyone can sign with an empty key: such a "signature" proves nothing, so no request passes.
        return "no SLACK_SIGNING_SECRET is set, so no signature can be checked"
    if not timestamp or not signature:
        return "unsigned (no X-Slack-Request-Timestamp or X-Slack-Signature)"
    if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
        return "malformed X-Slack-Request-Timestamp"
    if abs(now - int(timestamp)) > REPLAY_WINDOW_S:
        return "stale X-Slack-Request-Timestamp (more than 5 minutes from this server's clock)"
    expected = b"v0=" + hmac.new(secret, b"v0:" + timestamp + b":" + body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, signature):
        return "bad X-Slack-Signature (check SLACK_SIGNING_SECRET)"
    return None


def content_length(headers: list[tuple[bytes, bytes]], max_body: int) -> int:
    """The declared body length, or Refused: decided from the headers alone, before reading anything."""
    lengths = [value for name, value in headers if name == b"content-length"]
    if any(name == b"transfer-encoding" for name, _ in headers) or not lengths:
        raise Refused(411, "no Content-Length (Slack always sends one)")
    # (h11 merges identical copies and refuses differing ones, so more than one only comes from another server.)
    if len(lengths) > 1 or not (lengths[0].isascii() and lengths[0].strip().isdigit()):
        raise Refused(400, "malformed Content-Length")
    length = int(lengths[0])
    if length > max_body:
        raise Refused(413, f"body of {length} bytes is over the {max_body}-byte limit")
    return length


async def read_body(receive: Receive, length: int, timeout: float) -> bytes:
    """Exactly `length` bytes of body within `timeout` seconds, or Refused."""

    async def read() -> bytes:
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise Refused(400, "client went away before sending its body")
            body += message.get("body", b"")
            if len(body) > length:
                raise Refused(400, "body longer than its Content-Length")
            if not message.get("more_body", False):
                if len(body) != length:
                    raise Refused(400, "body shorter than its Content-Length")
                return bytes(body)

    try:
        return await asyncio.wait_for(read(), timeout)
    except TimeoutError:
        raise Refused(408, f"body not received within {timeout:g} s") from None


class SlackFront:
    """The ASGI app: health check, limits, signature, then Bolt in a thread. One per process.

    `on_startup`/`on_shutdown` run in the ASGI lifespan (a worker process started by `serve --workers N` starts and
    stops its scheduler there). `clock` is the wall clock the signature's timestamp is compared with. `ready` is the
    readiness check behind `GET /readyz` (it raises when the bot cannot answer: the database is unreachable); without
    one, /readyz answers as /healthz does.
    """

    def __init__(
        self,
        app: App,
        *,
        signing_secret: str,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.time,
        on_startup: Callable[[], None] | None = None,
        on_shutdown: Callable[[], None] | None = None,
        ready: Callable[[], None] | None = None,
    ) -> None:
        self.app = app
        self.limits = limits or Limits()
        self._secret = signing_secret.encode()
        self._clock = clock
        self._on_startup = on_startup
        self._on_shutdown = on_shutdown
        self._pool = ThreadPoolExecutor(DISPATCH_THREADS, thread_name_prefix="marginbot-dispatch")
        self._ready = ready
        # One thread: a database that hangs holds one check, never a thread per probe.
        self._ready_pool = ThreadPoolExecutor(1, thread_name_prefix="marginbot-ready")
        self._ready_check: asyncio.Future[None] | None = None
        self._ready_failing = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)

    def close(self) -> None:
        """Wait for dispatches in flight (each is at most an ack away from done), then free the threads."""
        self._pool.shutdown(wait=True)
        # A readiness check stuck on a database that does not answer must not hold up the stop.
        self._ready_pool.shutdown(wait=False, cancel_futures=True)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        loop = asyncio.get_running_loop()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    if self._on_startup:
                        await loop.run_in_executor(None, self._on_startup)
                except Exception as exc:
                    if not isinstance(exc, StartupFailed):
                        log.exception("marginbot could not start")
                    await send({"type": "lifespan.startup.failed", "message": type(exc).__name__})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    if self._on_shutdown:
                        await loop.run_in_executor(None, self._on_shutdown)
                    await loop.run_in_executor(None, self.close)
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            await _respond(send, 200, b'{"ok": true}', content_type=b"application/json")
            return
        if path == READY_PATH and method in ("GET", "HEAD"):
            why = await self._not_ready()
            if why is None:
                await _respond(send, 200, b'{"ok": true}', content_type=b"application/json")
            else:
                await _respond(
                    send, 503, json.dumps({"ok": False, "error": why}).encode(), content_type=b"application/json"
                )
            return
        if path != EVENTS_PATH or method != "POST":
            log.debug("404 for %s %s", method, path)
            await _respond(send, 404, b"", close=True)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        try:
            length = content_length(headers, self.limits.max_body)
            body = await read_body(receive, length, self.limits.body_timeout)
            named = dict(headers)
            why = check_signature(
                self._secret,
                named.get(b"x-slack-request-timestamp"),
                named.get(b"x-slack-signature"),
                body,
                now=self._clock(),
            )
            if why:
                raise Refused(401, why)
        except Refused as refused:
            # The reason and where it came from; never the body (it may hold a response_url or be 200 MB).
            client = (scope.get("client") or ("?",))[0]
            log.info("refused %s %s from %s: HTTP %d, %s", method, path, client, refused.status, refused.reason)
            status_body = b'{"error": "invalid request"}' if refused.status == 401 else b""
            try:
                await _respond(send, refused.status, status_body, content_type=b"application/json", close=True)
            except Exception as exc:
                # The connection may already be answered and closed by uvicorn itself (garbage after the headers
                # makes it send its own 400): nothing more to say to this client. Wait for that close to land, or
                # uvicorn reports our unfinished response as an error.
                log.debug("could not answer a refused request (%s)", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(receive(), 1.0)
            return
        request = _bolt_request(body, scope["query_string"], headers)
        if isinstance(request, Unreadable):
            await _respond(send, 400, f"bad request: {request.reason}\n".encode(), close=True)
            return
        loop = asyncio.get_running_loop()
        response: BoltResponse = await loop.run_in_executor(self._pool, self.app.dispatch, request)
        out = response.body.encode() if isinstance(response.body, str) else json.dumps(response.body).encode()
        extra = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, values in response.headers.items()
            if name.lower() not in ("content-length", "content-type")
            for value in values
        ]
        content_type = (response.headers.get("content-type") or ["text/plain;charset=utf-8"])[0].encode("latin-1")
        await _respond(send, response.status, out, content_type=content_type, extra=extra)

    async def _not_ready(self) -> str | None:
        """None when the readiness check passes within READY_TIMEOUT_S, else why not, in one line. The line is the
        answer's body, which anyone who can reach the port reads: it names no host, user or driver message; the log
        gets the reason, once each time readiness is lost."""
        if self._ready is None:
            return None
        if self._ready_check is None or self._ready_check.done():
            self._ready_check = asyncio.get_running_loop().run_in_executor(self._ready_pool, self._ready)
        try:
            await asyncio.wait_for(asyncio.shield(self._ready_check), READY_TIMEOUT_S)
        except TimeoutError:
            return self._lost(f"the database did not answer within {READY_TIMEOUT_S:g} s", "no answer")
        except Exception as exc:
            return self._lost("the database cannot be reached", _reason(exc))
        if self._ready_failing:
            self._ready_failing = False
            log.info("ready again: the database answers")
        return None

    def _lost(self, said: str, reason: str) -> str:
        if not self._ready_failing:
            self._ready_failing = True
            log.warning("not ready (%s answered 503): %s", READY_PATH, reason)
        return said


def _reason(exc: BaseException) -> str:
    """A driver error's first line with credentials scrubbed, for the log: psycopg and sqlite3 name the server, the
    port and the user, never the password, and engine.scrub catches what looks like a key."""
    from engine.scrub import scrub

    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).splitlines() if line.strip()]
    return scrub(f"{type(orig).__name__}: {lines[0]}" if lines else type(orig).__name__)


@dataclass(frozen=True)
class Unreadable:
    """Why a signed body cannot be handed to Bolt, in words that quote none of it: the 400's one line and the log's."""

    reason: str


class _Shape(ValueError):
    """A signed body whose JSON is not of Slack's shape; its message names the field, never a value."""


def _bolt_request(body: bytes, query: bytes, headers: list[tuple[bytes, bytes]]) -> BoltRequest | Unreadable:
    """A signed body Bolt cannot parse is Slack's bug or ours, not an attack: say so in one line, without the body
    and without a traceback (answered 400, where Bolt's failure was a 500 and a traceback in the log)."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers:
        grouped.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    content_type = extract_content_type(build_normalized_headers(grouped))  # type: ignore[arg-type]
    try:
        text = body.decode("utf-8")
        # Bolt reads the body as a JSON object (or a form whose `payload` is one) and fails with AttributeError on
        # anything else (`[]`, `null`, `1`, `payload=null`): checked here first, so the answer is a 400, not a 500.
        parsed = parse_body(text, content_type)
        if not isinstance(parsed, dict):
            raise _Shape(f"the body is {_JSON_KINDS.get(type(parsed), 'JSON')}, not a JSON object")
        _check_shape(parsed)
        return BoltRequest(body=text, query=query.decode("latin-1"), headers=grouped)  # type: ignore[arg-type]
    # Bolt's parser also assumes the object holds Slack's shapes (a list of dicts under `authorizations`, ...): an
    # object that does not is as unreadable, and gets the same 400.
    except (UnicodeDecodeError, ValueError, AttributeError, TypeError, KeyError, IndexError) as exc:
        why = _why_unparsed(exc, content_type)
        log.error("a signed request could not be parsed (%s); answered 400", why)
        return Unreadable(why)


# The interactive payloads (form-encoded `payload=<JSON>`) whose fields Bolt's matchers, and our listeners, index
# without a check: a click whose `actions` is empty, or whose action has no `action_id`, failed inside Bolt (500).
_INTERACTIVE = frozenset(
    {"block_actions", "block_suggestion", "interactive_message", "message_action", "shortcut", "view_closed",
     "view_submission"}
)  # fmt: skip
# Fields Slack sends as objects in every interactive payload that has them (a listener reads `.get` on each).
_OBJECTS = ("user", "team", "channel", "container", "message", "view", "enterprise")


def _check_shape(body: dict[str, Any]) -> None:
    """Raise _Shape naming what is missing or of the wrong kind, for the payloads this app's listeners match."""
    kind = body.get("type")
    if kind is None:
        return  # a slash command's form: Bolt reads it by `command`
    if not isinstance(kind, str):
        raise _Shape("its type is not a string")
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise _Shape("an event_callback without an event object that has a type")
        return
    if kind not in _INTERACTIVE:
        return
    for key in _OBJECTS:
        if body.get(key) is not None and not isinstance(body[key], dict):
            raise _Shape(f"the {kind} payload's {key} is not an object")
    if kind in ("block_actions", "interactive_message"):
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            raise _Shape(f"the {kind} payload has no actions")
        if not all(isinstance(a, dict) for a in actions):
            raise _Shape(f"the {kind} payload's actions are not objects")
        if kind == "block_actions" and not all(isinstance(a.get("action_id"), str) for a in actions):
            raise _Shape("the block_actions payload has an action without an action_id")
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not all(isinstance(view.get(k), str) for k in ("type", "callback_id")):
            raise _Shape(f"the {kind} payload has no view with a type and a callback_id")


# What a JSON value that is not an object is, in JSON's words (the log says which, never the value).
_JSON_KINDS: dict[type, str] = {
    list: "a JSON array",
    type(None): "JSON null",
    bool: "a JSON boolean",
    int: "a JSON number",
    float: "a JSON number",
    str: "a JSON string",
}


def _why_unparsed(exc: Exception, content_type: str | None) -> str:
    """What was wrong, in words of our own: json's and codecs' messages quote the body."""
    if isinstance(exc, _Shape):
        return str(exc)
    if isinstance(exc, json.JSONDecodeError):
        form = content_type == "application/x-www-form-urlencoded"
        return "the payload is not JSON" if form else "the body is not JSON"
    if isinstance(exc, UnicodeDecodeError):
        return "the body is not UTF-8"
    return f"not of Slack's shape ({type(exc).__name__})"


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
    close: bool = False,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *(extra or [])]
    if close:
        # A refused client may still be sending (a 200 MB body): closing stops us reading and discarding it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BoundedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus deadlines for connections that do not send a request.

    uvicorn closes a kept-alive connection that stays idle after a response, but waits forever for the headers of a
    request. Here a connection that has started a request (sent some bytes of it) must complete its headers within
    `header_timeout`; one that has sent nothing since it opened is closed after `header_timeout` or uvicorn's
    keep-alive timeout, whichever is longer (so raising the keep-alive above a load balancer's idle timeout keeps
    the balancer's pre-opened connections too). The deadline is read from the app's `limits` when it is a
    SlackFront, else the module default.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._deadline_partial = False
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_deadline()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        # h11's IDLE: waiting for (the rest of) a request line and headers. After them it is SEND_BODY or DONE.
        if self.conn.their_state is not h11.IDLE or self.transport.is_closing():
            self._cancel_deadline()
            return
        partial = bool(self.conn.trailing_data[0])  # some bytes of a request, not yet its complete headers
        if self._deadline is not None and (self._deadline_partial or not partial):
            return  # the deadline that applies is already running
        self._cancel_deadline()
        limit = _header_timeout(self.app)
        if not partial:
            limit = max(limit, float(self.timeout_keep_alive))
        self._deadline = self.loop.call_later(limit, self._timed_out)
        self._deadline_partial = partial

    def _cancel_deadline(self) -> None:
        deadline = getattr(self, "_deadline", None)
        if deadline is not None:
            deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        busy = self.cycle is not None and not self.cycle.response_complete
        if self.conn.their_state is h11.IDLE and not busy and not self.transport.is_closing():
            log.debug("closed a connection that sent no complete request in time")
            self.transport.close()


def _header_timeout(app: Any) -> float:
    # uvicorn wraps the app (proxy headers, message logger); look through those wrappers for our front.
    seen = 0
    while app is not None and seen < 5:
        if isinstance(app, SlackFront):
            return app.limits.header_timeout
        app = getattr(app, "app", None)
        seen += 1
    return Limits().header_timeout
