"""The portfolio pauses the cyclic collector while it runs (engine/gc_pause.py) and leaves it as it found it."""

from __future__ import annotations

import gc
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Connection

from engine.periods import Period, trailing
from engine.reports import portfolio as portfolio_module
from engine.reports.figures import Thresholds
from engine.reports.portfolio import portfolio
from engine.runtime import Runtime

PERIOD = trailing(30, today=date(2026, 11, 27))


def test_the_collector_is_off_while_a_portfolio_is_built(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    running: list[bool] = []
    scan = portfolio_module._scan_rows

    def watched(conn: Connection, periods: list[Period]) -> list[Any]:
        running.append(gc.isenabled())
        return scan(conn, periods)

    monkeypatch.setattr(portfolio_module, "_scan_rows", watched)
    with runtime.connect() as conn:
        portfolio(conn, PERIOD, thresholds=Thresholds())
    assert running and not any(running)  # one statement for both periods, or one each (SQLite)
    assert gc.isenabled()


def test_a_portfolio_leaves_the_collector_as_it_found_it(runtime: Runtime) -> None:
    assert gc.isenabled()
    with runtime.connect() as conn:
        assert portfolio(conn, PERIOD, thresholds=Thresholds()).customers == []
    assert gc.isenabled()
    gc.disable()
    try:
        with runtime.connect() as conn:
            portfolio(conn, PERIOD, thresholds=Thresholds())
        assert not gc.isenabled()  # a caller that turned it off keeps it off
    finally:
        gc.enable()
