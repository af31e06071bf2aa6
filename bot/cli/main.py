"""`marginbot`: the command line. Each command group is a module in this package with `register(subparsers)`."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from bot.cli import demo, imports, jobs, reports, scenarios, slack, sync
from bot.cli.common import UserError

if TYPE_CHECKING:
    from config.settings import Settings
    from engine.runtime import Runtime

Handler = Callable[[argparse.Namespace, "Runtime"], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="marginbot",
        description="Gross margin per AI customer and product: priced usage joined to contract revenue.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (imports, reports, demo, slack, sync, scenarios, jobs):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, settings: Settings | None = None, runtime: Runtime | None = None) -> int:
    """Entry point of the `marginbot` console script. Returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic announces every schema check at INFO; only its warnings matter to a user.
    logging.getLogger("alembic").setLevel(logging.DEBUG if args.verbose else logging.WARNING)

    from pydantic import ValidationError
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import OperationalError

    from config.settings import Settings
    from engine.periods import PeriodError
    from engine.pricing.book import PriceFileError
    from engine.reports.names import UnknownSubject
    from engine.runtime import Runtime
    from engine.store.meta import StaleRollups

    try:
        rt = runtime or Runtime(settings or Settings())
        handler: Handler = args.handler
        return handler(args, rt)
    except ValidationError as exc:
        print(f"marginbot: configuration error:\n{exc}", file=sys.stderr)
        return 2
    except (PeriodError, PriceFileError) as exc:  # the command line or a setting is wrong
        print(f"marginbot: {exc}", file=sys.stderr)
        return 2
    except (UserError, UnknownSubject, StaleRollups) as exc:
        print(f"marginbot: {exc}", file=sys.stderr)
        return 1
    except OperationalError as exc:
        # Unreachable server, wrong credentials, unwritable file: say which database (password hidden) and why.
        url = make_url((runtime.settings if runtime else settings or Settings()).database_url)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        print(
            f"marginbot: cannot use the database {url.render_as_string(hide_password=True)}: {reason}", file=sys.stderr
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
