"""`python -m bench.serve [--workers N]`: `marginbot serve` as a real process, under what issue 13 and 16 measured.

A burst of 200 signed `/margin` commands, 50 at a time (each on a new connection, as Slack delivers them): the
acknowledgement times and whether every answer reached its response_url. Then three hostile 200 MB uploads
(declared length, `Content-Length: -1`, chunked): the first line the server answers, its memory before and after,
and what they added to its log. Slack's side is the test suite's loopback stand-in. Run `make demo` first (it
uses marginbot-demo.db and its customers), from the repository's root.
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

from tests.e2e.conftest import SIGNING_SECRET, signed_headers
from tests.fakes.slack_api import SlackStandIn

MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", default="marginbot-demo.db")
    args = parser.parse_args()
    customers = [line.split(",")[0] for line in Path("demo-data/contracts.csv").read_text().splitlines()[1:]]
    slack = SlackStandIn().start()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite:///{args.db}",
        "SLACK_BOT_TOKEN": "xoxb-bench",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "MARGINBOT_ALLOWED_USERS": "UBENCH",
    }
    command = [sys.executable, "-m", "bot.cli.main", "serve", "--host", "127.0.0.1", "--port", "0"]
    proc = subprocess.Popen(
        [*command, "--workers", str(args.workers)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    log: list[str] = []
    threading.Thread(target=lambda: log.extend(proc.stdout or []), daemon=True).start()
    port = 0
    while not port:
        found = [re.search(r"listening on http://127\.0\.0\.1:(\d+)", line) for line in list(log)]
        port = next((int(m.group(1)) for m in found if m), 0)
        time.sleep(0.05)
    time.sleep(1.0 if args.workers == 1 else 5.0)  # workers start after the parent says where it listens

    def one(i: int) -> tuple[int | str, float]:
        body = urlencode(
            {
                "command": "/margin",
                "text": customers[i % len(customers)],
                "user_id": "UBENCH",
                "channel_id": "C1",
                "team_id": "T1",
                "response_url": slack.response_url(f"r{i}"),
                "trigger_id": "t",
            }
        ).encode()
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

    started = time.monotonic()
    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(200)))
    times = sorted(t for _, t in results)
    codes = {c: sum(1 for s, _ in results if s == c) for c in {s for s, _ in results}}
    answered = slack.wait_for(lambda c: c.method == "response_url", count=200, timeout=120)
    print(
        f"burst 200×50: statuses {codes}; ack p50 {statistics.median(times):.3f}s p99 {times[197]:.3f}s "
        f"max {times[-1]:.3f}s; {len(answered)}/200 answered {time.monotonic() - started:.1f}s after the first"
    )
    pids = [proc.pid, *(int(p) for p in subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                                          text=True).stdout.split())]  # fmt: skip
    before, log_before = {p: rss_mb(p) for p in pids}, sum(len(line) for line in log)
    chunk = b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FSECRET" + b"x" * MB
    for header in (b"Content-Length: %d" % (200 * MB), b"Content-Length: -1", b"Transfer-Encoding: chunked"):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n" + header + b"\r\n\r\n")
            sent = 0
            try:
                for _ in range(200):
                    sock.sendall(chunk)
                    sent += 1
            except OSError:
                pass
            sock.settimeout(5)
            try:
                first = sock.recv(100).split(b"\r\n")[0].decode()
            except OSError as exc:
                first = type(exc).__name__
        print(f"hostile {header.decode()}: {first} (the server closed after {sent} MB of 200)")
    time.sleep(0.5)
    grown = {p: round(rss_mb(p) - before[p], 1) for p in pids}
    print(f"RSS growth per process (MB): {grown}; log grew by {sum(len(line) for line in log) - log_before} bytes")
    proc.send_signal(signal.SIGTERM)
    print(f"SIGTERM: exit status {proc.wait(30)}")
    slack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
