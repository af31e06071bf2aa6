"""Small persistent facts about the database (meta table): the time zone rollups were cut in, price fingerprint."""

from __future__ import annotations

from sqlalchemy import Connection, text

ROLLUP_TZ = "rollup_timezone"


class StaleRollups(RuntimeError):
    """Rollups were built under other settings; the message says what to run."""


def get_meta(conn: Connection, key: str) -> str | None:
    return conn.execute(text("SELECT value FROM meta WHERE key = :k"), {"k": key}).scalar_one_or_none()


def set_meta(conn: Connection, key: str, value: str) -> None:
    conn.execute(
        text("INSERT INTO meta (key, value) VALUES (:k, :v) ON CONFLICT (key) DO UPDATE SET value = excluded.value"),
        {"k": key, "v": value},
    )


def check_rollup_timezone(conn: Connection, timezone: str) -> None:
    """Daily rollups are cut in one time zone; refuse to mix two (the fix is `marginbot reprice`)."""
    stored = get_meta(conn, ROLLUP_TZ)
    if stored is None:
        set_meta(conn, ROLLUP_TZ, timezone)
    elif stored != timezone:
        raise StaleRollups(
            f"daily rollups were cut in {stored} but MARGINBOT_TIMEZONE is {timezone}: "
            "run `marginbot reprice` to rebuild them in the new time zone"
        )
