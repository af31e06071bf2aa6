"""What every command module shares: the user-error type, the period options and the as-of moment.

Kept light on purpose (argparse only at import): every `marginbot` call imports every command module to build the
parser, so heavy modules are imported inside the commands that use them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from engine.periods import DEFAULT_DAYS, Period, parse_period, trailing

if TYPE_CHECKING:
    from engine.runtime import Runtime


class UserError(Exception):
    """A problem the user can fix; printed as one line, exit status 1."""


def period_args(p: argparse.ArgumentParser, *, default_days: int = DEFAULT_DAYS, what: str = "") -> None:
    """--period, --days, --as-of and --json; `what` says what the period is for when it is not the report's."""
    group = p.add_mutually_exclusive_group()
    group.add_argument("--period", metavar="YYYY-MM|YYYY-Qn", help=f"{what}a calendar month or quarter")
    group.add_argument("--days", type=int, metavar="N", help=f"{what}the last N complete days (default {default_days})")
    p.add_argument("--as-of", metavar="TIMESTAMP", help="pretend it is this moment (default: now)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def period(args: argparse.Namespace, rt: Runtime, *, default_days: int = DEFAULT_DAYS) -> Period:
    """The period the options ask for: --period, --days, or the trailing `default_days`, as of --as-of."""
    now = as_of(args, rt)
    if args.period:
        return parse_period(args.period, today=rt.today(now))
    if args.days is not None:
        return trailing(args.days, today=rt.today(now))
    return trailing(default_days, today=rt.today(now))


def as_of(args: argparse.Namespace, rt: Runtime) -> datetime:
    """--as-of as an aware moment, or the runtime's now."""
    if getattr(args, "as_of", None):
        from engine.timeutil import parse_timestamp

        try:
            return parse_timestamp(args.as_of)
        except ValueError as exc:
            raise UserError(f"--as-of: {exc}") from None
    return rt.now()


def print_notices(args: argparse.Namespace, notes: list[str]) -> None:
    """The lines a report carries when its figures may mislead (prices changed since the last reprice, an empty
    database beside the demo's): after the report, or on stderr when stdout is data (`--json`, `--csv`)."""
    to_stderr = getattr(args, "json", False) or getattr(args, "csv", False)
    for note in notes:
        print(f"marginbot: {note}" if to_stderr else f"\nNote: {note}", file=sys.stderr if to_stderr else sys.stdout)


@contextmanager
def noting(notes: list[str]) -> Iterator[None]:
    """An unknown customer or product, with the notes that may explain it (an empty database) on the same line."""
    from engine.reports.names import UnknownSubject

    try:
        yield
    except UnknownSubject as exc:
        if not notes:
            raise
        raise UserError("; ".join([str(exc), *notes])) from None
