"""What every command module shares: the user-error types, the shared options, the period and the as-of moment.

Kept light on purpose (argparse only at import): every `marginbot` call imports every command module to build the
parser, so heavy modules are imported inside the commands that use them.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from engine.periods import DEFAULT_DAYS, Period, PeriodError, parse_period, trailing

if TYPE_CHECKING:
    from engine.runtime import Runtime


class UserError(Exception):
    """Something the command found wrong while running (an unknown customer, a refused file): one line, exit 1."""


class UsageError(UserError):
    """The command line itself is wrong (a flag's value, a missing argument): one line, exit 2."""


class Parser(argparse.ArgumentParser):
    """An argument parser whose words may stand on either side of an option: `whatif acme --days 7 cache 20`, or
    `import usage a.csv --json b.csv`. argparse gives a command's list of words (a positional of nargs * or +) only
    those before its first option, and called the rest "unrecognized arguments". Every parser of the command line
    is one (add_subparsers makes its parsers of the parent's class)."""

    def parse_known_args(  # type: ignore[override]  # typeshed's overloads; argparse calls it as this
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        words = next((a for a in self._actions if not a.option_strings and a.nargs in ("*", "+")), None)
        more = [extra for extra in extras if extra != "--"]  # `--`: what follows is words, as argparse reads it
        # An option it does not know (`--jsn`) is still refused, with the words around it; a negative amount is a
        # word (`-5`, as argparse takes one before the options, and `-1/request`, `-$5`, `-20%`), for the command to
        # refuse or read in its own words.
        if words is not None and extras and all(not w.startswith("-") or _NEGATIVE.match(w) for w in more):
            setattr(parsed, words.dest, [*(getattr(parsed, words.dest, None) or []), *more])
            extras = []
        return parsed, extras


_NEGATIVE = re.compile(r"^-(\d|\.\d|\$)")  # a minus and then a figure: no option of ours starts so


def command(sub: Any, name: str, **options: Any) -> argparse.ArgumentParser:
    """A subcommand parser that also takes -v/--verbose and -q/--quiet after its name."""
    p: argparse.ArgumentParser = sub.add_parser(name, **options)
    shared_options(p)
    return p


def shared_options(p: argparse.ArgumentParser) -> None:
    # SUPPRESS: a subcommand that is not given the flag must not reset what `marginbot -v CMD` set before it.
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP)
    p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=QUIET_HELP)


VERBOSE_HELP = "log debug details, and show the traceback of an error"
QUIET_HELP = "no progress bars"
# What a TCP port can be (0: any free port, as tests and one-off runs ask for).
MAX_PORT = 65535


def positive_int(value: str) -> int:
    """argparse type for a count: a whole number of at least 1 (argparse says which flag, and exits 2)."""
    if not value.strip().isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return int(value)


def bounded_int(most: int) -> Callable[[str], int]:
    """argparse type for a count from 1 to `most`."""

    def count(value: str) -> int:
        number = positive_int(value)
        if number > most:
            raise argparse.ArgumentTypeError(f"must be at most {most:,}, got {value!r}")
        return number

    return count


def port_number(value: str) -> int:
    """argparse type for a TCP port, 0 to 65535: checked here, or the socket library raises OverflowError."""
    if not value.strip().isdigit() or int(value) > MAX_PORT:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to {MAX_PORT}, got {value!r}")
    return int(value)


def period_args(p: argparse.ArgumentParser, *, default_days: int = DEFAULT_DAYS, what: str = "") -> None:
    """--period, --days, --as-of and --json; `what` says what the period is for when it is not the report's."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--period", metavar="YYYY-MM|YYYY-Qn|YYYY-Www", help=f"{what}a calendar month or quarter, or an ISO week"
    )
    group.add_argument("--days", type=int, metavar="N", help=f"{what}the last N complete days (default {default_days})")
    p.add_argument(
        "--as-of",
        metavar="TIMESTAMP",
        help="pretend it is this moment (default: now; a date or time with no offset is in MARGINBOT_TIMEZONE)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")


def period(args: argparse.Namespace, rt: Runtime, *, default_days: int = DEFAULT_DAYS) -> Period:
    """The period the options ask for: --period, --days, or the trailing `default_days`, as of --as-of. A month or
    quarter still running is cut at the last complete day; one that has not begun is refused (exit 2)."""
    now = as_of(args, rt)
    try:
        if args.period:
            return parse_period(args.period, today=rt.today(now))
        if args.days is not None:
            return trailing(args.days, today=rt.today(now))
    except PeriodError as exc:
        raise UsageError(str(exc)) from None
    return trailing(default_days, today=rt.today(now))


def as_of(args: argparse.Namespace, rt: Runtime) -> datetime:
    """--as-of as an aware moment, or the runtime's now. A date or a time without an offset is read in
    MARGINBOT_TIMEZONE, as a person there means it: `--as-of 2026-11-16` in Los Angeles is that day's midnight there,
    not 16:00 on the 15th (which UTC midnight is, and which would cut every period a day short)."""
    if getattr(args, "as_of", None):
        from engine.timeutil import parse_timestamp

        try:
            moment = parse_timestamp(args.as_of)
        except ValueError as exc:
            raise UsageError(f"--as-of: {exc}") from None
        try:
            typed = datetime.fromisoformat(args.as_of.strip())
        except ValueError:
            return moment  # Unix time: a moment already
        return moment if typed.tzinfo else typed.replace(tzinfo=rt.settings.tz).astimezone(UTC)
    return rt.now()


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars only for a person watching: not with --quiet, and not when output goes to a file or a pipe."""
    return not getattr(args, "quiet", False) and sys.stderr.isatty() and sys.stdout.isatty()


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
