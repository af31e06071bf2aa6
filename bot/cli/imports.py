"""`marginbot import usage|contracts|otlp` and `marginbot reprice`: data in, and stored costs brought up to date."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UserError

if TYPE_CHECKING:
    from engine.runtime import Runtime


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="import usage events, contracts or OTLP traces")
    imp_sub = imp.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = imp_sub.add_parser("usage", help="import usage events (CSV with a header, or JSONL)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-invalid", action="store_true", help="import the good rows, write rejects beside the file")
    p.set_defaults(handler=cmd_import_usage)
    p = imp_sub.add_parser("contracts", help="import contracts (CSV); re-importing replaces a contract")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(handler=cmd_import_contracts)
    p = imp_sub.add_parser("otlp", help="import OTLP/JSON trace exports (spans with gen_ai.* attributes)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_import_otlp)

    p = sub.add_parser("reprice", help="re-price stored events after the price file changed")
    p.add_argument("--since", metavar="DATE", help="only events from this date on (default: all)")
    p.set_defaults(handler=cmd_reprice)


def cmd_import_usage(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.ingest.files import ImportRefused, import_usage_file

    status = 0
    for path in args.files:
        if not Path(path).is_file():
            print(f"{path}: no such file", file=sys.stderr)
            status = 1
            continue
        try:
            result = import_usage_file(
                rt.engine,
                path,
                prices=rt.prices,
                timezone=rt.settings.timezone,
                skip_invalid=args.skip_invalid,
            )
        except ImportRefused as exc:
            print(str(exc), file=sys.stderr)
            status = 1
            continue
        print(result.summary())
    return status


def cmd_import_contracts(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.ingest.contracts import ContractFileError, import_contracts_file

    if not Path(args.file).is_file():
        raise UserError(f"{args.file}: no such file")
    try:
        result = import_contracts_file(rt.engine, args.file)
    except ContractFileError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(result.summary())
    return 0


def cmd_import_otlp(args: argparse.Namespace, rt: Runtime) -> int:
    from bot.cli.sync import print_results
    from engine.ingest.mapping import MappingError
    from engine.ingest.sources.otlp import import_otlp_files

    try:
        results = import_otlp_files(rt, args.files)
    except MappingError as exc:
        print(f"marginbot: {exc}", file=sys.stderr)
        return 1
    return print_results(results, args.json)


def cmd_reprice(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.ingest.reprice import reprice

    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UserError(f"--since must be a date like 2026-10-01, got {args.since!r}") from None
    result = reprice(rt.engine, prices=rt.prices, timezone=rt.settings.timezone, since=since)
    print(result.summary())
    return 0
