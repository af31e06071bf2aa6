"""Alert evaluation defects found in review (/tmp/review-alerts r1, r3-r7): each test fails without its fix.

Real SQLite books through the engine's own imports (tests/engine/alerts/book.py), rendered as Slack shows them.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr

from bot.blocks.alerts import alert_message, alert_text, event_line
from bot.render.fmt import percent, percent_beside
from engine.alerts.evaluate import Observation, check_alerts, decide
from engine.alerts.state import Level, State, load_states
from engine.ingest.files import import_usage_file
from engine.ingest.sync import write_cursor
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.book import CONTRACTS, WINDOW_START, Run, add_usage, load, observation

ARGS = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
NEXT_WINDOW = date(2026, 11, 15)  # the window of a check 30 days after NOW


def _obs(revenue: str, cogs: str, *, events: int = 100, unpriced: int = 0, level: Level | None = None) -> Observation:
    return observation(Decimal(revenue), Decimal(cogs), events=events, unpriced=unpriced, level=level)


def _lines(run: object) -> dict[tuple[str, str, str], str]:
    """Every event of a run's first message as the terminal shows it, by (subject kind, subject, event kind)."""
    msg = run.messages[0]  # type: ignore[attr-defined]
    return {
        (e["subject_kind"], e["subject"], e["kind"]): event_line(e, msg.payload, date(2026, 12, 15))
        for m in run.messages  # type: ignore[attr-defined]
        for e in m.payload["events"]
    }


def _half_unpriced(rt: Runtime, folder: Path) -> None:
    """30 days from NEXT_WINDOW for acme/agent: $5 of priced traffic at $3.50 a day, and as many events on a model
    with no price (its cost missing): the window's margin reads 65%."""
    path = folder / "half-unpriced.csv"
    with path.open("w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["event_id", "ts", "customer", "product", "feature", "provider", "model", "requests", "cost_usd",
                    "input_tokens", "output_tokens"])  # fmt: skip
        for i in range(30):
            day = NEXT_WINDOW + timedelta(days=i)
            ts = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat()
            w.writerow([f"p{i}", ts, "acme", "agent", "agent-run", "openai", "gpt-4o", 5, "3.50", 0, 0])
            w.writerow([f"u{i}", ts, "acme", "agent", "agent-run", "acme-labs", "mystery-1", 5, "", 100000, 20000])
    import_usage_file(rt.engine, path, prices=rt.prices, timezone=rt.settings.timezone)


# ---------------------------------------------------------------- r1: unpriced usage must not recover an episode


def test_a_breach_held_open_by_unpriced_usage_says_why_in_its_reminder(rt: Runtime, tmp_path: Path) -> None:
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], CONTRACTS[:1])
    check_alerts(rt, as_of=NOW)  # breach at 30%
    _half_unpriced(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW + timedelta(days=30))
    assert "recovered" not in {e.kind for e in run.events}
    with rt.connect() as conn:
        acme = load_states(conn)[("customer", "acme")]
    assert acme.status == "breach" and acme.detail["held"] == ["unpriced"]
    reminder = _lines(run)[("customer", "acme", "reminder")]
    assert "held open: 50.00% of events have no price" in reminder
    assert "is not a recovery" in reminder


def test_a_trend_to_breach_is_not_cleared_by_a_margin_whose_cogs_is_understated() -> None:
    watch = State(status=Level.WATCH, since=NOW, last_posted_at=NOW, raw_detail="{}")
    held, events = decide(watch, _obs("100", "35", unpriced=50), as_of=NOW + timedelta(hours=1), **ARGS)
    assert (events, held.status, held.detail["held"]) == (["unpriced"], "watch", ["unpriced"])
    priced, events = decide(held, _obs("100", "35"), as_of=NOW + timedelta(hours=2), **ARGS)
    assert (events, priced.status) == ([], "ok") and "held" not in priced.detail


def test_a_subject_breaching_on_its_priced_usage_alone_is_still_raised_with_unpriced_usage() -> None:
    new, events = decide(State(), _obs("100", "70", unpriced=50), as_of=NOW, **ARGS)
    assert (events, new.status) == (["breach", "unpriced"], "breach")


# ---------------------------------------------------------------- r5: an unpriced post keeps its own clock


def test_an_unpriced_post_is_timed_in_detail_and_leaves_the_reminder_clock_alone() -> None:
    prev = State(status=Level.OK, since=NOW, last_posted_at=NOW, raw_detail="{}")
    later = NOW + timedelta(days=5)
    flagged, events = decide(prev, _obs("100", "40", unpriced=5), as_of=later, **ARGS)
    assert events == ["unpriced"]
    assert flagged.last_posted_at == NOW
    assert flagged.stamp("unpriced_posted_at") == later and flagged.stamp("unpriced_since") == later


# ---------------------------------------------------------------- r7: cost without revenue, then earning at 41%


def test_cost_without_revenue_that_earns_at_41_is_not_a_breach_and_says_it_is_in_the_recovery_band(
    rt: Runtime, tmp_path: Path
) -> None:
    load(rt, tmp_path, [Run("dunder", "search", WINDOW_START, 30, 0, Decimal("3.00"))], [])
    assert {e.kind for e in check_alerts(rt, as_of=NOW).events} == {"no_revenue"}
    # A contract from the next window on: $10 a day of revenue against $5.90 of COGS, 41%.
    load(rt, tmp_path, [Run("dunder", "search", NEXT_WINDOW, 30, 10, Decimal("5.90"))],
         [("dunder", "Dunder Mifflin", "search")], tag="b")  # fmt: skip
    run = check_alerts(rt, as_of=NOW + timedelta(days=30))
    with rt.connect() as conn:
        dunder = load_states(conn)[("customer", "dunder")]
    assert dunder.status == "no_revenue" and dunder.detail["held"] == ["recovery_band"]
    reminder = _lines(run)[("customer", "dunder", "reminder")]
    assert "in breach" not in reminder
    assert "cost without revenue since 2026-11-15 (30 days), now earning: margin *41.0%*" in reminder
    assert "at or above the 40% line, so not a breach, but under the 42% recovery level" in reminder


def test_cost_without_revenue_then_judged_against_the_line_itself() -> None:
    prev = State(status=Level.NO_REVENUE, since=NOW, last_posted_at=NOW, raw_detail="{}")
    at = NOW + timedelta(hours=1)
    assert decide(prev, _obs("100", "60"), as_of=at, **ARGS)[0].status == "no_revenue"  # 40%: on the line
    assert decide(prev, _obs("100", "61"), as_of=at, **ARGS)[0].status == "breach"  # 39%: under it
    assert decide(prev, _obs("100", "58"), as_of=at, **ARGS)[1] == ["recovered"]  # 42%: recovered


# ---------------------------------------------------------------- r4: a figure never reads as on or across its line


def test_a_breach_at_39_96_is_shown_as_39_96_not_as_the_line(rt: Runtime, tmp_path: Path) -> None:
    costs = [Decimal("6.00")] * 29 + [Decimal("6.12")]  # $180.12 against $300: 39.96%
    load(rt, tmp_path, [Run("cyber", "assist", WINDOW_START, 30, 10, costs)], [("cyber", "Cyberdyne", "assist")])
    run = check_alerts(rt, as_of=NOW)
    payload = run.messages[0].payload
    assert "Cyberdyne 39.96%" in alert_text(payload)
    assert "margin *39.96%*" in _lines(run)[("customer", "cyber", "breach")]
    blocks = str(alert_message(payload)["blocks"])
    assert "39.96%" in blocks and "40.0%" not in blocks


def test_percent_beside_adds_decimals_only_where_one_would_cross_a_line() -> None:
    lines = [Decimal(40), Decimal(42)]
    assert percent_beside(Decimal("39.96"), lines) == "39.96%"
    assert percent_beside(Decimal("41.96"), lines) == "41.96%"  # held in breach: not "42.0%", the recovery line
    assert percent_beside(Decimal("39.9999999"), lines) == "39.9999%"
    assert percent_beside(Decimal("35.25"), lines) == "35.3%"  # as percent() everywhere else
    assert percent_beside(Decimal("40"), lines) == "40.0%"
    assert percent_beside(None, lines) == "n/a"
    assert percent(Decimal("39.96")) == "40.0%"  # percent() itself is unchanged


# ---------------------------------------------------------------- r3: dollars at stake rank within a kind


def test_a_large_breach_headlines_and_is_detailed_before_tiny_revenue_subjects(rt: Runtime, tmp_path: Path) -> None:
    runs = [Run("bigco", "agent", WINDOW_START, 30, 1000, Decimal("650.00"))]  # $30,000 at 35%: $1,500 short
    contracts = [("bigco", "Big Co", "agent")]
    for i in range(21):  # $1 of revenue against $5 of COGS: -400%, $4.60 short
        runs.append(Run(f"tiny{i:02}", "agent", WINDOW_START + timedelta(days=29), 1, 1, Decimal("5.00")))
        contracts.append((f"tiny{i:02}", f"Tiny {i}", "agent"))
    load(rt, tmp_path, runs, contracts)
    run = check_alerts(rt, as_of=NOW)
    assert [e.observation.key for e in run.events[:3]] == ["agent", "bigco", "tiny00"]
    big = next(e for e in run.events if e.observation.key == "bigco")
    assert big.report is not None  # among the detailed subjects: its cost driver is named
    assert alert_text(run.messages[0].payload).startswith("Margin alerts (1/2). New breach: agent 34.7%, Big Co 35.0%")


# ---------------------------------------------------------------- r6: a usage source that lags holds recoveries


def test_nothing_recovers_while_a_usage_source_has_not_synced_to_the_window_and_the_message_names_it(
    rt: Runtime, tmp_path: Path
) -> None:
    rt = Runtime(rt.settings.model_copy(update={"openai_admin_key": SecretStr("sk-admin-test")}), now_override=NOW)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], CONTRACTS[:1])
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"until": "2026-11-15T00:00:00Z"}, NOW)
    assert {e.kind for e in check_alerts(rt, as_of=NOW).events} == {"breach"}  # synced to the window's end
    # A month on, the margin is 50%, but the openai sync reached only Dec 1 (the window ends Dec 15).
    add_usage(rt, tmp_path, [Run("acme", "agent", NEXT_WINDOW, 30, 10, Decimal("5.00"))], tag="b")
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"until": "2026-12-01T00:00:00Z"}, NOW)
    run = check_alerts(rt, as_of=NOW + timedelta(days=30))
    assert {e.kind for e in run.events} == {"reminder"}
    assert "openai (synced to 2026-12-01 00:00 UTC)" in run.summary()
    payload = run.messages[0].payload
    assert payload["lagging_sources"] == [{"source": "openai", "synced_to": "2026-12-01T00:00:00+00:00"}]
    head = str(alert_message(payload)["blocks"][1])
    assert "usage from openai (synced to 2026-12-01 00:00 UTC) is not synced to the window's end" in head
    assert "held open: usage from openai" in _lines(run)[("customer", "acme", "reminder")]
    # Synced to the window's end: the 50% margin recovers.
    with rt.engine.begin() as conn:
        write_cursor(conn, "openai", {"until": "2026-12-15T00:00:00Z"}, NOW)
    run = check_alerts(rt, as_of=NOW + timedelta(days=30, hours=1))
    assert {e.kind for e in run.events} == {"recovered"}
