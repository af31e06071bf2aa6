"""Who owns each customer and the customer's own margin bands, from its contracts' `owner`, `breach_pct` and
`healthy_pct` columns.

Placeholder with the agreed interface (issue 11 item 3, issue 16 item 5): the contract columns and their reading
arrive with the contracts work, which replaces this module. Until then no customer has an owner or bands of its
own, so every caller falls back to the global settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection

from engine.reports.figures import Thresholds


@dataclass(frozen=True, kw_only=True)
class Account:
    customer: str
    owners: tuple[str, ...]  # Slack member IDs from the contracts' `owner` column (';'-separated)
    breach_pct: Decimal | None  # the customer's own bands, None = the global setting
    healthy_pct: Decimal | None

    def thresholds(self, default: Thresholds) -> Thresholds:
        """The customer's own bands where set, else the default's."""
        return Thresholds(
            breach_pct=self.breach_pct if self.breach_pct is not None else default.breach_pct,
            healthy_pct=self.healthy_pct if self.healthy_pct is not None else default.healthy_pct,
        )

    @property
    def has_own_bands(self) -> bool:
        return self.breach_pct is not None or self.healthy_pct is not None


def accounts(conn: Connection, customers: Iterable[str] | None = None) -> dict[str, Account]:
    """Owners and bands by customer; a customer without contracts, owner or bands has no entry."""
    return {}
