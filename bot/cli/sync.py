"""`marginbot sync SOURCE` and `marginbot reconcile`: thin over engine.ingest.sync and engine.ingest.reconcile."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, command, print_notices, show_progress
from engine.ingest.sources import SYNC_SOURCES

if TYPE_CHECKING:
    from engine.ingest.sync import SyncResult
    from engine.runtime import Runtime


def _date(value: str, flag: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{flag} must be a date like 2026-10-01, got {value!r}") from None


def print_results(results: list[SyncResult], as_json: bool) -> int:
    """Each source's summary (stderr when it failed) or JSON; exit status 1 when any failed."""
    if as_json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for r in results:
            print(r.summary(), file=sys.stdout if r.ok else sys.stderr)
    return 0 if all(r.ok for r in results) else 1


def cmd_sync(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.render.progress import progress_bar
    from engine.ingest.mapping import MappingError
    from engine.ingest.sync import CONNECTORS, SyncResult, configured_sources, load_mapping, sync_source

    if args.source == "all":
        if args.since or args.until:
            raise UsageError("--since/--until apply to one source; run `marginbot sync SOURCE --since ...`")
        names = configured_sources(rt)
        if not names:
            # Each connector says what it needs, so a new connector is named here without touching this file.
            needs = "; ".join(f"{name}: {c.missing(rt.settings)}" for name, c in CONNECTORS.items())
            if args.json:  # still a JSON document on stdout for whoever parses it: each source, skipped, and why
                skipped = [SyncResult(source=name, skipped=c.missing(rt.settings)) for name, c in CONNECTORS.items()]
                print(json.dumps([r.as_dict() for r in skipped], indent=2))
            print(f"marginbot: no source is configured ({needs})", file=sys.stderr)
            return 1
    else:
        names = [args.source]
        if args.since and args.until and args.since > args.until:
            # --until is included, so one day is --since D --until D; a reversed range would fetch nothing, silently.
            raise UsageError(f"--since must be before --until, got --since {args.since} --until {args.until}")
    try:
        mapping = load_mapping(rt)
    except MappingError as exc:
        return print_results([SyncResult(source="mapping", error=str(exc))], args.json)
    results = []
    # One source after another, each with its own bar (windows written / windows to fetch); a failing source does
    # not stop the next, as in engine.ingest.sync.sync_all.
    for name in names:
        with progress_bar(f"sync {name}", unit="windows", enabled=show_progress(args)) as progress:
            since, until = (args.since, args.until) if args.source != "all" else (None, None)
            results.append(sync_source(rt, name, since=since, until=until, mapping=mapping, progress=progress))
    return print_results(results, args.json)


def cmd_reconcile(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.render.fmt import money, percent
    from engine.ingest.reconcile import queue_drift_alerts, queue_drift_resolved, reconcile
    from engine.periods import PeriodError, parse_period
    from engine.store.meta import STALE_PRICES

    text = (args.period or rt.today().strftime("%Y-%m")).strip()
    # Providers bill by the month: a quarter (2026-Q3 is seven characters too) or a number of days is refused.
    if not re.fullmatch(r"\d{4}-\d{2}", text):
        raise UsageError(f"--period must be a month, like 2026-10, got {text!r}")
    try:
        period = parse_period(text, today=rt.today())
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    channels = rt.settings.alert_channels
    with rt.engine.begin() as conn:
        notes = rt.notices(conn)
        stale = STALE_PRICES in notes
        rows = reconcile(conn, period, rt.settings.timezone)
        # A provider's drift beyond ±5% is posted to the alert channels, once per provider and month. Not while the
        # stored costs were priced with another price file: the drift may be the change, and the month's one alert,
        # once posted, is never posted again with the repriced figures.
        alerted = queue_drift_alerts(conn, rows, period, channels, rt.now()) if channels and not stale else []
        # A drift alerted before and now within ±5% is said so in its thread (same guard: figures on stale prices).
        resolved = queue_drift_resolved(conn, rows, period, channels, rt.now()) if channels and not stale else []
    held = stale and bool(channels) and any(r.status == "drift" for r in rows)
    if args.json:
        print(
            json.dumps(
                {
                    "period": period.label,
                    "providers": [r.as_dict() for r in rows],
                    "notices": notes,
                    "drift_alerts_held": held,
                },
                indent=2,
            )
        )
        return 0
    if not rows:
        print(
            f"{period.label}: no provider costs stored; run `marginbot sync openai` or `marginbot sync anthropic` first"
        )
        return 0
    print(f"Priced usage vs provider bill, {period.label} (UTC days, as providers bill)")
    print(f"{'provider':<12} {'days':<23} {'priced':>14} {'billed':>14} {'drift':>14} {'drift %':>8}  status")
    for r in rows:
        drift_pct = r.drift_pct
        days = f"{r.start.isoformat()}..{r.end.isoformat()}"
        print(
            f"{r.provider:<12} {days:<23} {money(r.priced_usd):>14} {money(r.billed_usd):>14} "
            f"{money(r.drift_usd):>14} {percent(drift_pct) if drift_pct is not None else '—':>8}  {r.status}"
        )
    for r in rows:
        if r.unpriced_events:
            print(
                f"{r.provider}: {r.unpriced_events:,} event(s) in these days have no price: their cost is in the bill "
                "and not in priced; add the model's prices to the price file (`marginbot prices` names them), then "
                "`marginbot reprice`"
            )
    if any(r.status == "drift" for r in rows):
        print(
            "Drift over 5%: check the price book (discounts, overrides) and that no usage is imported twice "
            "(e.g. the same OpenAI traffic from both the OpenAI sync and LiteLLM)."
        )
    if alerted:
        print(f"Drift alert queued for {', '.join(alerted)} to {len(channels)} alert channel(s).")
    if resolved:
        print(f"Back within ±5%: a note queued in the thread of the drift alert for {', '.join(resolved)}.")
    if held:
        print("Drift alert not queued: the stored costs were priced with another price file; run `marginbot reprice`, "
              "then reconcile again.")  # fmt: skip
    print_notices(args, notes)
    return 0


def register(sub: Any) -> None:
    p = command(sub, "sync", help="pull usage, provider costs and revenue from a source (or all configured)")
    p.add_argument("source", choices=(*SYNC_SOURCES, "all"), metavar="SOURCE", help=f"{' | '.join(SYNC_SOURCES)} | all")
    p.add_argument("--since", type=lambda v: _date(v, "--since"), metavar="DATE", help="backfill from this UTC day")
    p.add_argument("--until", type=lambda v: _date(v, "--until"), metavar="DATE", help="up to this UTC day, included")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_sync)

    p = command(sub, "reconcile", help="priced usage vs what OpenAI/Anthropic billed, per provider and month")
    p.add_argument("--period", metavar="YYYY-MM", help="the month (default: this month)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=cmd_reconcile)
