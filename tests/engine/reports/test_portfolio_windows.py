"""The portfolio reads a window of weeks from the weekly sums and at most three days at each end from the daily
rollup; its figures are exactly those of the window's days, whatever weekday the window starts or ends on and
however long it is (a window under two weeks reads its days)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from engine.ingest.files import import_usage_file
from engine.periods import Period
from engine.reports.portfolio import _scan, _scan_days
from engine.runtime import Runtime

HEADER = "event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens,cost_usd,requests\n"
START = date(2026, 8, 3)


def test_every_window_of_weeks_sums_exactly_its_days(runtime: Runtime, tmp_path: Path) -> None:
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
    with runtime.connect() as conn:
        checked = 0
        for first in range(0, 12):
            for days in (1, 13, 14, 15, 17, 20, 28, 30, 31, 45, 60, 83):
                start = START + timedelta(days=first)
                window = Period(start, start + timedelta(days=days - 1), "window")
                assert _scan(conn, window) == _scan_days(conn, window), window
                checked += 1
        # A window wholly before the usage, and one over it all, too.
        empty = Period(date(2026, 1, 5), date(2026, 2, 5), "before")
        assert _scan(conn, empty) == _scan_days(conn, empty) == {}
        everything = Period(date(2026, 7, 1), date(2026, 12, 31), "all")
        assert _scan(conn, everything) == _scan_days(conn, everything)
        assert len(_scan(conn, everything)) == 4 and checked == 144
