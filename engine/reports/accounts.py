"""A customer's own terms beyond its prices: who owns the account in Slack, and its own margin bands.

They come from the contracts' `owner`, `breach_pct` and `healthy_pct` columns. The importer keeps them equal across
a customer's contracts (engine.ingest.contracts); rows written another way (by hand, by an older version) may not
agree or may hold values no import accepts, so they are read defensively: an unreadable value is ignored with a
logged warning, and disagreeing rows resolve to the latest contract's value, never to a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from sqlalchemy import Connection, text

from engine.money import HUNDRED, ONE, ZERO
from engine.reports.figures import Thresholds
from engine.store.bounds import parse_owners
from engine.store.sql import where_equal

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class Account:
    """One customer's owners and own margin bands (None: the global setting applies)."""

    customer: str
    owners: tuple[str, ...]  # Slack member IDs from the contracts' `owner` column (';'-separated)
    breach_pct: Decimal | None  # the customer's own bands, None = the global setting
    healthy_pct: Decimal | None

    def thresholds(self, default: Thresholds) -> Thresholds:
        """The customer's own bands where set, else `default`'s.

        A band set alone is paired with the global other one; where that pair would cross (an own breach line
        above the global healthy line, or an own healthy line below the global breach line) the unset band moves
        to the set one, so the customer simply has no watch band rather than bands that contradict each other.
        """
        if not self.has_own_bands:
            return default
        breach = self.breach_pct if self.breach_pct is not None else default.breach_pct
        healthy = self.healthy_pct if self.healthy_pct is not None else default.healthy_pct
        if breach > healthy:
            if self.breach_pct is None:
                breach = healthy
            else:
                healthy = breach
        return replace(default, breach_pct=breach, healthy_pct=healthy)

    @property
    def has_own_bands(self) -> bool:
        return self.breach_pct is not None or self.healthy_pct is not None


def pct_or_none(value: object) -> Decimal | None:
    """A stored band as a percentage 0–100, None when unset. Raises ValueError for anything else."""
    if value is None:
        return None
    try:
        pct = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not pct.is_finite() or not ZERO <= pct <= HUNDRED:
        raise ValueError(f"{value!r} is not a percentage from 0 to 100")
    # The same value reads the same from either database (PostgreSQL returns 30.00, SQLite 30): "30%", not "30.00%".
    return pct.quantize(ONE) if pct == pct.to_integral_value() else pct.normalize()


class _Seen:
    """A customer's values across its contracts, latest contract first."""

    def __init__(self) -> None:
        self.owner: tuple[str, ...] | None = None
        self.breach: Decimal | None = None
        self.healthy: Decimal | None = None
        self.bands_from: int | None = None  # the contract whose bands were taken
        self.conflict: list[str] = []


def accounts(conn: Connection, customers: Iterable[str] | None = None) -> dict[str, Account]:
    """The accounts of `customers` (all when None) that have an owner or their own bands.

    A customer without contracts, owner or bands has no entry: callers use `.get(customer)` and the defaults.
    """
    wanted = set(customers) if customers is not None else None
    params: dict[str, object] = {}
    sql = where_equal(
        "SELECT id, customer, owner, breach_pct, healthy_pct FROM contract WHERE (owner <> '' OR breach_pct IS NOT "
        "NULL OR healthy_pct IS NOT NULL)",
        params,
        customer=next(iter(wanted)) if wanted is not None and len(wanted) == 1 else None,
    )
    seen: dict[str, _Seen] = {}
    rows = conn.execute(text(sql + " ORDER BY customer, start DESC, id DESC"), params)
    for contract_id, customer, owner, breach, healthy in rows:
        if wanted is not None and customer not in wanted:
            continue
        s = seen.setdefault(customer, _Seen())
        if owner:
            try:
                owners = parse_owners(str(owner))
            except ValueError as exc:
                log.warning("contract %s of %s: owner ignored: %s", contract_id, customer, exc)
            else:
                if s.owner is None:
                    s.owner = owners
                elif owners != s.owner:
                    s.conflict.append("owner")
        if breach is None and healthy is None:
            continue
        try:
            b, h = pct_or_none(breach), pct_or_none(healthy)
            if b is not None and h is not None and b > h:
                raise ValueError(f"breach_pct {b} is above healthy_pct {h}")
        except ValueError as exc:
            log.warning("contract %s of %s: margin bands ignored: %s", contract_id, customer, exc)
            continue
        if s.bands_from is None:
            s.breach, s.healthy, s.bands_from = b, h, contract_id
        elif (b, h) != (s.breach, s.healthy):
            s.conflict.append("bands")
    out: dict[str, Account] = {}
    for customer, s in seen.items():
        if s.conflict:
            log.warning(
                "%s: its contracts disagree on %s; using the latest contract's (re-import its contracts to settle it)",
                customer,
                " and ".join(sorted(set(s.conflict))),
            )
        if not s.owner and s.breach is None and s.healthy is None:
            continue
        out[customer] = Account(customer=customer, owners=s.owner or (), breach_pct=s.breach, healthy_pct=s.healthy)
    return out
