"""Small persistent facts about the database (meta table): the time zone rollups were cut in, and the fingerprint of
the prices events were priced with (both guard against answers that would silently mix two settings), and the data
generation (what answers may be cached against)."""

from __future__ import annotations

import hashlib
import json
import tomllib
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path

from sqlalchemy import Connection, text

ROLLUP_TZ = "rollup_timezone"
# Set by migration 0007 when it finds a rollup sum an earlier version stored as a REAL (past 2⁶³ − 1, inexact);
# cleared by the reprice that rebuilds the rollups from the events.
INEXACT_ROLLUPS = "inexact_rollups"
PRICE_FINGERPRINT = "price_fingerprint"
DATA_GENERATION = "data_generation"
STALE_PRICES = "prices changed since the last reprice: run `marginbot reprice`"
DEFAULT_DATABASE_URL = "sqlite:///marginbot.db"
DEMO_DATABASE = "marginbot-demo.db"


class StaleRollups(RuntimeError):
    """Rollups were built under other settings; the message says what to run."""


class StalePrices(StaleRollups):
    """A writer would price new usage with other prices than the stored usage was priced with (the price file or the
    catalogue changed since the last reprice): refused, so stored costs never mix two price books unsaid."""


# What a writer says when it refuses (the import adds "(FILE: nothing imported)", a sync names its source).
REPRICE_FIRST = (
    "prices changed since the last reprice: run `marginbot reprice` first, so new usage is priced like the usage "
    "already stored"
)


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": key}).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(
        text("INSERT INTO meta (key, value) VALUES (:k, :v) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        {"k": key, "v": value},
    )


def clear_meta(conn: Connection, key: str) -> None:
    conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": key})


def bump_generation(conn: Connection) -> None:
    """Mark the data as changed, in the caller's transaction: every import, sync, reprice and contract import calls
    this before it commits, so an answer cached against the generation before is never served again. (In the same
    transaction as the change: a reader sees the new generation only with the new data.)"""
    conn.execute(
        text(
            "INSERT INTO meta (key, value) VALUES (:k, '1') ON CONFLICT (key) DO UPDATE SET value = "
            "CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)"
        ),
        {"k": DATA_GENERATION},
    )


def data_generation(conn: Connection) -> int:
    """How many times the data has changed (see `bump_generation`); 0 for a database that never recorded it."""
    value = get_meta(conn, DATA_GENERATION)
    return int(value) if value else 0


def check_rollups(
    conn: Connection, timezone: str, *, record: bool = True, price_fingerprint: str | None = None
) -> None:
    """Refuse rollups that would answer wrongly (the fix is `marginbot reprice`): cut in another time zone, or
    holding sums an earlier version stored inexactly.

    Daily rollups are cut in one time zone. Writers (`record`) claim the time zone on first use, and record the
    fingerprint of the prices they price with when none is recorded yet (a reprice records it anew). Readers only
    check: a query in another time zone would read days cut in the old one and call them days of the new one.

    A writer whose prices are not those the stored usage was priced with (`price_fingerprint` differs from the one
    recorded, and some usage is stored) is refused (StalePrices): it would store costs of two price books with
    nothing to say so once a reprice recorded the new fingerprint, or, before it, leave old events at old prices and
    new ones at new. A process that lives on reloads its prices when the files change (engine.runtime), so this holds
    it to the prices a reprice applied. On PostgreSQL the writer holds the recorded fingerprint (FOR SHARE) until it
    commits: a reprice, which updates it first, waits for writers in flight, and writers that come after it read
    the fingerprint it records. On SQLite writers and reprices alike take the database's write lock before they read
    (engine.store.db.hold_writes), so one runs after the other.
    """
    # One read of all three (every answer's connection makes it).
    keys = {"tz": ROLLUP_TZ, "inexact": INEXACT_ROLLUPS, "prices": PRICE_FINGERPRINT}
    sql = text("SELECT key, value FROM meta WHERE key IN (:tz, :inexact, :prices)")
    found: dict[str, str] = dict(conn.execute(sql, keys).all())
    stored = found.get(ROLLUP_TZ)
    if stored is None:
        if record:
            set_meta(conn, ROLLUP_TZ, timezone)
    elif stored != timezone:
        raise StaleRollups(
            f"daily rollups were cut in {stored} but MARGINBOT_TIMEZONE is {timezone}: "
            "run `marginbot reprice` to rebuild them in the new time zone"
        )
    if INEXACT_ROLLUPS in found:
        raise StaleRollups(
            "some rollup sums were stored inexactly by an earlier version (past what the database holds, about "
            "$9.2 billion): run `marginbot reprice` to rebuild them from the events"
        )
    if not record or price_fingerprint is None:
        return
    stored_prices = found.get(PRICE_FINGERPRINT)
    if stored_prices is not None and conn.dialect.name == "postgresql":
        lock = text("SELECT value FROM meta WHERE key = :k FOR SHARE")
        stored_prices = conn.execute(lock, {"k": PRICE_FINGERPRINT}).scalar_one_or_none()
    if stored_prices == price_fingerprint:
        return
    if stored_prices is not None and conn.execute(text("SELECT 1 FROM usage_event LIMIT 1")).first() is not None:
        raise StalePrices(REPRICE_FIRST)
    # Nothing priced yet (or nothing left to mix with): these prices are the ones stored usage is priced with.
    set_meta(conn, PRICE_FINGERPRINT, price_fingerprint)


def price_fingerprint(raw: bytes, catalogue_digest: str = "") -> str:
    """What stored costs were priced with, in 16 hex digits: the price file's values, the version of the genai-prices
    package and the digest of the catalogue data file `marginbot prices update` wrote ("" for the bundled data): a
    new catalogue can change prices too.

    The file's values, not its bytes: an edit that changes no price (a comment, spacing, quotes, a key spelled
    `"a"` or `a`) must not tell every answer that prices changed and refuse imports until a reprice that changes
    nothing. Keys keep their order: it is not worth knowing which orders the price file's reading ignores."""
    return _fingerprint_of(_values(raw), catalogue_digest)


def bytes_price_fingerprint(raw: bytes, catalogue_digest: str = "") -> str:
    """The fingerprint earlier versions recorded: of the price file's bytes (see `adopt_price_fingerprint`)."""
    return _fingerprint_of(raw, catalogue_digest)


def _fingerprint_of(content: bytes, catalogue_digest: str) -> str:
    return hashlib.sha256(content + _catalogue_version().encode() + catalogue_digest.encode()).hexdigest()[:16]


@lru_cache(maxsize=4)
def _values(raw: bytes) -> bytes:
    """The price file's TOML values in one form (dates and times as text; TOML has no other types JSON lacks).
    Kept for the same bytes: every answer fingerprints the file (Runtime.notices), and it seldom changes."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except ValueError:  # the price book refuses this file when it loads it; its bytes are all there is to go by
        return raw
    return json.dumps(data, default=str, separators=(",", ":"), ensure_ascii=False).encode()


def adopt_price_fingerprint(conn: Connection, prices_file: Path, catalogue: Path | None = None) -> None:
    """A database priced by a version that recorded the fingerprint of the price file's bytes: when that is the
    fingerprint of the files as they are now, record their values' fingerprint instead, so upgrading marginbot does
    not ask for a reprice that would change nothing. Any other recorded fingerprint is left for the usual check."""
    stored = get_meta(conn, PRICE_FINGERPRINT)
    if stored is None:
        return
    try:
        raw, digest = _price_files(prices_file, catalogue)
    except OSError:  # unreadable: the commands that price say so; the ones that do not must still open the database
        return
    if stored != price_fingerprint(raw, digest) and stored == bytes_price_fingerprint(raw, digest):
        set_meta(conn, PRICE_FINGERPRINT, price_fingerprint(raw, digest))


@lru_cache(maxsize=1)
def _catalogue_version() -> str:
    return version("genai-prices")  # a scan of installed packages: once per process is enough


def price_file_fingerprint(path: Path, catalogue: Path | None = None) -> str:
    """The fingerprint of the price file at `path` (a missing file is an empty one) and of the catalogue data file
    (absent: the bundled data), without loading the catalogue."""
    return price_fingerprint(*_price_files(path, catalogue))


def _price_files(path: Path, catalogue: Path | None) -> tuple[bytes, str]:
    """The price file's bytes (a missing file is an empty one) and the catalogue data file's digest ("": bundled)."""
    digest = hashlib.sha256(catalogue.read_bytes()).hexdigest() if catalogue is not None and catalogue.is_file() else ""
    return (path.read_bytes() if path.is_file() else b""), digest


def prices_changed(conn: Connection, fingerprint: str) -> bool:
    """Whether stored costs were priced with another price file (or catalogue) than `fingerprint`'s."""
    stored = get_meta(conn, PRICE_FINGERPRINT)
    return stored is not None and stored != fingerprint


def empty_database_hint(
    conn: Connection, *, database_url: str, url_was_set: bool, cwd: Path | None = None
) -> str | None:
    """When DATABASE_URL was left unset, the default database is empty and the demo's database sits beside it, how
    to point at the demo (after `make demo`, forgetting DATABASE_URL answers from an empty database)."""
    if url_was_set or database_url != DEFAULT_DATABASE_URL:
        return None
    if not ((cwd or Path.cwd()) / DEMO_DATABASE).is_file():
        return None
    if conn.execute(text("SELECT 1 FROM customer")).first() is not None:
        return None
    return (
        f"this database ({DEFAULT_DATABASE_URL}, the default: DATABASE_URL is not set) is empty; the demo's data is "
        f"in {DEMO_DATABASE}: export DATABASE_URL=sqlite:///{DEMO_DATABASE}"
    )
