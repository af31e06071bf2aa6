"""SQL fragments every query over priced usage shares, so a new cost type is added in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, TextClause

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
