"""SQL fragments every query over priced usage shares, so a new cost type is added in one place."""

from __future__ import annotations

from engine.store.columns import COST_COLUMNS

# A row's (or an event's) whole cost in nano-USD: the sum of its cost columns.
COST_SUM = " + ".join(COST_COLUMNS)
# Each cost column summed, in COST_TYPES order.
COST_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
