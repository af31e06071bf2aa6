"""Alert evaluation and the state machine, on the hand-built book (tests/engine/alerts/book.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import json
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from config.settings import Settings
from engine.alerts.evaluate import Observation, _attach_reports, check_alerts, decide
from engine.alerts.state import Level, State, load_states, save_state
from engine.money import CENT, round_to
from engine.periods import Period
from engine.reports.figures import Figures, Thresholds
from engine.reports.portfolio import portfolio
from engine.reports.serialize import report_to_dict
from engine.runtime import Runtime
from engine.vocab import SubjectKind
from tests.conftest import NOW
from tests.engine.alerts.book import (
    CONTRACTS,
    EXPECTED,
    WINDOW_START,
    Run,
    add_usage,
    load,
    load_book,
    observation,
)


def _events(run: object) -> set[tuple[str, str, str]]:
    return {(e.observation.kind, e.observation.key, e.kind) for e in run.events}  # type: ignore[attr-defined]


def _outbox(rt: Runtime) -> list[tuple[str, str, dict]]:
    with rt.connect() as conn:
        rows = conn.execute(text("SELECT channel, kind, payload FROM outbox ORDER BY id")).all()
    return [(c, k, json.loads(p)) for c, k, p in rows]


def test_alerts_name_exactly_the_subjects_hand_computed_to_need_attention(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW)
    assert run.period == Period(date(2026, 10, 16), date(2026, 11, 14), "last 30 days")
    assert _events(run) == EXPECTED
    queued = _outbox(rt)
    assert [(c, k) for c, k, _ in queued] == [("CALERTS", "alerts"), ("COPS", "alerts")]
    events = {(e["subject_kind"], e["subject"], e["kind"]): e for e in queued[0][2]["events"]}
    assert set(events) == EXPECTED
    acme = events[("customer", "acme", "breach")]
    assert (acme["name"], acme["margin_pct"], acme["revenue_usd"], acme["cogs_usd"]) == (
        "Acme Corp", "30.00", "300.00", "210.00"
    )  # fmt: skip
    assert (acme["previous_revenue_usd"], acme["previous_cogs_usd"], acme["previous_margin_pct"]) == (
        "300.00", "60.00", "80.00"
    )  # fmt: skip
    assert acme["driver"] == "gpt-4o on agent-run +$150.00 (×3.5)"  # $210 against $60
    search = events[("product", "search", "breach")]
    assert (search["margin_pct"], search["revenue_usd"], search["cogs_usd"]) == ("31.00", "300.00", "207.00")
    assert events[("customer", "dunder", "no_revenue")]["cogs_usd"] == "90.00"
    unpriced = events[("customer", "echo", "unpriced")]
    assert (unpriced["unpriced_events"], unpriced["events"], unpriced["unpriced_models"]) == (
        2, 32, ["acme-labs/mystery-1"]
    )  # fmt: skip
    trending = events[("customer", "fox", "trending_to_breach")]
    assert trending["margin_pct"] == "65.35"
    assert Decimal(trending["trend"]["slope_pts_per_day"]) == Decimal("-1.70")
    assert Decimal(trending["trend"]["projected_pct"]) < 40
    exact = Decimal(trending["trend"]["exact"]["projected_pct"])  # what the message rounds once
    assert round_to(exact, CENT) == Decimal(trending["trend"]["projected_pct"])
    # The fitted line is still above 40% on Nov 14 (40.7%): it is on course to cross the next day, read off the fit.
    assert (trending["trend"]["crosses_on"], trending["trend"]["crossed"]) == ("2026-11-15", False)


def test_a_customers_report_is_the_same_with_or_without_products_reported_beside_it(
    rt: Runtime, tmp_path: Path
) -> None:
    # With customers alone among the subjects reported on, only their revenue lines are written up (a product's
    # report needs every line): each customer's report must be the one it gets among products.
    load_book(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW, dry_run=True)
    mixed = {(e.observation.kind, e.observation.key): e.report for e in run.events}
    assert any(kind is SubjectKind.PRODUCT for kind, _ in mixed) and all(mixed.values())
    customers = [replace(e, report=None) for e in run.events if e.observation.kind is SubjectKind.CUSTOMER]
    with rt.connect() as conn:
        book = portfolio(conn, run.period, thresholds=rt.thresholds)
        _attach_reports(conn, rt, book, customers)
    assert book.revenue is not None and book.revenue._lines is None  # the book's every line was never written up
    for event in customers:
        alone = event.report
        assert alone is not None
        among = mixed[(event.observation.kind, event.observation.key)]
        assert among is not None
        assert report_to_dict(alone) == report_to_dict(among), event.observation.key


def test_alert_is_not_repeated_on_second_run_nor_after_a_restart(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    assert _events(check_alerts(rt, as_of=NOW)) == EXPECTED
    assert check_alerts(rt, as_of=NOW).events == []
    assert check_alerts(rt, as_of=NOW + timedelta(hours=1)).events == []
    restarted = Runtime(rt.settings, now_override=NOW + timedelta(hours=2))
    assert check_alerts(restarted).events == []
    assert len(_outbox(rt)) == 2  # the first run's message, once per channel


def test_dry_run_records_and_queues_nothing(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    dry = check_alerts(rt, as_of=NOW, dry_run=True)
    assert _events(dry) == EXPECTED and [m.channel for m in dry.messages] == ["CALERTS", "COPS"]
    assert _outbox(rt) == []
    with rt.connect() as conn:
        assert load_states(conn) == {}
    assert _events(check_alerts(rt, as_of=NOW)) == EXPECTED


def test_a_check_leaves_the_garbage_collector_running_as_it_found_it(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    assert gc.isenabled()
    assert _events(check_alerts(rt, as_of=NOW, dry_run=True)) == EXPECTED
    assert gc.isenabled()


def test_without_alert_channels_nothing_is_recorded_so_nothing_is_lost(settings: Settings, tmp_path: Path) -> None:
    rt = Runtime(settings, now_override=NOW)
    load_book(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW)
    assert _events(run) == EXPECTED and not run.recorded and run.messages == []
    assert "MARGINBOT_ALERT_CHANNELS is empty" in run.summary()
    with rt.connect() as conn:
        assert load_states(conn) == {}


def test_a_persisting_breach_is_reminded_after_the_remind_interval_only(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    check_alerts(rt, as_of=NOW)
    assert check_alerts(rt, as_of=NOW + timedelta(days=3)).events == []
    run = check_alerts(rt, as_of=NOW + timedelta(days=7))
    # The window is now 2026-10-23 .. 2026-11-21: the same daily rates, so the same subjects are still bad;
    # echo's two unpriced events fell out of the window (cleared without a message).
    assert _events(run) == {
        ("customer", "acme", "reminder"),
        ("customer", "dunder", "reminder"),
        ("product", "search", "reminder"),
    }
    acme = next(e for e in run.events if e.observation.key == "acme")
    assert acme.since == NOW and acme.state == "breach"
    assert check_alerts(rt, as_of=NOW + timedelta(days=10)).events == []
    assert {e.observation.key for e in check_alerts(rt, as_of=NOW + timedelta(days=14)).events} == {
        "acme", "dunder", "search"
    }  # fmt: skip


def test_recovery_needs_the_hysteresis_band_41_is_not_enough_42_5_is(rt: Runtime, tmp_path: Path) -> None:
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], CONTRACTS[:1])
    assert _events(check_alerts(rt, as_of=NOW)) == {("customer", "acme", "breach"), ("product", "agent", "breach")}

    # Next 30 days at 41%: above the 40% line but inside the 2-point band, so still a breach (a reminder).
    second = NOW + timedelta(days=30)
    add_usage(rt, tmp_path, [Run("acme", "agent", date(2026, 11, 15), 30, 10, Decimal("5.90"))], tag="b")
    run = check_alerts(rt, as_of=second)
    assert {e.kind for e in run.events} == {"reminder"}
    assert run.events[0].observation.current.margin_pct == Decimal(41)
    with rt.connect() as conn:
        assert load_states(conn)[("customer", "acme")].status == "breach"

    # Next 30 days at 42.5%: recovered, announced once.
    third = second + timedelta(days=30)
    add_usage(rt, tmp_path, [Run("acme", "agent", date(2026, 12, 15), 30, 10, Decimal("5.75"))], tag="c")
    run = check_alerts(rt, as_of=third)
    assert _events(run) == {("customer", "acme", "recovered"), ("product", "agent", "recovered")}
    assert run.events[0].observation.current.margin_pct == Decimal("42.5")
    assert check_alerts(rt, as_of=third + timedelta(days=8)).events == []


def _obs(margin: str | None, *, revenue: str = "100", events: int = 10, unpriced: int = 0) -> Observation:
    rev = Decimal(revenue) if margin is not None else Decimal(0)
    cogs = rev * (100 - Decimal(margin)) / 100 if margin is not None else Decimal(5)
    return observation(rev, cogs, events=events, unpriced=unpriced, previous=Figures(thresholds=Thresholds()))


@pytest.mark.parametrize(
    ("before", "margin", "expected_events", "expected_status"),
    [
        ("ok", "39.99", ["breach"], "breach"),
        ("ok", "40.00", [], "ok"),
        ("breach", "39.00", [], "breach"),  # reminded only after the interval
        ("breach", "40.50", [], "breach"),  # hovering at the line does not flap
        ("breach", "41.99", [], "breach"),
        ("breach", "42.00", ["recovered"], "ok"),
        ("no_revenue", "50.00", ["recovered"], "ok"),
        ("watch", "39.00", ["breach"], "breach"),
        ("ok", None, ["no_revenue"], "no_revenue"),
        ("breach", None, ["no_revenue"], "no_revenue"),  # other news: the revenue stopped
        ("no_revenue", "35.00", ["breach"], "breach"),  # other news: earning, under the line
    ],
)
def test_decide_moves_a_subject_through_its_states(
    before: str, margin: str | None, expected_events: list[str], expected_status: str
) -> None:
    prev = State(status=Level(before), since=NOW, last_posted_at=NOW, raw_detail="{}")
    new, events = decide(
        prev, _obs(margin), as_of=NOW + timedelta(hours=1), remind_after=timedelta(days=7), breach_pct=Decimal(40)
    )
    assert (events, new.status) == (expected_events, expected_status)


def test_unpriced_usage_is_flagged_once_and_cleared_under_half_the_share() -> None:
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    state, events = decide(State(), _obs("60", events=100, unpriced=1), as_of=NOW, **args)
    assert events == ["unpriced"]
    state, events = decide(state, _obs("60", events=1000, unpriced=6), as_of=NOW + timedelta(hours=1), **args)
    assert events == [] and state.detail["unpriced_since"]  # 0.6%: under 1% but not under half of it
    state, events = decide(state, _obs("60", events=1000, unpriced=4), as_of=NOW + timedelta(hours=2), **args)
    assert events == [] and state.detail["unpriced_since"] is None
    assert decide(State(), _obs("60", events=1000, unpriced=9), as_of=NOW, **args)[1] == []


def test_unpriced_usage_is_not_cleared_but_closed_as_gone_quiet_in_a_window_without_usage() -> None:
    remind, line = timedelta(days=7), Decimal(40)
    flagged, _ = decide(State(), _obs("60", events=100, unpriced=2), as_of=NOW, remind_after=remind, breach_pct=line)
    # 45 days on, no usage in the window: no cost, no revenue, no event priced or unpriced. Not "cleared" (no usage
    # was priced), and not left open for good either: closed, saying the window holds nothing.
    idle = replace(_obs("60"), level=Level.IDLE, current=Figures(thresholds=Thresholds()), unpriced_share=Decimal(0))
    later = NOW + timedelta(days=45)
    state, events = decide(flagged, idle, as_of=later, remind_after=remind, breach_pct=line)
    assert events == ["quiet"] and state.detail["unpriced_since"] is None and not state.is_open
    # A usage source lagging leaves it as it was: the unsynced usage may be the unpriced part.
    state, events = decide(flagged, idle, as_of=later, remind_after=remind, breach_pct=line, lagging=True)
    assert events == [] and state.detail["unpriced_since"] == NOW.isoformat() and state.is_open


def test_an_idle_subjects_unpriced_alert_is_closed_as_gone_quiet_not_cleared(rt: Runtime, tmp_path: Path) -> None:
    load_book(rt, tmp_path)
    assert ("customer", "echo", "unpriced") in _events(check_alerts(rt, as_of=NOW))
    # 45 days on, nothing at all in the window: echo neither costs nor earns, so its flag's thread is closed as
    # gone quiet, in each channel, not rewritten to "Cleared".
    idle = check_alerts(rt, as_of=NOW + timedelta(days=45))
    assert [e.kind for e in idle.events if e.observation.key == "echo"] == ["quiet"]
    with rt.connect() as conn:
        echo = load_states(conn)[("customer", "echo")]
        threads = conn.execute(
            text("SELECT channel, outcome FROM alert_thread WHERE subject = 'echo' ORDER BY channel")
        ).all()
    assert echo.stamp("unpriced_since") is None and not echo.is_open
    assert [tuple(t) for t in threads] == [("CALERTS", "quiet"), ("COPS", "quiet")]
    # Nothing more is said of it on the next check.
    assert "echo" not in {e.observation.key for e in check_alerts(rt, as_of=NOW + timedelta(days=46)).events}


def test_a_margin_with_its_cogs_understated_by_unpriced_usage_does_not_recover_a_breach() -> None:
    """Traffic moved to a model with no price reads as a margin of 65%: the breach stays open, acknowledgement and
    all, until that usage is priced; then the margin can recover it."""
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    prev = State(status=Level.BREACH, since=NOW, last_posted_at=NOW, raw_detail="{}", acked_by="U1", acked_at=NOW)
    held, events = decide(prev, _obs("65", events=100, unpriced=50), as_of=NOW + timedelta(hours=1), **args)
    assert (events, held.status, held.acked_by) == (["unpriced"], "breach", "U1")
    priced, events = decide(held, _obs("65", events=100), as_of=NOW + timedelta(hours=2), **args)
    assert (events, priced.status) == (["recovered"], "ok")


def test_an_unpriced_flag_on_an_open_breach_keeps_its_reminder_due_on_time() -> None:
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    prev = State(status=Level.BREACH, since=NOW, last_posted_at=NOW, raw_detail="{}")
    flagged, events = decide(prev, _obs("30", events=100, unpriced=5), as_of=NOW + timedelta(days=5), **args)
    assert events == ["unpriced"] and flagged.last_posted_at == NOW
    _, events = decide(flagged, _obs("30", events=100, unpriced=5), as_of=NOW + timedelta(days=7), **args)
    assert events == ["reminder"]


def test_a_margin_past_what_alert_state_holds_is_stored_at_its_bound_and_the_check_goes_on(rt: Runtime) -> None:
    """$1 of revenue against $1,001 of COGS is a margin of -100,000%: PostgreSQL's NUMERIC(9, 4) refused it, and the
    refusal failed every subject's alerts in the same transaction."""
    args = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
    obs = replace(_obs("30"), current=Figures(revenue=Decimal(1), cogs=Decimal(1001), events=10))
    new, events = decide(State(), obs, as_of=NOW, **args)
    assert events == ["breach"]
    with rt.engine.begin() as conn:
        save_state(conn, "customer", "c1", "C1", State(), new)
    with rt.connect() as conn:
        assert load_states(conn)[("customer", "c1")].last_margin_pct == Decimal("-99999.9999")
