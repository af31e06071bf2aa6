"""The mover rule: ranked by dollars moved, up or down, nothing under the floor, read as dollars then the ratio."""

from __future__ import annotations

from decimal import Decimal

from engine.reports.movers import Move, MoverRule, rank_moves, signed_usd

D = Decimal


def test_moves_are_ranked_by_dollars_moved_not_by_ratio() -> None:
    moves = [
        Move(key="guard on tool-call", now=D("0.0033"), before=D("0.001")),  # ×3.3, but a third of a cent
        Move(key="gpt-4o on agent-run", now=D("609.37"), before=D("197.00")),  # +$412.37
        Move(key="claude on chat", now=D("100"), before=D("600")),  # -$500: the biggest move is a fall
        Move(key="o3 on plan", now=D("80"), before=D(0)),  # new
    ]
    ranked = rank_moves(moves, subject_cogs=D(2000), rule=MoverRule())
    # Floor: the higher of $1 and 1% of $2,000 = $20.
    assert [m.text for m in ranked] == [
        "claude on chat -$500.00 (×0.2)",
        "gpt-4o on agent-run +$412.37 (×3.1)",
        "o3 on plan +$80.00 (new)",
    ]


def test_the_floor_is_the_higher_of_the_dollars_and_the_share_of_cogs() -> None:
    rule = MoverRule(min_usd=D(1), min_pct=D(1))
    assert rule.floor(D(50)) == D(1)  # 1% of $50 is 50 cents: $1 applies
    assert rule.floor(D(5000)) == D(50)
    small = [Move(key="a", now=D("1.50"), before=D("0.40"))]  # +$1.10
    assert [m.key for m in rank_moves(small, subject_cogs=D(50), rule=rule)] == ["a"]
    assert rank_moves(small, subject_cogs=D(5000), rule=rule) == []
    assert rank_moves(small, subject_cogs=D(50), rule=MoverRule(min_usd=D(2))) == []


def test_a_cost_that_stopped_and_changes_under_a_cent_read_plainly() -> None:
    assert Move(key="x", now=D(0), before=D("300")).how == "-$300.00 (stopped)"
    assert signed_usd(D("0.004")) == "+<$0.01" and signed_usd(D(0)) == "$0.00" and signed_usd(D("-3.1")) == "-$3.10"
    unchanged = [Move(key="same", now=D(5), before=D(5))]
    assert rank_moves(unchanged, subject_cogs=D(5), rule=MoverRule(min_usd=D(0), min_pct=D(0))) == []
