"""`marginbot why CUSTOMER|product NAME|portfolio`: why the margin moved since the period before, part by part."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.common import UserError, noting, period, period_args, print_notices

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    p = sub.add_parser(
        "why",
        help="why the margin moved since the period before: a bridge in dollars and points that adds up exactly",
        description="Bridge the gross margin of a customer, a product (`why product NAME`) or the portfolio "
        "(`why portfolio`) from the previous comparable period (the month, quarter or as many days before) to "
        "this one: revenue parts (metered volume, seats, billed lines, contract changes) and COGS parts (volume, "
        "mix, price, caching, tokens per request, non-token), each in dollars and margin points, adding up to "
        "the change to the cent. docs/why.md states the method.",
    )
    p.add_argument("subject", nargs="+", metavar="CUSTOMER|product NAME|portfolio")
    period_args(p)
    p.set_defaults(handler=cmd_why)


def cmd_why(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.answer_types import AnswerError
    from bot.blocks.why import why_message
    from bot.handlers.why import read_subject
    from bot.render.terminal import render
    from engine.reports.bridge import bridge_to_dict, margin_bridge
    from engine.reports.serialize import dumps

    words = list(args.subject)
    try:
        kind, name, period_word = read_subject(words)
    except AnswerError as exc:
        raise UserError(str(exc).replace("`/margin why", "`marginbot why")) from None
    if period_word is not None:
        raise UserError(f"give the period as --period {period_word} (or --days N)")
    chosen = period(args, rt)
    with rt.connect() as conn:
        # What every report carries (prices changed since the last reprice, an empty database beside the demo's):
        # the bridge's own notes say what its price part did, not that COGS itself is stale.
        notes = rt.notices(conn)
        with noting(notes):
            bridge = margin_bridge(conn, kind, name, chosen, prices=rt.prices, timezone=rt.settings.timezone)
    print(dumps(bridge_to_dict(bridge)) if args.json else render(why_message(bridge).blocks))
    print_notices(args, notes)
    return 0
