"""SQL fragments every query over priced usage shares, so a new cost type is added in one place."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, TextClause
from sqlalchemy.exc import DBAPIError

from engine.store.columns import COST_COLUMNS

# A row's (or an event's) whole cost in nano-USD: the sum of its cost columns.
COST_SUM = " + ".join(COST_COLUMNS)
# Each cost column summed, in COST_TYPES order.
COST_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)


def added(total: str, more: str, dialect: str) -> str:
    """`total + more`, a stored sum and what is added to it (both NOT NULL, `total` never negative), refused past
    2⁶³ − 1 on both databases. PostgreSQL's BIGINT `+` refuses it (SQLSTATE 22003); SQLite's makes a REAL of it,
    silently, and a figure read from a REAL is no longer exact. There the sum is compared first, `total` against
    what is left above `more` (exact for `more` from 0 up; a negative one, only ever taken off a larger sum, leaves
    a REAL bound the sum is always under), and a sum past the limit fails as SQLite's own SUM() does ("integer
    overflow", from abs() of the smallest integer, written to depend on `more` so that no SQLite works it out
    before the row). A comparison costs the upserts less than asking the sum's type (50,000 rows added onto
    daily_rollup: +48 ms against +115 ms)."""
    if dialect == "postgresql":
        return f"{total} + {more}"
    return (
        f"CASE WHEN {total} <= 9223372036854775807 - {more} THEN {total} + {more} "
        f"ELSE abs(-9223372036854775807 - ({more} IS NOT NULL)) END"
    )


def where_equal(sql: str, params: dict[str, object], **columns: object) -> str:
    """`sql` (ending in a WHERE clause) narrowed by `AND column = :column` for every column given a value; None
    leaves it out. The values go into `params`."""
    for column, value in columns.items():
        if value is not None:
            sql += f" AND {column} = :{column}"
            params[column] = value
    return sql


def fetch_tuples(conn: Connection, query: TextClause, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every row of `query` as the driver returns it, a plain tuple. For scans of tens of thousands of rows read once
    (the alerts' daily trends): building a Row for each costs more than the query on SQLite, twice the query on
    PostgreSQL. (A text() query has no result types to apply, so the values are those a Row would hold.)"""
    with conn.execute(query, params) as result:
        return list(result.cursor.fetchall())


PAST_A_BIGINT = "past what the database holds (about $9.2 billion, or 9.2 × 10¹⁸ of a count)"
# What an answer says when a sum it reads passes a BIGINT: each stored row fits (the import refused any that did
# not), but a customer's products, or a period's days, added up do not. Only a unit mistake comes near it.
SUMS_TOO_LARGE_TO_ANSWER = (
    f"the stored costs or counts this needs add up {PAST_A_BIGINT}: some events' cost_usd or counts are likely in "
    "the wrong unit (micro-dollars or cents read as dollars); `marginbot prices` and the import's COGS line show "
    "which models and files"
)


def answer_sum_too_large(exc: BaseException) -> bool:
    """Whether `exc` is the database refusing a sum past a BIGINT while answering (`sum_too_large`, from the
    database alone: a Python OverflowError is some other arithmetic)."""
    return not isinstance(exc, OverflowError) and sum_too_large(exc)


def sum_too_large(exc: BaseException) -> bool:
    """Whether `exc` is a rollup sum past a BIGINT: the columnar sums' own check (`narrow`, on PostgreSQL over the
    chunks pending), SQLite's SUM over new events or its checked addition onto a stored sum (integer overflow:
    engine.store.sql.added), or PostgreSQL's (SQLSTATE 22003), raised by the driver or wrapped by SQLAlchemy."""
    if isinstance(exc, OverflowError):
        return True
    if isinstance(exc, DBAPIError):
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, sqlite3.DatabaseError):  # the weekly triggers' own check raises it too (migration 0007)
        return "integer overflow" in str(exc)
    return getattr(exc, "sqlstate", None) == "22003"  # numeric_value_out_of_range
