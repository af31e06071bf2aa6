"""Running the bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT at `/slack/events`, with
`GET /healthz` for load balancers.

The HTTP server is the standard library's threading server: one thread per request, each handing the signed
request to Bolt, which verifies it, acks within the listener and returns. Behind a load balancer run several.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse

from bot.jobs.scheduler import start_scheduler
from bot.slack.app import ANSWER_WORKERS, create_app
from bot.slack.client import make_client
from engine.runtime import Runtime

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
# Slack's payloads are a few kilobytes; refusing anything far larger keeps a stray client from hogging memory.
MAX_BODY = 1_000_000


def make_http_server(app: App, *, host: str, port: int) -> ThreadingHTTPServer:
    """A server for `app` bound to host:port (port 0 picks a free one); call `serve_forever()` to run it."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "marginbot"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            if self.path.split("?", 1)[0] == HEALTH_PATH:
                self._send(200, {"content-type": ["application/json"]}, json.dumps({"ok": True}))
            else:
                self._send(404, {}, "")

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            if path != EVENTS_PATH:
                self._send(404, {}, "")
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, {}, "")
                return
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in self.headers.items()}
            response: BoltResponse = app.dispatch(BoltRequest(body=body, query=query, headers=headers))
            self._send(response.status, response.headers, response.body)

        def _send(self, status: int, headers: dict[str, Any], body: str | dict[str, Any]) -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            for key, values in headers.items():
                if key.lower() != "content-length":
                    for value in values:
                        self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def stop_on_signals() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop


def serve(
    runtime: Runtime,
    *,
    host: str = "0.0.0.0",
    port: int | None = None,
    stop: threading.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Run until `stop` is set (by default: SIGINT or SIGTERM). `on_ready` gets where the bot is listening."""
    settings = runtime.settings
    socket_mode = settings.slack_app_token is not None
    workers = ThreadPoolExecutor(ANSWER_WORKERS, thread_name_prefix="marginbot-answer")
    client = make_client(settings)
    app = create_app(runtime, client, workers=workers, socket_mode=socket_mode)
    stop = stop or stop_on_signals()
    scheduler = start_scheduler(runtime, client)
    try:
        if socket_mode:
            _run_socket_mode(app, settings.slack_app_token.get_secret_value(), stop, on_ready)  # type: ignore[union-attr]
        else:
            _run_http(app, host, settings.port if port is None else port, stop, on_ready)
    finally:
        if scheduler is not None:
            scheduler.shutdown()
        workers.shutdown(wait=True)
        log.info("marginbot stopped")


def _run_http(app: App, host: str, port: int, stop: threading.Event, on_ready: Callable[[str], None] | None) -> None:
    server = make_http_server(app, host=host, port=port)
    thread = threading.Thread(target=server.serve_forever, name="marginbot-http", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    url = f"http://{bound_host!s}:{bound_port}"
    log.info("marginbot listening on %s%s (health check %s%s)", url, EVENTS_PATH, url, HEALTH_PATH)
    if on_ready:
        on_ready(url)
    try:
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run_socket_mode(app: App, app_token: str, stop: threading.Event, on_ready: Callable[[str], None] | None) -> None:
    from bot.slack.socket_mode import socket_mode_handler

    handler = socket_mode_handler(app, app_token)
    handler.connect()
    log.info("marginbot connected to Slack in Socket Mode")
    if on_ready:
        on_ready("socket-mode")
    try:
        stop.wait()
    finally:
        handler.close()
