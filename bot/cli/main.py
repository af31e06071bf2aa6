"""`marginbot`: the command line. Each command group is a module in this package with `register(subparsers)`.

Start-up time matters (people run `marginbot margin acme` by hand, cron runs it): building the parser imports only
argparse and light modules; a command imports what it needs when it runs. Every mistake ends in one line on stderr
naming the setting or input and the fix (bot/cli/errors.py): exit status 2 when the command line or the
configuration is wrong, 1 when the work failed. `--verbose` adds the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.cli import demo, imports, jobs, prices, report, reports, scenarios, slack, sync, why
from bot.cli.common import QUIET_HELP, VERBOSE_HELP, Parser

if TYPE_CHECKING:
    from config.settings import Settings
    from engine.runtime import Runtime

Handler = Callable[[argparse.Namespace, "Runtime"], int]


class _Version(argparse.Action):
    """`--version`, read from the installed package's metadata only when asked (it costs a directory scan)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("marginbot")
        except PackageNotFoundError:
            shown = "unknown (not installed: run `make install`)"
        print(f"marginbot {shown}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="marginbot",
        description="Gross margin per AI customer and product: priced usage joined to contract revenue.",
    )
    parser.add_argument("--version", action=_Version)
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    parser.add_argument("-q", "--quiet", action="store_true", help=QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (imports, reports, why, report, demo, slack, sync, prices, scenarios, jobs):
        module.register(sub)
    return parser


def console(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `marginbot` console script (and of `python -m bot` and `python -m bot.cli.main`): `main()`
    in a process of its own, which ends when it returns."""
    gc.disable()  # until start-up is over: see _started
    try:
        return main(argv, collector_paused=True)
    except Exception as exc:  # a bug (main explains every error a user can act on): its traceback, scrubbed
        from bot.cli.errors import scrubbed_traceback

        sys.stderr.write(scrubbed_traceback(exc, None))
        return 1
    finally:
        gc.enable()  # (already on, unless start-up did not finish)


# The options whose value may be negative: only these take a following `-5%` as theirs (a flag such as --json, or
# `--`, is followed by an argument of its own).
_SIGNED_OPTIONS = frozenset({"--growth"})


def _signed(arg: str) -> bool:
    """`arg` is one of _SIGNED_OPTIONS, or a prefix of one that argparse would take for it (`--grow`)."""
    return len(arg) > 3 and any(option.startswith(arg) for option in _SIGNED_OPTIONS)


def _negative_values(argv: Sequence[str]) -> list[str]:
    """`--growth -5%` as `--growth=-5%`: argparse takes a value starting with '-' for an option unless it is a plain
    number, and said "expected one argument" of `--growth -5%` (and of `-0.5%`), where the option has its value."""
    out: list[str] = []
    for arg in argv:
        if out and _signed(out[-1]) and re.match(r"-\.?\d", arg):
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


def main(
    argv: Sequence[str] | None = None,
    *,
    settings: Settings | None = None,
    runtime: Runtime | None = None,
    collector_paused: bool = False,
) -> int:
    """Run `marginbot ARGV` and return the exit status; the tests call it in-process, with their own runtime.
    `collector_paused`: `console()` turned the garbage collector off for start-up (see _started)."""
    argv = _negative_values(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)  # a malformed command line exits 2 here, with argparse's usage line
    logs.configure(logging.DEBUG if args.verbose else logging.INFO)
    made: list[Runtime] = [runtime] if runtime is not None else []
    try:
        return _run(args, settings, made, collector_paused)
    except BrokenPipeError:
        # `marginbot portfolio | head`: the reader left. Exit quietly, as `cat` does, and keep Python from printing
        # another BrokenPipeError while flushing stdout at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what a shell reports for a command the pipe closed
    except KeyboardInterrupt:
        print("marginbot: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from bot.cli.errors import explain, refused_database_url, scrub, scrubbed_traceback

        # A command that works on a database of its own (the demo's) says so, or the error would name DATABASE_URL's.
        url = (
            getattr(args, "database_in_use", None)
            or (made[0].settings.database_url if made else settings.database_url if settings else None)
            or refused_database_url(exc)
        )
        explained = explain(exc, url)
        if explained is None:
            raise
        message, status = explained
        message = scrub(message, url)  # a settings error's fix may quote the URL it refused
        if args.verbose:  # scrubbed as every log line is: a DATABASE_URL settings refused is quoted in it whole
            sys.stderr.write(scrubbed_traceback(exc, url))
        print(message, file=sys.stderr)
        return status


def _run(args: argparse.Namespace, settings: Settings | None, made: list[Runtime], collector_paused: bool) -> int:
    """Build the runtime (unless given: it goes in `made`, so an error can name its database) and run."""
    from config.settings import Settings
    from engine.runtime import Runtime

    if not made:
        made.append(Runtime(settings or Settings()))
    if collector_paused:
        _started()
    handler: Handler = args.handler
    return handler(args, made[0])


def _started() -> None:
    """Start-up is over: set what it made aside for good, and let the garbage collector `console()` paused run as
    usual on what the command allocates (`serve` runs for days, an import for minutes).

    Start-up (argparse, pydantic, SQLAlchemy, the settings) makes some 50,000 objects that live as long as the
    process, and the collector walked them over and over while they were made, then once more at exit, for nothing:
    a fifth of `marginbot margin X --json`. Frozen (`gc.freeze`), they are never walked again, at exit either. Only
    for a process that ends with the command, hence only from `console()`: frozen objects are never freed.
    """
    gc.freeze()
    gc.enable()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
