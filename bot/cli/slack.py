"""`marginbot serve` (the Slack bot) and `marginbot ask "/margin ..."` (the same answers, in the terminal)."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from bot.cli.common import as_of, command, port_number, positive_int

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = command(
        sub,
        "serve",
        help="run the Slack bot: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT at /slack/events",
    )
    p.add_argument("--host", default="0.0.0.0", help="interface for HTTP mode (default: all)")
    p.add_argument("--port", type=port_number, default=None, help="port for HTTP mode (default: PORT, 3000)")
    p.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        metavar="N",
        help="HTTP mode: N server processes sharing the port (default 1; the scheduler runs in one of them)",
    )
    p.add_argument(
        "--keep-alive",
        type=positive_int,
        default=5,
        metavar="SECONDS",
        help="HTTP mode: close idle connections after this long (default 5; behind a load balancer, above its idle "
        "timeout)",
    )
    p.set_defaults(handler=cmd_serve)

    p = command(sub, "ask", help='answer a /margin question here, e.g. marginbot ask "/margin acme 2026-10"')
    p.add_argument("question", nargs="*", metavar="WORDS", help="what you would type in Slack (`/margin` optional)")
    p.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="pretend it is this moment (default: now; a date or time with no offset is in MARGINBOT_TIMEZONE)",
    )
    p.add_argument("--json", action="store_true", help="print the Block Kit JSON Slack would receive")
    p.set_defaults(handler=cmd_ask)


def cmd_ask(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.answer import answer_command
    from bot.grammar import parse
    from bot.render.terminal import render

    outcome = answer_command(rt, parse(" ".join(args.question)), now=as_of(args, rt))
    if args.json:
        print(json.dumps({"text": outcome.answer.text, "blocks": outcome.answer.blocks}, indent=2))
    else:
        print(render(outcome.answer.blocks))
    return 0 if outcome.ok else 1


def cmd_serve(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.slack.server import serve

    # A wrong setting (exit 2) or an unreachable Slack (exit 1) comes back as one line through bot/cli/errors.py.
    serve(rt, host=args.host, port=args.port, workers=args.workers, keep_alive=args.keep_alive)
    return 0
