"""A local stand-in for Slack's Web API (and for `response_url`s and file upload URLs), on loopback.

It records every request as the real API would receive it and answers like Slack does. Tests can queue
responses per method (a 429 with Retry-After, a 500, `not_in_channel`, ...) that are served before the default.

    with SlackStandIn() as slack:
        settings = Settings(slack_api_url=slack.api_url, ...)
        ...
        slack.wait_for(lambda c: c.method == "chat.postMessage")
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Slack takes bursts; so must its stand-in (the standard library's default accept queue is 5).
    request_queue_size = 256


@dataclass
class Call:
    """One request the stand-in received."""

    method: str  # Web API method ("chat.postMessage"), "response_url", or "upload"
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes = b""
    at: float = field(default_factory=time.monotonic)

    @property
    def text(self) -> str:
        return str(self.body.get("text", ""))

    @property
    def blocks(self) -> list[dict[str, Any]]:
        blocks = self.body.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else blocks


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | str = field(default_factory=lambda: {"ok": True})
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class SlackStandIn:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._queued: dict[str, deque[Reply]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                standin._handle(self)

            def do_GET(self) -> None:
                standin._handle(self)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # ---- lifecycle ----
    def start(self) -> SlackStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be set to."""
        return self.base_url + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base_url}/response/{name}"

    # ---- programming and inspecting ----
    def queue(self, method: str, *replies: Reply) -> None:
        """Serve these replies, in order, to the next calls of `method` before falling back to the default."""
        with self._lock:
            self._queued[method].extend(replies)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def wait_for(self, predicate: Callable[[Call], bool], *, count: int = 1, timeout: float = 10.0) -> list[Call]:
        """Wait until `count` recorded calls match; returns them (raises AssertionError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                found = [c for c in self.calls if predicate(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} matching call(s), saw {len(found)}: {self.calls!r}")
            time.sleep(0.01)

    # ---- serving ----
    def _handle(self, req: BaseHTTPRequestHandler) -> None:
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        path = req.path.split("?", 1)[0]
        if path.startswith("/api/"):
            method = path[len("/api/") :]
        elif path.startswith("/response/"):
            method = "response_url"
        elif path.startswith("/upload/"):
            method = "upload"
        else:
            method = path
        body = self._parse(req.headers.get("Content-Type", ""), raw, req.path)
        call = Call(method, path, {k.lower(): v for k, v in req.headers.items()}, body, raw)
        with self._lock:
            self.calls.append(call)
            queued = self._queued[method].popleft() if self._queued[method] else None
        reply = queued or self._default(method, body)
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
        data = payload.encode()
        req.send_response(reply.status)
        req.send_header("Content-Type", "application/json" if not isinstance(reply.body, str) else "text/plain")
        req.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            req.send_header(key, value)
        req.end_headers()
        req.wfile.write(data)

    @staticmethod
    def _parse(content_type: str, raw: bytes, full_path: str) -> dict[str, Any]:
        if "application/json" in content_type:
            try:
                parsed = json.loads(raw or b"{}")
                return parsed if isinstance(parsed, dict) else {"_json": parsed}
            except json.JSONDecodeError:
                return {"_raw": raw.decode(errors="replace")}
        if "application/x-www-form-urlencoded" in content_type or (not content_type and raw):
            return {k: v[0] for k, v in parse_qs(raw.decode(errors="replace")).items()}
        query = full_path.split("?", 1)[1] if "?" in full_path else ""
        return {k: v[0] for k, v in parse_qs(query).items()}

    def _default(self, method: str, body: dict[str, Any]) -> Reply:
        n = next(self._ids)
        if method == "chat.postMessage":
            return Reply(body={"ok": True, "channel": body.get("channel"), "ts": f"1700000000.{n:06d}"})
        if method == "chat.postEphemeral":
            return Reply(body={"ok": True, "message_ts": f"1700000000.{n:06d}"})
        if method == "files.getUploadURLExternal":
            file_id = f"F{n:08d}"
            return Reply(body={"ok": True, "upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id})
        if method == "upload":
            return Reply(body="OK")
        if method == "files.completeUploadExternal":
            files = body.get("files")
            parsed = json.loads(files) if isinstance(files, str) else files or []
            return Reply(body={"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in parsed]})
        if method == "conversations.info":
            return Reply(
                body={
                    "ok": True,
                    "channel": {"id": body.get("channel"), "is_member": True, "name": "general"},
                }
            )
        if method == "auth.test":
            return Reply(body={"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T0001", "team": "Demo"})
        if method == "response_url":
            return Reply(body="ok")
        return Reply(body={"ok": True})
