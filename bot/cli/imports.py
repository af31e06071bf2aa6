"""`marginbot import usage|contracts|otlp` and `marginbot reprice`: data in, and stored costs brought up to date."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.cli.common import UsageError, UserError, command, show_progress
from engine.ingest.headers import delimiter_arg

if TYPE_CHECKING:
    from engine.ingest.files import ImportResult
    from engine.runtime import Runtime


def _delimiter(value: str) -> str:
    try:
        return delimiter_arg(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _delimiter_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--delimiter",
        type=_delimiter,
        default=",",
        metavar="CHAR",
        help="the CSV field separator: ';' for a European-locale spreadsheet export, tab, '|' (default ',')",
    )


def register(sub: Any) -> None:
    imp = sub.add_parser("import", help="import usage events, contracts or OTLP traces")
    imp_sub = imp.add_subparsers(dest="what", required=True, metavar="WHAT")
    p = command(imp_sub, "usage", help="import usage events (CSV with a header, or JSONL)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--skip-invalid", action="store_true", help="import the good rows, write rejects beside the file")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and price without writing: what would be added, customers without contracts, unpriced models",
    )
    _delimiter_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text (one object per file)")
    p.set_defaults(handler=cmd_import_usage)
    p = command(imp_sub, "contracts", help="import contracts (CSV); re-importing replaces a contract")
    p.add_argument("file", metavar="FILE")
    p.add_argument(
        "--supersede",
        action="store_true",
        help="end each contract an imported one overlaps the day before the later one starts (default: refuse)",
    )
    _delimiter_option(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_import_contracts)
    p = command(imp_sub, "otlp", help="import OTLP/JSON trace exports (spans with gen_ai.* attributes)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=cmd_import_otlp)

    p = command(sub, "reprice", help="re-price stored events after the price file changed")
    p.add_argument(
        "--since",
        metavar="DATE",
        help="only events from this date on (from its midnight here or in UTC, whichever is earlier; default: all)",
    )
    p.set_defaults(handler=cmd_reprice)


def cmd_import_usage(args: argparse.Namespace, rt: Runtime) -> int:
    """Each file in turn, each in its own transaction: one refused (or failing) file does not stop the next. The
    exit status is 1 when any file was refused or failed."""
    from bot.cli.errors import explain
    from bot.render.progress import progress_bar
    from engine.ingest.files import ImportRefused, ImportResult, import_usage_file

    failed: list[str] = []
    results: list[dict[str, Any]] = []

    def refused(path: str, problem: str) -> None:
        # The same keys as every other file's entry in --json, so a reader can treat the list alike.
        failed.append(path)
        results.append(ImportResult(path=path, refused=True, problem=problem, dry_run=args.dry_run).as_dict())

    for path in args.files:
        if not Path(path).is_file():
            problem = not_a_file(Path(path))
            print(f"marginbot: {path}: {problem}", file=sys.stderr)
            refused(path, problem)
            continue
        try:
            with progress_bar(f"import {Path(path).name}", enabled=show_progress(args)) as progress:
                result = import_usage_file(
                    rt.engine,
                    path,
                    prices=rt.prices,
                    timezone=rt.settings.timezone,
                    skip_invalid=args.skip_invalid,
                    delimiter=args.delimiter,
                    dry_run=args.dry_run,
                    progress=progress,
                )
        except ImportRefused as exc:
            if not args.json:
                print(str(exc), file=sys.stderr)
            failed.append(path)
            results.append(exc.result.as_dict())
            continue
        except Exception as exc:  # the database refused this file's write: say so in one line, go on to the next
            explained = explain(exc, rt.settings.database_url)
            if explained is None:
                raise
            print(f"{explained[0]} ({path}: nothing imported)", file=sys.stderr)
            refused(path, explained[0].removeprefix("marginbot: "))
            continue
        results.append(result.as_dict())
        if not args.json:
            print(preview(result) if args.dry_run else result.summary())
    if args.json:
        print(json.dumps(results, indent=2))
    elif len(args.files) > 1 and failed:
        print(
            f"marginbot: {len(failed)} of {len(args.files)} files not imported: {', '.join(failed)}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def preview(result: ImportResult) -> str:
    """What `import usage --dry-run` would add, and what to fix before importing for real: every warning the real
    import's summary gives (ImportResult.summary), so a dry run is not quieter than the import it stands for."""
    from engine.money import usd_text

    lines = [
        f"{result.path}: would import {result.imported} event(s) ({result.duplicates} already known, "
        f"{result.rejected} rejected) of {result.rows_read} rows; COGS {usd_text(result.cost_usd)}. "
        "Nothing was written."
    ]
    if result.rejected:  # only with --skip-invalid: without it the file is refused
        lines.append(f"  rejected rows would be written to {result.path}.rejects.csv")
    lines += [f"  {line}" for line in result.customer_lines()]
    if result.unpriced_events:
        lines.append(
            f"  {result.unpriced_events} event(s) would have no price ({', '.join(result.unpriced_named)}): add "
            "them to the price file first"
        )
    if result.tier_warning:
        lines.append(f"  WARNING: {result.tier_warning}")
    if result.kept_as_stored:
        lines.append(f"  WARNING: {result.kept_note()}")
    return "\n".join(lines)


def not_a_file(path: Path) -> str:
    """Why `path`, which is not a regular file, cannot be imported. An import reads a file twice or more (its
    header, then its rows; the fast path maps it), so a pipe (`<(cat …)`, a FIFO) cannot do: it is not "no such
    file" either, which sent people looking for a typo."""
    if path.is_dir():
        return "is a directory, not a file"
    if path.exists():
        return "is not a regular file (a pipe or a device): save it to a file, then import that"
    return "no such file"


def cmd_import_contracts(args: argparse.Namespace, rt: Runtime) -> int:
    from engine.ingest.contracts import ContractFileError, import_contracts_file

    if not Path(args.file).is_file():
        problem = not_a_file(Path(args.file))
        if args.json:  # as a refused file's JSON is, and `import usage --json` says it
            print(json.dumps({"path": args.file, "refused": True, "problem": problem, "errors": []}, indent=2))
        raise UserError(f"{args.file}: {problem}")
    try:
        result = import_contracts_file(
            rt.engine, args.file, delimiter=args.delimiter, supersede=args.supersede, thresholds=rt.thresholds
        )
    except ContractFileError as exc:
        if args.json:
            errors = [{"line": n, "reason": why} for n, why in exc.errors]
            # A one-line `problem` beside the errors, as a missing file's JSON has (and `import usage --json`'s).
            refused = {"path": args.file, "refused": True, "problem": exc.problem, "errors": errors}
            print(json.dumps(refused, indent=2))
        else:
            print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict(), indent=2) if args.json else result.summary())
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
    from bot.render.progress import progress_bar
    from engine.ingest.reprice import reprice

    since = None
    if args.since:
        try:
            since = date.fromisoformat(args.since)
        except ValueError:
            raise UsageError(f"--since must be a date like 2026-10-01, got {args.since!r}") from None
    with progress_bar("reprice", unit="events", enabled=show_progress(args)) as progress:
        result = reprice(rt.engine, prices=rt.prices, timezone=rt.settings.timezone, since=since, progress=progress)
    print(result.summary())
    return 0
