"""The portfolio reads a window of weeks from the weekly sums and at most three days at each end from the daily
rollup; its figures are exactly those of the window's days, whatever weekday the window starts or ends on and
however long it is (a window under two weeks reads its days), and whichever other windows are read with it in the
same statement (a period and the one before, which share weeks and end days)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection, text

from engine.ingest.files import import_usage_file
from engine.periods import Period, month
from engine.reports.portfolio import _MEASURES, _scan_rows
from engine.runtime import Runtime
from engine.store.sql import COST_SUM

HEADER = "event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens,cost_usd,requests\n"
START = date(2026, 8, 3)


def _scan(conn: Connection, periods: list[Period]) -> list[dict[tuple[str, str], list[int]]]:
    """What the portfolio reads for each of `periods` (one `_scan_rows` statement for them all): cost, events,
    unpriced events, requests and tokens per customer and product with events in it."""
    out: list[dict[tuple[str, str], list[int]]] = [{} for _ in periods]
    for customer, product, *values in _scan_rows(conn, periods):
        for i, scan in enumerate(out):
            if values[i * _MEASURES + 1]:
                scan[(customer, product)] = values[i * _MEASURES : (i + 1) * _MEASURES]
    return out


def _days(conn: Connection, period: Period) -> dict[tuple[str, str], list[int]]:
    """The sums read the plain way: every daily row of the window, grouped."""
    rows = conn.execute(
        text(
            f"SELECT customer, product, SUM({COST_SUM}), SUM(events), SUM(unpriced_events), SUM(requests), "
            "SUM(input_tokens + output_tokens) FROM daily_customer_product WHERE day BETWEEN :a AND :b "
            "GROUP BY customer, product"
        ),
        {"a": period.start, "b": period.end},
    ).all()
    return {(customer, product): [int(v) for v in values] for customer, product, *values in rows}


def _import(runtime: Runtime, tmp_path: Path) -> None:
    rows = []
    for d in range(0, 100):
        day = START + timedelta(days=d)
        # Customers on some days only, so windows begin and end inside and outside each one's usage.
        for c, p, every in (
            ("acme", "agent", 1),
            ("acme", "search", 3),
            ("globex", "agent", 7),
            ("initech", "chat", 11),
        ):
            if d % every == 0:
                rows.append(
                    f"{c}-{p}-{d},{day}T12:00:00Z,{c},{p},f,openai,gpt-4o,{100 + d},{d},0.{d:02d}1,{1 + d % 4}\n"
                )
    (tmp_path / "usage.csv").write_text(HEADER + "".join(rows))
    import_usage_file(runtime.engine, tmp_path / "usage.csv", prices=runtime.prices, timezone="UTC")


def test_every_window_of_weeks_sums_exactly_its_days(runtime: Runtime, tmp_path: Path) -> None:
    _import(runtime, tmp_path)
    with runtime.connect() as conn:
        checked = 0
        for first in range(0, 12):
            for days in (1, 13, 14, 15, 17, 20, 28, 30, 31, 45, 60, 83):
                start = START + timedelta(days=first)
                window = Period(start, start + timedelta(days=days - 1), "window")
                assert _scan(conn, [window]) == [_days(conn, window)], window
                checked += 1
        # A window wholly before the usage, and one over it all, too.
        empty = Period(date(2026, 1, 5), date(2026, 2, 5), "before")
        assert _scan(conn, [empty]) == [_days(conn, empty)] == [{}]
        everything = Period(date(2026, 7, 1), date(2026, 12, 31), "all")
        assert _scan(conn, [everything]) == [_days(conn, everything)]
        assert len(_scan(conn, [everything])[0]) == 4 and checked == 144


def test_windows_read_together_sum_exactly_their_own_days(runtime: Runtime, tmp_path: Path) -> None:
    _import(runtime, tmp_path)
    with runtime.connect() as conn:
        checked = 0
        for first in range(0, 14):
            for days in (1, 10, 14, 17, 30, 31):
                start = START + timedelta(days=28 + first)
                window = Period(start, start + timedelta(days=days - 1), "window")
                # The period before meets this one inside a week: the two share that week's days.
                together = [window, window.previous()]
                assert _scan(conn, together) == [_days(conn, p) for p in together], window
                checked += 1
        # A month to date and the same days of the month before (a gap between them), and overlapping windows.
        running = Period(date(2026, 10, 1), date(2026, 10, 19), "2026-10", full_end=date(2026, 10, 31), running=True)
        overlapping = [running, running.previous(), month(2026, 9), Period(date(2026, 9, 20), date(2026, 10, 9), "x")]
        assert _scan(conn, overlapping) == [_days(conn, p) for p in overlapping]
        assert checked == 84
