"""The cost columns of `usage_event` and the rollups, named once, in a module that loads no SQLAlchemy models:
reports and SQL fragments need only these names, and importing SQLModel's tables is a noticeable part of a
command's start-up (`marginbot margin` must answer in well under half a second)."""

from __future__ import annotations

from engine.vocab import CostType

# The cost types in the order every rollup and report uses them, and the nano-USD column of each.
COST_TYPES = tuple(CostType)
COST_COLUMNS = tuple(t.column for t in CostType)
