"""`marginbot alerts check` and `marginbot digest send`: what the scheduler does, by hand (or from cron)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, UserError, as_of, command

if TYPE_CHECKING:
    from engine.runtime import Runtime


def _deliver(rt: Runtime) -> int:
    """Send what the outbox holds, if there is a token; 1 when something could not be delivered."""
    from engine.store.outbox import pending_count

    if rt.settings.slack_bot_token is None:
        with rt.connect() as conn:
            waiting = pending_count(conn)
        if waiting:
            print(
                f"SLACK_BOT_TOKEN is not set: {waiting} message(s) wait in the outbox; they go out with the "
                "next run that has a token (or `marginbot serve`)."
            )
        return 0
    from bot.jobs.delivery import deliver
    from bot.slack.client import make_client

    report = deliver(rt, make_client(rt.settings))
    if report.sent or report.deferred or report.failed:
        print(f"delivery: {report.summary()}")
    for _id, channel, why in report.failed:
        print(f"  could not post to {channel}: {why}", file=sys.stderr)
    for _id, channel, why in report.deferred:
        print(f"  {channel}: {why}; will retry", file=sys.stderr)
    return 1 if report.failed else 0


def cmd_alerts_check(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.blocks.alerts import alert_plain, pack_alerts
    from engine.alerts.evaluate import check_alerts
    from engine.alerts.state import ConcurrentAlertRun

    try:
        result = check_alerts(rt, as_of=as_of(args, rt), dry_run=args.dry_run, pack=pack_alerts)
    except ConcurrentAlertRun as exc:
        raise UserError(f"another alerts check ran at the same moment and posts instead: {exc}") from None
    print(result.summary())
    if args.dry_run:
        if result.messages:
            channels = ", ".join(rt.settings.alert_channels)
            where = f"to {channels}" if channels else "to each alert channel, once MARGINBOT_ALERT_CHANNELS is set,"
            print(f"\nwould post {where} (messages as Slack gets them, buttons left out):")
            for m in result.messages:
                if m.payload.get("type") != "alerts":
                    continue
                place = f"in the thread of {m.reply_to}" if m.reply_to else "at the top level"
                print(f"\n[{m.channel or 'alert channel'}, {place}]")
                print(alert_plain(m.payload))
        return 0
    return _deliver(rt)


def cmd_digest_send(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.blocks.digest import digest_plain
    from engine.alerts.digest import queue_digest

    if args.chart and Path(args.chart).is_dir():
        raise UsageError(
            f"--chart {args.chart} is a directory: name the PNG file, e.g. {Path(args.chart) / 'digest.png'}"
        )
    if args.chart:
        # Written before the digest is queued: queueing commits it as sent for the week, so a chart path that cannot
        # be written must fail first, with nothing queued, or the rerun after fixing the path would say "already
        # sent" and the digest would wait undelivered.
        from bot.render.charts import digest_chart_png
        from engine.alerts.digest import chart_to_dict, weekly_digest

        with rt.connect() as conn:
            d = weekly_digest(conn, today=rt.today(as_of(args, rt)), thresholds=rt.thresholds)
        chart = Path(args.chart)
        if not chart.parent.exists():  # as the board pack's --out makes its folders (a file in the way: said below)
            chart.parent.mkdir(parents=True)
        chart.write_bytes(digest_chart_png(chart_to_dict(d, rt.thresholds)))
    result = queue_digest(rt, as_of=as_of(args, rt), dry_run=args.dry_run)
    print(result.summary())
    if args.dry_run and result.payload is not None:
        print()
        print(digest_plain(result.payload))
    if args.chart:
        print(f"chart written to {args.chart}")
    if args.dry_run:
        return 0
    return _deliver(rt)


def register(sub: Any) -> None:
    p = sub.add_parser("alerts", help="margin-breach alerts")
    alerts_sub = p.add_subparsers(dest="what", required=True, metavar="ACTION")
    c = command(
        alerts_sub, "check", help="evaluate every customer and product and post new breaches, reminders and recoveries"
    )
    c.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="evaluate as of this moment (default: now; with no offset, in MARGINBOT_TIMEZONE)",
    )
    c.add_argument("--dry-run", action="store_true", help="print what would be posted; record and send nothing")
    c.set_defaults(handler=cmd_alerts_check)

    p = sub.add_parser("digest", help="the weekly leadership digest")
    digest_sub = p.add_subparsers(dest="what", required=True, metavar="ACTION")
    d = command(digest_sub, "send", help="send last week's digest to MARGINBOT_DIGEST_CHANNELS (once per week)")
    d.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="the digest covers the last full ISO week before this (with no offset, in MARGINBOT_TIMEZONE)",
    )
    d.add_argument("--dry-run", action="store_true", help="print the digest; record and send nothing")
    d.add_argument("--chart", metavar="FILE", help="also write the chart PNG to FILE")
    d.set_defaults(handler=cmd_digest_send)
