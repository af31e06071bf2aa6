"""HTTP mode under load and abuse, on real loopback sockets: a burst Slack would send, hostile bodies and headers, and
connections that stall. The server is the production one (uvicorn and bot/slack/http.py); Slack's side is the
stand-in; requests are signed exactly as Slack signs them."""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from bot.slack.http import Limits
from config.settings import Settings
from engine.runtime import Runtime
from tests.bot.dataset import load_dataset
from tests.conftest import NOW
from tests.e2e.conftest import ALLOWED_USER, OTHER_CHANNEL, Bot, bot_settings, run_bot, signed_headers
from tests.fakes.slack_api import SlackStandIn

MB = 1024 * 1024


def port_of(url: str) -> int:
    return urlsplit(url).port or 80


def slash_body(slack: SlackStandIn, text: str, response: str) -> bytes:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": "T0001",
            "channel_id": OTHER_CHANNEL,
            "user_id": ALLOWED_USER,
            "command": "/margin",
            "text": text,
            "api_app_id": "A0001",
            "response_url": slack.response_url(response),
            "trigger_id": "1.2.3",
        }
    ).encode()


def post_signed(port: int, body: bytes) -> tuple[int | str, float]:
    """One slash command on a fresh connection, as Slack delivers each: (status or error name, seconds)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)}
    started = time.monotonic()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/slack/events", body=body, headers=headers)
        reply = conn.getresponse()
        reply.read()
        conn.close()
        return reply.status, time.monotonic() - started
    except OSError as exc:
        return type(exc).__name__, time.monotonic() - started


def status_line(port: int, raw: bytes, *, timeout: float = 10) -> str:
    """Send raw bytes, return the first line the server answers (or what happened instead)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        try:
            data = sock.recv(200)
        except TimeoutError:
            return "<no answer>"
        return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "<closed>"


@contextmanager
def operator_log() -> Iterator[io.StringIO]:
    """What an operator's log would hold: everything that reaches the root logger at INFO and above."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setLevel(logging.INFO)
    # The test's own HTTP client logs each request it makes; that is not the server's log.
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def rss_mb() -> float:
    """This process's resident memory (the server runs in it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.fixture
def limited(settings: Settings, slack: SlackStandIn, tmp_path: Path) -> Iterator[Bot]:
    """The bot with short timeouts (half a second for headers and bodies, one for idle connections), so stalled
    clients are cut off within the test's patience."""
    import httpx

    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    load_dataset(rt, tmp_path / "book")
    with (
        httpx.Client(timeout=10) as client,
        run_bot(rt, limits=Limits(body_timeout=0.5, header_timeout=0.5), keep_alive=1) as url,
    ):
        yield Bot(url, rt, slack, client)


def test_a_burst_of_200_signed_commands_50_at_a_time_is_all_acked_within_3s_and_all_answered(bot: Bot) -> None:
    port = port_of(bot.url)
    names = [f"b{i}" for i in range(200)]
    customers = ["acme", "globex", "initech", "portfolio"]
    bodies = [slash_body(bot.slack, f"{customers[i % 4]} 2026-10", name) for i, name in enumerate(names)]
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(lambda body: post_signed(port, body), bodies))
    statuses = [status for status, _ in results]
    slowest = max(seconds for _, seconds in results)
    assert statuses == [200] * 200, {s: statuses.count(s) for s in set(statuses)}
    assert slowest < 3.0, f"slowest ack took {slowest:.2f}s"
    answered = bot.slack.wait_for(lambda c: c.method == "response_url", count=200, timeout=90)
    assert sorted(c.path.rsplit("/", 1)[1] for c in answered) == sorted(names)
    assert all("Sorry" not in c.body["text"] for c in answered)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", "400"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", "400"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nab", "400"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "411"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", "411"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n", "413"),
        # Signature headers that are not Slack's: 401 from the front, never Bolt's 500 or a dropped connection.
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Slack-Request-Timestamp: abc\r\n"
         b"X-Slack-Signature: v0=00\r\n\r\na=", "401"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nX-Slack-Request-Timestamp: "
         b"99999999999999999999999\r\nX-Slack-Signature: v0=00\r\n\r\na=", "401"),
        (b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\n{x}",
         "401"),
        (b"GET /slack/events HTTP/1.1\r\nHost: x\r\n\r\n", "404"),
    ],
    ids=["negative", "non-numeric", "two-lengths", "missing", "chunked", "huge", "bad-timestamp", "long-timestamp",
         "unsigned-json", "get"],
)  # fmt: skip
def test_hostile_requests_get_the_right_4xx_at_once(bot: Bot, raw: bytes, expected: str) -> None:
    started = time.monotonic()
    line = status_line(port_of(bot.url), raw)
    assert line.split(" ")[1:2] == [expected], line
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    ("lengths", "expected"),
    [
        (b"Content-Length: 2\r\nContent-Length: 2\r\n", "401"),
        (b"Content-Length: 2, 2\r\n", "401"),
        (b"Content-Length: 2\r\nContent-Length: 3\r\n", "400"),
        (b"Content-Length: 2, 3\r\n", "400"),
    ],
    ids=["same-twice", "same-listed", "differing-twice", "differing-listed"],
)
def test_a_repeated_content_length_is_one_length_when_the_copies_agree_and_a_400_when_they_differ(
    bot: Bot, lengths: bytes, expected: str
) -> None:
    # As docs/deployment.md says: agreeing copies are merged by uvicorn's parser (the unsigned body then meets the
    # signature check, 401); differing ones are refused by the parser before the front sees them.
    raw = b"POST /slack/events HTTP/1.1\r\nHost: x\r\n" + lengths + b"\r\nab"
    line = status_line(port_of(bot.url), raw)
    assert line.split(" ")[1:2] == [expected], line


def test_a_200_mb_unsigned_body_is_refused_before_reading_and_memory_and_log_stay_flat(bot: Bot) -> None:
    port = port_of(bot.url)
    marker = b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FSECRET-"
    chunk = (marker + b"x" * (MB - len(marker)))[:MB]

    def flood(headers: bytes) -> str:
        """Headers, then up to 200 MB of body as fast as the server takes it; the server's first line."""
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(headers)
            try:
                for _ in range(200):
                    sock.sendall(chunk)
            except OSError:
                pass  # the server answered and closed while we were still sending: what it should do
            sock.settimeout(5)
            try:
                return sock.recv(200).split(b"\r\n", 1)[0].decode()
            except OSError as exc:
                return type(exc).__name__

    before = rss_mb()
    with operator_log() as log:
        declared = flood(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (200 * MB))
        negative = flood(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n")
        chunked = flood(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    grown = rss_mb() - before
    # The first line can be lost to a reset when the server closes on unread data; what matters is that it never
    # accepted the body: no 2xx, no 5xx, memory flat, nothing of the body in the log.
    for line in (declared, negative, chunked):
        assert not line.startswith(("HTTP/1.1 2", "HTTP/1.1 5")), line
    # The status, not its phrase: Python 3.13 renamed 413's reason to "Content Too Large".
    assert declared.startswith("HTTP/1.1 413 ") or declared in ("ConnectionResetError", ""), declared
    assert grown < 50, f"the server grew by {grown:.0f} MB while refusing 600 MB of bodies"
    # One line per refused request, a few hundred bytes in all, for 600 MB sent.
    assert len(log.getvalue()) < 1000, log.getvalue()[:3000]
    assert "SECRET-" not in log.getvalue() and "hooks.slack.com" not in log.getvalue()
    # And it still serves real requests.
    assert bot.command("globex 2026-10").status_code == 200


def test_a_refused_request_is_logged_as_one_line_without_its_body_or_response_url(bot: Bot) -> None:
    with operator_log() as log:
        reply = bot.command("acme 2026-10", secret="not-the-signing-secret", response="SECRET-RESPONSE")
    assert reply.status_code == 401
    assert log.getvalue() == (
        "refused POST /slack/events from 127.0.0.1: HTTP 401, bad X-Slack-Signature (check SLACK_SIGNING_SECRET)\n"
    )


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b"[]", "application/json", "a JSON array"),
        (b"null", "application/json", "JSON null"),
        (b"1", "application/json", "a JSON number"),
        (b"payload=null", "application/x-www-form-urlencoded", "JSON null"),
        (b"payload=%5B%5D", "application/x-www-form-urlencoded", "a JSON array"),
    ],
)
def test_a_signed_body_that_is_not_a_json_object_is_a_400_in_one_log_line(
    bot: Bot, body: bytes, content_type: str, kind: str
) -> None:
    # Signed with the right secret, so it passes the front; Bolt then reads the body as an object and would fail.
    with operator_log() as log:
        reply = bot.http.post(
            f"{bot.url}/slack/events", content=body, headers={"Content-Type": content_type, **signed_headers(body)}
        )
    assert reply.status_code == 400
    assert (
        log.getvalue()
        == f"a signed request could not be parsed (the body is {kind}, not a JSON object); answered 400\n"
    )
    assert bot.command("globex 2026-10").status_code == 200


def interactive(payload: str) -> bytes:
    return urlencode({"payload": payload}).encode()


CLICK = {"type": "block_actions", "user": {"id": ALLOWED_USER}, "team": {"id": "T0001"}, "api_app_id": "A0001"}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (interactive("{not json"), "the payload is not JSON"),
        (b"payload=", "the payload is not JSON"),
        (interactive(json.dumps({**CLICK, "actions": []})), "the block_actions payload has no actions"),
        (interactive(json.dumps(CLICK)), "the block_actions payload has no actions"),
        (interactive(json.dumps({**CLICK, "actions": [5]})), "the block_actions payload's actions are not objects"),
        (
            interactive(json.dumps({**CLICK, "actions": [{"value": "customer:acme"}]})),
            "the block_actions payload has an action without an action_id",
        ),
        (
            interactive(json.dumps({**CLICK, "actions": [{"action_id": "alert_open"}], "container": "x"})),
            "the block_actions payload's container is not an object",
        ),
        (
            interactive(json.dumps({"type": "view_submission", "view": {"callback_id": "whatif"}})),
            "the view_submission payload has no view with a type and a callback_id",
        ),
    ],
)
def test_a_signed_click_with_a_malformed_payload_is_a_400_in_one_plain_line_and_one_log_line(
    bot: Bot, body: bytes, why: str
) -> None:
    # Bolt indexed these unchecked (actions[0], ["action_id"], view["type"]): HTTP 500 and a traceback in the log.
    with operator_log() as log:
        reply = bot.http.post(
            f"{bot.url}/slack/events",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)},
        )
    assert (reply.status_code, reply.headers["content-type"], reply.text) == (
        400,
        "text/plain; charset=utf-8",
        f"bad request: {why}\n",
    )
    assert log.getvalue() == f"a signed request could not be parsed ({why}); answered 400\n"
    assert bot.command("globex 2026-10").status_code == 200


def test_stalled_connections_do_not_block_real_requests_and_are_cut_off(limited: Bot) -> None:
    port = port_of(limited.url)
    idle, partial_headers, partial_body = [], [], []
    for _ in range(100):
        idle.append(socket.create_connection(("127.0.0.1", port)))
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
        partial_headers.append(s)
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nab")
        partial_body.append(s)
    try:
        bodies = [slash_body(limited.slack, "initech 2026-10", f"s{i}") for i in range(50)]
        with ThreadPoolExecutor(25) as pool:
            results = list(pool.map(lambda body: post_signed(port, body), bodies))
        assert [status for status, _ in results] == [200] * 50
        assert max(seconds for _, seconds in results) < 3.0
        limited.slack.wait_for(lambda c: c.method == "response_url", count=50, timeout=60)

        def outcome(sock: socket.socket) -> str:
            sock.settimeout(5)  # the limits are 0.5 s: every one is answered or closed well within this
            try:
                data = sock.recv(200)
            except OSError as exc:
                return type(exc).__name__
            return data.split(b"\r\n", 1)[0].decode() if data else "closed"

        assert {outcome(s) for s in partial_body} == {"HTTP/1.1 408 Request Timeout"}
        assert {outcome(s) for s in partial_headers} == {"closed"}
        assert {outcome(s) for s in idle} == {"closed"}
    finally:
        for s in idle + partial_headers + partial_body:
            s.close()


def test_health_check_answers_while_a_client_stalls(limited: Bot) -> None:
    port = port_of(limited.url)
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n")
        assert limited.http.get(f"{limited.url}/healthz").json() == {"ok": True}


def test_a_keep_alive_connection_serves_several_requests(bot: Bot) -> None:
    # Slack reuses connections; the header deadline must not cut a connection between two of its requests.
    port = port_of(bot.url)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for i in range(3):
        body = slash_body(bot.slack, "help", f"k{i}")
        conn.request("POST", "/slack/events", body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **signed_headers(body)})  # fmt: skip
        reply = conn.getresponse()
        assert reply.status == 200 and b"/margin CUSTOMER" in reply.read()
    conn.close()


def test_shutdown_finishes_the_answers_already_acknowledged(
    settings: Settings, slack: SlackStandIn, tmp_path: Path
) -> None:
    from bot.slack.server import serve

    rt = Runtime(bot_settings(settings, slack), now_override=NOW)
    load_dataset(rt, tmp_path / "book")
    stop, ready = threading.Event(), threading.Event()
    where: list[str] = []

    def on_ready(url: str) -> None:
        where.append(url)
        ready.set()

    thread = threading.Thread(target=serve, args=(rt,), kwargs={
        "host": "127.0.0.1", "port": 0, "stop": stop, "on_ready": on_ready})  # fmt: skip
    thread.start()
    try:
        assert ready.wait(15)
        port = port_of(where[0])
        bodies = [slash_body(slack, "portfolio 2026-10", f"d{i}") for i in range(20)]
        with ThreadPoolExecutor(20) as pool:
            assert [status for status, _ in pool.map(lambda body: post_signed(port, body), bodies)] == [200] * 20
    finally:
        stop.set()  # at once, while answers are still being computed
        thread.join(30)
    assert not thread.is_alive()
    # serve() returned only after every acknowledged answer was posted.
    assert len(slack.calls_to("response_url")) == 20
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_an_idle_connection_is_kept_for_the_keep_alive_a_started_request_only_for_the_header_timeout(
    limited: Bot,
) -> None:
    # A load balancer opens connections ahead of use: those are kept for the keep-alive (1 s here); a client that
    # starts a request must finish its headers within the header timeout (0.5 s here).
    port = port_of(limited.url)
    started = time.monotonic()
    idle = socket.create_connection(("127.0.0.1", port))
    partial = socket.create_connection(("127.0.0.1", port))
    partial.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
    closed_at = {}
    for name, sock in (("partial", partial), ("idle", idle)):
        sock.settimeout(10)
        assert sock.recv(10) == b""
        closed_at[name] = time.monotonic() - started
        sock.close()
    assert closed_at["partial"] < closed_at["idle"]
    assert closed_at["idle"] >= 0.9
