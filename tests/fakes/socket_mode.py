"""A loopback stand-in for Slack's Socket Mode websocket (standard library only).

Slack's side of the link: it accepts the client's websocket handshake, says hello, sends envelopes (a slash command,
an interactive payload), records the client's acks, and answers pings with pongs until told to play dead (the
silently dropped connection: no FIN, no close frame, just silence). The Web API's `apps.connections.open` is played
by `SlackStandIn` (tests/fakes/slack_api.py), which hands out this server's URL.

    with SocketStandIn() as link:
        slack.socket_url = link.url
        ...
        link.send({"envelope_id": "e1", "type": "slash_commands", ...})
        link.wait_for_ack("e1")
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's handshake constant
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


def _read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> tuple[int, bytes]:
    head = _read_exact(sock, 2)
    op, length, masked = head[0] & 0x0F, head[1] & 0x7F, head[1] & 0x80
    if length == 126:
        length = struct.unpack("!H", _read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", _read_exact(sock, 8))[0]
    key = _read_exact(sock, 4) if masked else b"\0\0\0\0"
    data = _read_exact(sock, length) if length else b""
    return op, bytes(b ^ key[i % 4] for i, b in enumerate(data))


def _frame(op: int, data: bytes) -> bytes:
    n = len(data)
    if n < 126:
        size = bytes([n])
    elif n < 65536:
        size = bytes([126]) + struct.pack("!H", n)
    else:
        size = bytes([127]) + struct.pack("!Q", n)
    return bytes([0x80 | op]) + size + data  # the server's frames are never masked


@dataclass
class Link:
    """One websocket connection the client opened."""

    sock: socket.socket
    opened_at: float = field(default_factory=time.monotonic)
    pings: int = 0


class SocketStandIn:
    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.links: list[Link] = []
        self.acks: list[dict[str, Any]] = []
        self.answer_pings = True
        self._lock = threading.Lock()
        self._closed = False

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/link/"

    def __enter__(self) -> SocketStandIn:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._server.close()
        for link in self.links:
            with contextlib.suppress(OSError):
                link.sock.close()

    # ---- driving the link ----
    def wait_for_link(self, count: int = 1, timeout: float = 10.0) -> Link:
        """The `count`-th connection, once the client has opened it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.links) >= count:
                    return self.links[count - 1]
            time.sleep(0.01)
        raise AssertionError(f"the client opened {len(self.links)} connection(s), expected {count}")

    def send(self, envelope: dict[str, Any], link: Link | None = None) -> None:
        target = link or self.wait_for_link(len(self.links) or 1)
        target.sock.sendall(_frame(TEXT, json.dumps(envelope).encode()))

    def wait_for_ack(self, envelope_id: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [a for a in self.acks if a.get("envelope_id") == envelope_id]
            if found:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"no ack for envelope {envelope_id}; acks: {self.acks}")

    # ---- serving ----
    def _accept(self) -> None:
        while not self._closed:
            try:
                sock, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = sock.recv(1024)
                if not chunk:
                    return
                request += chunk
            key = next(
                line.split(":", 1)[1].strip()
                for line in request.decode().split("\r\n")
                if line.lower().startswith("sec-websocket-key:")
            )
            accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
            sock.sendall(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            )
            link = Link(sock)
            with self._lock:
                self.links.append(link)
            hello = {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0001"},
                     "debug_info": {"host": "stand-in", "approximate_connection_time": 18060}}  # fmt: skip
            sock.sendall(_frame(TEXT, json.dumps(hello).encode()))
            while True:
                op, data = _read_frame(sock)
                if op == PING:
                    link.pings += 1
                    if self.answer_pings:
                        sock.sendall(_frame(PONG, data))
                elif op == TEXT:
                    with self._lock:
                        self.acks.append(json.loads(data))
                elif op == CLOSE:
                    sock.close()
                    return
        except (OSError, ConnectionError, StopIteration):
            return
