"""SQL fragments every query over priced usage shares, so a new cost type is added in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, TextClause

from engine.store.columns import COST_COLUMNS

# A row's (or an event's) whole cost in nano-USD: the sum of its cost columns.
COST_SUM = " + ".join(COST_COLUMNS)
# Each cost column summed, in COST_TYPES order.
COST_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)


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
