"""SQL fragments every query over priced usage shares, so a new cost type is added in one place."""

from __future__ import annotations

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
