"""One scrubber for every credential marginbot sends anywhere: errors, log lines, stored `last_error`, Slack.

Why one: a secret leaks through whatever path was not scrubbed. Vendors echo our headers back in error pages (a
5xx HTML page from a proxy in front of `SLACK_API_URL` quoting `Authorization: Bearer xoxb-…`), database drivers
quote the URL they were given, and a traceback carries every message on its way up. So every outgoing string
passes through `scrub`, which removes two kinds of thing:

- the secrets this process holds, exactly (tokens, keys, the database password, and the encodings they travel in:
  Basic auth's base64 of `user:secret`, URL-quoted forms), registered once from the settings (`remember_settings`);
- anything shaped like a credential, known or not: `Bearer`/`Basic` header values, Slack tokens (`xoxb-…`,
  `xapp-…`), vendor keys (`sk-…`, `rk_…`, `whsec_…`), API-key headers, passwords in URLs (an unescaped `@` in the
  password included) and key-like query parameters.

`install_logging()` makes every log record pass through it (message, arguments and traceback), whichever logger or
handler it goes to, so no log line needs to remember.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, unquote

from pydantic import SecretStr

MASK = "***"
# Shorter strings are not remembered: masking every "abc" in a log would hide more than it protects, and a real
# credential is never that short.
MIN_SECRET = 6

_known: set[str] = set()
_lock = threading.Lock()

# Order matters: header values before the bare token shapes, so "Bearer xoxb-1" becomes "Bearer ***" once.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A Bearer token, wherever it is quoted (a header line, an echoed request). Eight characters at least, so prose
    # ("a Bearer token") is left alone.
    (re.compile(r"\b(Bearer)(\s+)[A-Za-z0-9._~+/=\-]{8,}", re.IGNORECASE), r"\1\2" + MASK),
    # API-key headers, as a header line, a JSON member or a Python dict repr: `x-api-key: …`, `"api-key": "…"`.
    # The value ends where a quote, a separator or a space does; a colon or full stop just before a space or the
    # end is the sentence's, not the secret's, and is kept ("password: hunter22: next" lost its colon). A value
    # that is a mask alone (a URL's user named `password`) is left, so the host after it is not eaten; one that only
    # starts with one (a remembered secret masked inside a longer value, "***-rotated") is masked whole.
    (
        re.compile(
            r"""(?ix)\b((?:x-)?api[-_]?key|x-goog-api-key|apikey|api[-_]?token|access[-_]?token|secret[-_]?key
            |client[-_]?secret|password|passwd)(["']?\s*[:=]\s*["']?)(?!\*\*\*(?:[@\s"',;&}]|$))
            [^\s"',;&}]+?(?=[:.]?(?:\s|$)|["',;&}])"""
        ),
        r"\1\2" + MASK,
    ),
    # Slack tokens (bot, user, app-level, refresh, config) wherever they appear.
    (re.compile(r"\bxox[abposre]-[A-Za-z0-9\-]+|\bxapp-[A-Za-z0-9\-]+"), MASK),
    # Vendor keys: OpenAI/Anthropic `sk-…` (`sk-ant-admin…`), Stripe `sk_live_…`/`rk_…`/`whsec_…`, Langfuse `sk-lf-…`.
    (re.compile(r"\b(?:sk|rk|whsec)[-_][A-Za-z0-9_\-]{6,}", re.IGNORECASE), MASK),
    # Key-like query parameters: ?api_key=…&token=….
    (
        re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|secret|password|sig|signature)=)[^&\s#\"']+"),
        r"\1" + MASK,
    ),
)


# A password in a URL: scheme://user:password@host. The password may hold an unescaped `@` (the last `@` before the
# host ends it), so the tail of a mistyped password is masked too. A template's placeholder (PASSWORD) is left.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^:/?#@\s]*):([^\s/?#]*)@")


def _url_password(match: re.Match[str]) -> str:
    if re.fullmatch(r"[A-Z_]+|\*+", match.group(2)):
        return match.group(0)
    return f"{match.group(1)}:{MASK}@"


_BASIC = re.compile(r"\b(Basic\s+)([A-Za-z0-9+/]{8,}={0,2})")


def _basic(match: re.Match[str]) -> str:
    # "Basic Information" is prose; "Basic cGs6c2s=" is a credential: mask what decodes to `user:secret`.
    try:
        decoded = base64.b64decode(match.group(2), validate=True)
    except ValueError:
        return match.group(0)
    return match.group(1) + MASK if b":" in decoded else match.group(0)


def remember(*secrets: str | SecretStr | None) -> None:
    """Scrub these exact strings (and their URL-quoted forms) from now on, in this process."""
    with _lock:
        for secret in secrets:
            value = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
            if not value or len(value) < MIN_SECRET:
                continue
            _known.add(value)
            for form in (quote(value, safe=""), unquote(value)):
                if len(form) >= MIN_SECRET:
                    _known.add(form)


def remember_basic(user: str | None, password: str | SecretStr | None) -> None:
    """Scrub HTTP Basic credentials as they travel: the base64 of `user:password` (plus the password itself)."""
    secret = password.get_secret_value() if isinstance(password, SecretStr) else password
    if not secret:
        return
    remember(secret, base64.b64encode(f"{user or ''}:{secret}".encode()).decode())


def remember_settings(settings: Any) -> None:
    """Every credential in the settings: each `SecretStr` field, the database password, Langfuse's Basic pair."""
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        if isinstance(value, SecretStr):
            remember(value)
    url = getattr(settings, "database_url", None)
    if url:
        remember(*_url_passwords(str(url)))
    remember_basic(getattr(settings, "langfuse_public_key", None), getattr(settings, "langfuse_secret_key", None))


def _url_passwords(url: str) -> list[str]:
    """The password of a database URL, as parsed and as written (they differ when it holds an unescaped `@`)."""
    from sqlalchemy.engine import make_url  # only when settings are registered: the scrubber itself stays light
    from sqlalchemy.exc import ArgumentError

    found: list[str] = []
    try:
        parsed = make_url(url).password
    except (ArgumentError, ValueError):
        parsed = None
    if parsed:
        found.append(str(parsed))
    match = re.match(r"^[a-z][a-z0-9+.\-]*://[^:/?#@\s]*:([^\s/?#]*)@", url, re.IGNORECASE)
    if match:
        # As written, and each piece around an unescaped `@`: a driver may quote only the part after it.
        found += [match.group(1), *match.group(1).split("@")]
    return found


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every known secret, every string in `extra`, and anything shaped like a credential masked."""
    if not text:
        return text
    with _lock:
        secrets = sorted({*_known, *(s for s in extra if s and len(s) >= MIN_SECRET)}, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _BASIC.sub(_basic, text)
    text = _URL_PASSWORD.sub(_url_password, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def scrub_exception(exc: BaseException) -> str:
    """`Type: message` of an exception, scrubbed: what `last_error` columns and one-line errors store."""
    return scrub(f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------- logging

_installed = False


def install_logging() -> None:
    """Scrub every log record this process makes, from any logger: its message, arguments and traceback.

    A record factory rather than a handler filter: filters are per handler, and a handler added later (pytest's,
    a library's, a deployment's) would miss them; every record is made by the factory.
    """
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _scrub_record(record)
        return record

    logging.setLogRecordFactory(factory)


def _scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to logging's own error handling, as it would be without us
        return
    cleaned = scrub(message)
    if cleaned != message or record.args:
        record.msg, record.args = cleaned, None
    if record.exc_info and record.exc_info[0] is not None:
        # Formatters use exc_text when it is set, so the traceback is printed as scrubbed here.
        record.exc_text = scrub("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = scrub(record.stack_info)
