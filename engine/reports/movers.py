"""What moved: the one rule for "biggest mover" in answers, the alerts' cost driver and the digest's movers.

A move is a cost (a model on a feature, a customer) now against the period before. Moves are ranked by how many
dollars they moved, up or down, because a cost that tripled from $0.001 to $0.003 explains nothing about a margin:
below a floor (MARGINBOT_MOVER_MIN_USD, and MARGINBOT_MOVER_MIN_PCT of the subject's COGS, whichever is higher)
nothing is called a mover at all. Each reads as dollars first, then the ratio: "+$412.37 (×3.1)".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from engine.money import CENT, HUNDRED, TENTH, ZERO, round_to


@dataclass(frozen=True, kw_only=True)
class MoverRule:
    """The floor under which a change in cost is not news: `min_usd` dollars and `min_pct` percent of the
    subject's COGS (the higher of the two)."""

    min_usd: Decimal = Decimal(1)
    min_pct: Decimal = Decimal(1)

    def floor(self, subject_cogs: Decimal) -> Decimal:
        return max(self.min_usd, abs(subject_cogs) * self.min_pct / HUNDRED)


@dataclass(frozen=True, kw_only=True)
class Move:
    """One cost now and in the period before."""

    key: str  # what moved, in words: "gpt-4o on agent-run", "Acme Corp"
    now: Decimal
    before: Decimal

    @property
    def change(self) -> Decimal:
        return self.now - self.before

    @property
    def growth(self) -> Decimal | None:
        """Now over before (3.1 = ×3.1); None when there was nothing before."""
        return self.now / self.before if self.before > 0 else None

    @property
    def how(self) -> str:
        """ "+$412.37 (×3.1)", "+$80.00 (new)", "-$300.00 (stopped)"."""
        if self.before <= 0:
            ratio = "new"
        elif self.now <= 0:
            ratio = "stopped"
        else:
            ratio = f"×{round_to(self.now / self.before, TENTH)}"
        return f"{signed_usd(self.change)} ({ratio})"

    @property
    def text(self) -> str:
        return f"{self.key} {self.how}"


def signed_usd(value: Decimal) -> str:
    """Dollars with a sign, to the cent: "+$412.37", "-$3.10" ("<$0.01" for a change under half a cent)."""
    q = round_to(value, CENT)
    if q == 0:
        return "$0.00" if value == 0 else ("+<$0.01" if value > 0 else "-<$0.01")
    return f"{'+' if q > 0 else '-'}${abs(q):,}"


def rank_moves(moves: Iterable[Move], *, subject_cogs: Decimal, rule: MoverRule) -> list[Move]:
    """The moves at or above the rule's floor for a subject costing `subject_cogs`, biggest dollar change first
    (ties by name)."""
    floor = rule.floor(subject_cogs)
    kept = [m for m in moves if m.change != ZERO and abs(m.change) >= floor]
    kept.sort(key=lambda m: (-abs(m.change), m.key))
    return kept
