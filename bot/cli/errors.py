"""Every mistake as one line naming the setting or input and the fix, with the exit status it deserves.

2: the command line or the configuration is wrong (fix the invocation or a setting, then run it again).
1: the work failed (a database that cannot be reached or written, a refused file, an unknown customer).
Passwords never appear: database URLs are shown with `***` for the password, and the password (or any piece of it,
for one with an unescaped `@`) is scrubbed from the reasons drivers give.
"""

from __future__ import annotations

import errno
import re
import sys
import traceback

USAGE, FAILED = 2, 1
PREFIX = "marginbot: "

# Known driver reasons (regular expressions, searched in the lower-cased reason) → what to do about them. PostgreSQL
# says `role "bob" does not exist` for a missing user and `database "x" does not exist` for a missing database: each
# has its own fix, so "does not exist" alone is not a needle.
_DB_HINTS = (
    ("readonly database", "the file is read-only: give this user write access to it and its folder (SQLite writes "
     "-wal and -shm files beside it)"),
    ("disk is full", "the disk is full: nothing from this command was saved; free some space and run it again"),
    ("unable to open database file", "does its folder exist, and may this user write there?"),
    ("connection refused", "is PostgreSQL running there, and listening on that port?"),
    ("password authentication failed", "check the user and password in DATABASE_URL"),
    (r'role "[^"]*" does not exist', "create that user in PostgreSQL (createuser, or CREATE ROLE ... LOGIN "
     "PASSWORD ...) or fix the user name in DATABASE_URL"),
    (r'database "[^"]*" does not exist', "create it (createdb) or fix the name in DATABASE_URL"),
    ("could not translate host name", "check the host name in DATABASE_URL"),
    ("timeout expired", "the server did not answer: check the host, the port and any firewall between"),
    ("database is locked", "another process holds a write lock on it (an import?): wait for it and run this again"),
)  # fmt: skip

# Messages the scenario commands (bot/cli/scenarios.py) pass on as failures (exit 1) that are about what was typed:
# a flag's value out of range. They are command-line mistakes, so they exit 2 as docs/commands.md says; matched on
# the engine's own wording, as that is all the error carries.
_TYPED_VALUE_MISTAKES = (
    "the target margin must be at least 0% and below 100%",
    "the unit must be one of ",
    "months must be between ",
)


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***`. The user part ends at the *last* `@` before the host, so a
    password holding an unescaped `@` is hidden whole (SQLAlchemy's parser would split it and show the tail)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    at = rest.rfind("@")
    if at < 0:
        return url
    user, colon, _password = rest[:at].partition(":")
    return f"{scheme}://{user}{':***' if colon else ''}@{rest[at + 1 :]}"


def _password(url: str) -> str:
    """The password in a database URL, however mistyped: `scheme://user:pw@host`, one slash (`scheme:/user:pw@h`),
    three (`sqlite:///user:pw@h`) or no scheme at all (`user:pw@host/db`); '' when it has none. The user part ends at
    the last `@`."""
    rest = url.partition("://")[2].lstrip("/") if "://" in url else re.sub(r"^[A-Za-z][A-Za-z0-9+.\-]*:/", "", url)
    at = rest.rfind("@")
    return rest[:at].partition(":")[2] if at > 0 else ""


def scrub(text: str, url: str | None) -> str:
    """`text` with the URL's password, and each piece of it around an `@`, replaced by `***` (and every other
    credential engine.scrub knows of, or recognises by its shape)."""
    from engine.scrub import scrub as scrub_secrets

    password = _password(url) if url else ""
    for secret in sorted({password, *password.split("@")}, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return scrub_secrets(text)


def refused_database_url(exc: BaseException) -> str | None:
    """The DATABASE_URL settings refused, as typed (its password is to be kept out of what is printed)."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    return next(
        (
            e["input"]
            for e in exc.errors()
            if any(str(part).lower().endswith("database_url") for part in e.get("loc", ()))
            and isinstance(e.get("input"), str)
        ),
        None,
    )


def scrubbed_traceback(exc: BaseException, url: str | None) -> str:
    """`exc`'s traceback as Python prints it, scrubbed (`scrub`): what `--verbose` and an unexpected error show (a
    settings error quotes the value it refused: `url` is then that DATABASE_URL, `refused_database_url`)."""
    return scrub("".join(traceback.format_exception(exc)), url)


def explain(exc: BaseException, database_url: str | None) -> tuple[str, int] | None:
    """(one line, exit status) for an error a user can act on; None for a bug (which keeps its traceback)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

    from bot.cli.common import UsageError, UserError
    from bot.jobs.scheduler import ConfigError as ScheduleError
    from bot.slack.app import SlackConfigError
    from engine.ingest.mapping import MappingError
    from engine.ingest.reprice import RepriceRefused
    from engine.periods import PeriodError
    from engine.pricing.book import PriceFileError
    from engine.pricing.catalogue import CatalogueError
    from engine.reports.names import UnknownSubject
    from engine.store.meta import StaleRollups
    from engine.store.sql import SUMS_TOO_LARGE_TO_ANSWER, answer_sum_too_large

    if isinstance(exc, ValidationError):
        return settings_errors(exc), USAGE
    if isinstance(
        exc,
        UsageError | PeriodError | PriceFileError | CatalogueError | SlackConfigError | ScheduleError | MappingError,
    ):
        return PREFIX + str(exc), USAGE
    if isinstance(exc, UserError) and _typed_value_mistake(exc):
        return PREFIX + str(exc), USAGE
    if isinstance(exc, UserError | UnknownSubject | StaleRollups | RepriceRefused):
        return PREFIX + str(exc), FAILED
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return PREFIX + f"DATABASE_URL is not a database URL marginbot can use ({scrub(str(exc), database_url)})", USAGE
    if isinstance(exc, DBAPIError) or _driver_error(exc):
        if answer_sum_too_large(exc):  # the database is fine: what is stored in it adds up past what it holds
            return PREFIX + SUMS_TOO_LARGE_TO_ANSWER, FAILED
        return PREFIX + database_error(exc, database_url), FAILED
    if type(exc).__name__ in ("SlackUnreachable", "ServeFailed"):
        return PREFIX + str(exc), FAILED
    if isinstance(exc, OSError):
        return _file_error(exc)
    return None


def _file_error(exc: OSError) -> tuple[str, int] | None:
    """A file that could not be read or written: which, and why, whatever the reason (a directory where a file was
    named, a file where a directory was, a full disk, no permission). An OSError naming no file (a network error) is
    not one of these: None."""
    if exc.errno == errno.ENOSPC:
        return PREFIX + f"the disk is full ({exc.filename or 'writing'}): free some space and run it again", FAILED
    if exc.errno in (errno.EACCES, errno.EPERM, errno.ENOENT, errno.EROFS) and exc.filename is None:
        return PREFIX + f"a file: {exc.strerror}", FAILED
    if exc.filename is None or not exc.strerror:
        return None
    # A rename (a file written beside its target, then moved over it) blames the target: a directory in its place.
    name = exc.filename2 if exc.filename2 is not None and exc.errno in (errno.EISDIR, errno.ENOTEMPTY) else exc.filename
    if exc.errno == errno.EISDIR:
        return PREFIX + f"{name} is a directory: name a file", FAILED
    return PREFIX + f"{name}: {exc.strerror}", FAILED


def _typed_value_mistake(exc: BaseException) -> bool:
    if not str(exc).startswith(_TYPED_VALUE_MISTAKES):
        return False
    # `raise UserError(str(err)) from None` hides the engine's error from the traceback, not from __context__.
    from engine.scenarios.floor import FloorError
    from engine.scenarios.growth import ForecastError

    return isinstance(exc.__context__, FloorError | ForecastError)


def _driver_error(exc: BaseException) -> bool:
    """An error straight from the database driver (the import writer uses the raw cursor, not SQLAlchemy)."""
    import sqlite3

    psycopg = sys.modules.get("psycopg")  # only loaded (and only possible) when the database is PostgreSQL
    return isinstance(exc, sqlite3.Error) or (psycopg is not None and isinstance(exc, psycopg.Error))


def database_error(exc: BaseException, url: str | None) -> str:
    """Which database (password hidden), why it cannot be used, and what to do about it."""
    orig = getattr(exc, "orig", None) or exc
    lines = [line.strip() for line in str(orig).strip().splitlines() if line.strip()]
    # psycopg puts the useful part last ("connection to server at ... failed: Connection refused").
    reason = lines[0] if lines else type(orig).__name__
    reason = re.sub(r"\s*\(Background on this error at: [^)]*\)", "", reason)
    hint = next((fix for needle, fix in _DB_HINTS if re.search(needle, str(orig).lower())), "")
    where = redact_url(url) if url else "(DATABASE_URL)"
    return scrub(f"cannot use the database {where}: {reason}" + (f"; {hint}" if hint else ""), url)


def settings_errors(exc: object) -> str:
    """One line per bad setting, named as it is set in the environment, without echoing secrets."""
    from config.settings import Settings

    lines = []
    for error in exc.errors():  # type: ignore[attr-defined]
        loc = ".".join(str(part) for part in error.get("loc", ())) or "settings"
        name, secret = _setting(Settings, loc)
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        value = error.get("input")
        shown = (
            f" (got {value!r})" if not secret and isinstance(value, str | int | float) and len(str(value)) < 80 else ""
        )
        lines.append(f"{PREFIX}{name}: {message}{shown}")
    # A DATABASE_URL is not a secret setting, but its password is: shown values go through the one scrubber.
    from engine.scrub import scrub as scrub_secrets

    return scrub_secrets("\n".join(lines))


def _setting(settings: type, loc: str) -> tuple[str, bool]:
    """The environment name of a settings field (errors name it by field when set in code) and whether it is a
    secret (its value is never shown)."""
    fields = settings.model_fields  # type: ignore[attr-defined]
    for field_name, info in fields.items():
        alias = getattr(info.validation_alias, "choices", None) or []
        names = {field_name, *(str(a) for a in alias)}
        if loc in names or loc.lower() in {n.lower() for n in names}:
            env = str(alias[0]) if alias else field_name.upper()
            secret = "Secret" in str(info.annotation) or field_name == "database_url"
            return env, secret
    return loc, True
