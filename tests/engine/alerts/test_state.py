"""`alert_state` is written with a compare-and-set: a run that lost a race to another commits nothing."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.alerts.evaluate import check_alerts
from engine.alerts.state import ConcurrentAlertRun, Level, State, load_states, save_state
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.book import load_book


def test_a_run_that_lost_a_race_commits_nothing(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    with rt.connect() as conn:
        stale = load_states(conn)
    check_alerts(rt, as_of=NOW)  # the other run wins
    with rt.connect() as conn:
        prev = stale.get(("customer", "acme"), State())
        new = State(status=Level.BREACH, since=NOW, last_posted_at=NOW, last_margin_pct=Decimal(30))
        with pytest.raises(ConcurrentAlertRun):
            save_state(conn, "customer", "acme", "Acme Corp", prev, new)
        conn.rollback()
        fresh = load_states(conn)[("customer", "acme")]
        with pytest.raises(ConcurrentAlertRun):
            save_state(conn, "customer", "acme", "Acme Corp", State(raw_detail="{}"), new)
        conn.rollback()
    assert fresh.status == "breach"
    with rt.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM outbox")).scalar_one() == 2  # the winner's, per channel
