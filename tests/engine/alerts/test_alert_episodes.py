"""Where one episode ends and the next begins: what a kind change, a subject with nothing left in the window, a
fraction of a cent of revenue and a breach after a recovery (with unpriced usage still flagged) are told as. Each test
fails without its fix."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.alerts.evaluate import at_stake, check_alerts, decide, observe
from engine.alerts.state import ActionRefused, Level, State, acknowledge, load_states
from engine.ingest.files import import_usage_file
from engine.reports.figures import Figures, Thresholds
from engine.reports.portfolio import PortfolioRow
from engine.runtime import Runtime
from engine.vocab import SubjectKind
from tests.conftest import NOW
from tests.engine.alerts.book import WINDOW_START, Run, add_usage, load, observation

ARGS = {"remind_after": timedelta(days=7), "breach_pct": Decimal(40)}
LATER = NOW + timedelta(days=30)
NEXT_WINDOW = WINDOW_START + timedelta(days=30)


def _threads(rt: Runtime, subject: str) -> list[tuple[str, object, str]]:
    with rt.connect() as conn:
        rows = conn.execute(
            text("SELECT root_key, closed_at, outcome FROM alert_thread WHERE subject = :s ORDER BY opened_at"),
            {"s": subject},
        )
        return [(r.root_key, r.closed_at, r.outcome) for r in rows]


def _channels(rt: Runtime) -> Runtime:
    return Runtime(rt.settings.model_copy(update={"alert_channels": ["C1"]}), now_override=rt.now())


def test_a_fraction_of_a_cent_of_revenue_is_cost_without_revenue_not_a_margin() -> None:
    now = Figures(revenue=Decimal("0.004"), cogs=Decimal("7.50"), events=10, thresholds=Thresholds())
    row = PortfolioRow(kind=SubjectKind.CUSTOMER, key="c1", name="C1", current=now, previous=now)
    seen = observe(row, Thresholds())
    assert now.margin_pct is not None and now.margin_pct < -100_000  # what it would have been judged on
    assert seen.level is Level.NO_REVENUE
    assert at_stake(seen) == Decimal("7.50")  # all of the COGS, as for no revenue at all
    # Half a cent shows as $0.01: a margin (a breach) from there on.
    cent = Figures(revenue=Decimal("0.005"), cogs=Decimal("7.50"), events=10, thresholds=Thresholds())
    assert observe(PortfolioRow(kind=SubjectKind.CUSTOMER, key="c1", name="C1", current=cent, previous=cent),
                   Thresholds()).level is Level.BREACH  # fmt: skip


def test_a_margin_exactly_on_the_recovery_line_recovers_though_its_revenue_has_many_digits() -> None:
    # 7 days of a $1,000 monthly fee, $233.33…, on $140 of COGS is exactly 40%, which the revenue's 28 digits make
    # 39.99…9%. With a 38% line, 40% is the recovery line: decide judges the margin as observe and the status do (to
    # 18 places), so the breach recovers; on the unjudged margin it would stay inside the hysteresis band.
    week = Figures(revenue=Decimal(1000) * 7 / 30, cogs=Decimal(140), events=100, thresholds=Thresholds())
    assert week.margin_pct is not None and week.margin_pct < 40 and week.judged_margin_pct == 40
    prev = State(status=Level.BREACH, since=NOW, last_posted_at=NOW, raw_detail="{}")
    seen = observation(week.revenue, week.cogs, level=Level.OK)  # at or above 38%, as observe() judges it
    at = NOW + timedelta(days=1)
    new, events = decide(prev, seen, as_of=at, remind_after=ARGS["remind_after"], breach_pct=Decimal(38))
    assert events == ["recovered"] and new.status is Level.OK
    assert new.last_margin_pct == Decimal(40) and "held" not in new.detail
    # A cent of COGS more is under the recovery line: still a breach, inside the band.
    under = observation(week.revenue, Decimal("140.01"), level=Level.OK)
    still, said = decide(prev, under, as_of=at, remind_after=ARGS["remind_after"], breach_pct=Decimal(38))
    assert still.status is Level.BREACH and "recovered" not in said


def test_cost_without_revenue_turning_into_a_breach_is_announced_and_needs_its_own_acknowledgement() -> None:
    prev = State(status=Level.NO_REVENUE, since=NOW, last_posted_at=NOW, raw_detail="{}", acked_by="U1", acked_at=NOW)
    at = NOW + timedelta(days=1)
    new, events = decide(prev, observation(Decimal(100), Decimal(70)), as_of=at, **ARGS)  # 30%
    assert events == ["breach"]
    assert (new.status, new.since, new.last_posted_at, new.acked_by) == (Level.BREACH, at, at, "")


def test_a_subject_with_nothing_left_in_the_window_is_closed_as_gone_quiet_in_its_thread(
    rt: Runtime, tmp_path: Path
) -> None:
    import json

    from bot.blocks.alerts import alert_message
    from engine.alerts.threads import Shown

    rt = _channels(rt)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [("acme", "Acme", "agent")])
    assert {(e.observation.key, e.kind) for e in check_alerts(rt, as_of=NOW).events} >= {("acme", "breach")}
    with rt.engine.begin() as conn:
        acknowledge(conn, "customer", "acme", user="U1", at=NOW)
    # Its contract ends and its usage stops with the first window: nothing is at stake. It was left open for good
    # (no reminder ever due, its Acknowledge and Snooze buttons live); the episode is now closed, saying why.
    with rt.engine.begin() as conn:
        conn.execute(text('UPDATE contract SET "end" = :d'), {"d": NEXT_WINDOW - timedelta(days=1)})
    run = check_alerts(rt, as_of=LATER)
    (quiet,) = [e for e in run.events if e.observation.key == "acme"]
    assert (quiet.kind, quiet.since, quiet.report) == ("quiet", NOW, None)  # the episode it closes, since then
    ((root, closed, outcome),) = _threads(rt, "acme")
    assert (closed is not None, outcome) == (True, "quiet")
    (reply,) = [m for m in run.messages if m.reply_to == root]
    assert reply.payload["refresh_roots"] == [root]  # the root's buttons go
    body = json.dumps(alert_message(json.loads(json.dumps(reply.payload, default=str)))["blocks"])
    assert "Gone quiet" in body and "no usage and no revenue in the last 30 days" in body
    assert "alert_acknowledge" not in body  # nothing left to act on: no buttons
    root_payload = next(m.payload for m in check_alerts(rt, as_of=NOW, dry_run=True).messages)
    shown = {("customer", "acme"): Shown(status="quiet", at=LATER)}
    assert "Closed" in json.dumps(alert_message(json.loads(json.dumps(root_payload, default=str)), shown)["blocks"])
    with rt.connect() as conn:
        state = load_states(conn)[("customer", "acme")]
    assert (state.status, state.acked_by, state.is_open) == (Level.OK, "", False)
    # A click on the old root's button (a client that did not redraw it yet) is told why there is nothing to act on.
    with rt.engine.connect() as conn, pytest.raises(ActionRefused, match="went quiet"):
        acknowledge(conn, "customer", "acme", user="U2", at=LATER)
    # Thirty days more: nothing in this window nor the one before, so acme is not in the book; nothing more is said.
    run = check_alerts(rt, as_of=LATER + timedelta(days=30))
    assert "acme" not in {e.observation.key for e in run.events}
    assert all(m.payload["type"] != "alert_refresh" for m in run.messages)


def test_an_open_subject_the_book_no_longer_holds_at_all_is_closed_as_gone_quiet(rt: Runtime, tmp_path: Path) -> None:
    rt = _channels(rt)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [("acme", "Acme", "agent")])
    check_alerts(rt, as_of=NOW)
    with rt.engine.begin() as conn:
        conn.execute(text('UPDATE contract SET "end" = :d'), {"d": NEXT_WINDOW - timedelta(days=1)})
    # No check ran for two windows: acme has nothing in this one or the one before, so no portfolio row.
    run = check_alerts(rt, as_of=LATER + timedelta(days=30))
    assert [(e.kind, e.observation.name) for e in run.events if e.observation.key == "acme"] == [("quiet", "Acme")]
    ((_, closed, outcome),) = _threads(rt, "acme")
    assert (closed is not None, outcome) == (True, "quiet")
    # The next check has nothing more to say of it.
    assert check_alerts(rt, as_of=LATER + timedelta(days=31)).events == []


def test_gone_quiet_needs_nothing_at_all_in_the_window_and_no_lagging_source() -> None:
    breach = State(status=Level.BREACH, since=NOW, last_posted_at=NOW, raw_detail="{}", acked_by="U1", acked_at=NOW)
    at = NOW + timedelta(days=40)
    nothing = observation(Decimal(0), Decimal(0), events=1, level=Level.IDLE)
    nothing.current = Figures(revenue=Decimal(0), cogs=Decimal(0), events=0, thresholds=Thresholds())
    new, events = decide(breach, nothing, as_of=at, **ARGS)
    assert (events, new.status, new.since, new.last_posted_at, new.acked_by) == (["quiet"], Level.OK, at, at, "")
    # A usage source not synced to the window's end: its usage may be what is missing. Held as it was.
    new, events = decide(breach, nothing, as_of=at, lagging=True, **ARGS)
    assert (events, new.status, new.acked_by) == ([], Level.BREACH, "U1")
    # Usage with no price has no COGS: not quiet, and not a recovery either.
    unpriced = observation(Decimal(0), Decimal(0), events=5, unpriced=5, level=Level.IDLE)
    new, events = decide(breach, unpriced, as_of=at, **ARGS)
    assert (events, new.status) == (["unpriced"], Level.BREACH)
    # A fraction of a cent of revenue (a contract starting in the window's last hour) is not nothing.
    cent = observation(Decimal("0.004"), Decimal(0), events=1, level=Level.IDLE)
    cent.current = Figures(revenue=Decimal("0.004"), cogs=Decimal(0), events=0, thresholds=Thresholds())
    assert decide(breach, cent, as_of=at, **ARGS)[1] == []
    # A flag of unpriced usage left up after a recovery ends with a word too; a trend to breach ends silently.
    flagged = State(status=Level.OK, since=NOW, detail={"unpriced_since": NOW.isoformat()}, raw_detail="{}")
    new, events = decide(flagged, nothing, as_of=at, **ARGS)
    assert (events, new.is_open) == (["quiet"], False)
    watch = State(status=Level.WATCH, since=NOW, raw_detail="{}")
    new, events = decide(watch, nothing, as_of=at, **ARGS)
    assert (events, new.status, new.is_open) == ([], Level.OK, False)


def test_a_breach_after_a_recovery_starts_its_own_thread_while_unpriced_usage_kept_the_old_one_open(
    rt: Runtime, tmp_path: Path
) -> None:
    rt = _channels(rt)
    # Window 1: a breach (30%), with 2 of 32 events unpriced (flagged).
    runs = [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))]
    load(rt, tmp_path, runs, [("acme", "Acme", "agent")], unpriced={"acme": 2})
    assert {e.kind for e in check_alerts(rt, as_of=NOW).events if e.observation.key == "acme"} == {
        "breach",
        "unpriced",
    }
    # Window 2: 50% on 150 priced events, and 1 unpriced: 0.66%, under the 1% that holds a recovery back and over
    # the 0.5% that clears the flag. It recovers, and the flag keeps its thread open.
    for k in range(5):
        add_usage(rt, tmp_path, [Run("acme", "agent", NEXT_WINDOW, 30, 2, Decimal("1.00"), feature=f"f{k}")],
                  tag=f"b{k}")  # fmt: skip
    one = tmp_path / "one-unpriced.csv"
    one.write_text(
        "event_id,ts,customer,product,feature,provider,model,requests,input_tokens,output_tokens\n"
        f"u1,{NEXT_WINDOW}T13:00:00Z,acme,agent,answer,acme-labs,mystery-1,0,1000,200\n"
    )
    import_usage_file(rt.engine, one, prices=rt.prices, timezone=rt.settings.timezone)
    recovered = check_alerts(rt, as_of=LATER)
    assert {e.kind for e in recovered.events if e.observation.key == "acme"} == {"recovered"}
    with rt.connect() as conn:
        state = load_states(conn)[("customer", "acme")]
    assert state.status is Level.OK and state.detail.get("unpriced_since")  # the flag still keeps a thread open
    ((first_root, closed, _),) = _threads(rt, "acme")
    assert closed is None
    # Window 3: a new breach. It is announced at the top level, and the old thread is closed and its root updated.
    third = LATER + timedelta(days=30)
    add_usage(rt, tmp_path, [Run("acme", "agent", NEXT_WINDOW + timedelta(days=30), 30, 10, Decimal("7.50"))],
              tag="c")  # fmt: skip
    run = check_alerts(rt, as_of=third)
    acme = [m for m in run.messages if any(e["subject"] == "acme" for e in m.payload["events"])]
    assert acme and all(m.reply_to == "" for m in acme)
    assert any(first_root in m.payload.get("refresh_roots", []) for m in run.messages)
    threads = _threads(rt, "acme")
    assert [(root == first_root, closed is not None) for root, closed, _ in threads] == [(True, True), (False, False)]


def test_unpriced_usage_still_flagged_when_a_new_breach_begins_is_flagged_again_in_the_new_episode() -> None:
    # Recovered a month ago with the flag up (its thread kept open by it); the new breach starts a thread of its own
    # and closes that one, so the flag is raised again as the new episode's, dated from it.
    old = NOW - timedelta(days=30)
    flag = {"unpriced_since": old.isoformat(), "unpriced_posted_at": old.isoformat()}
    prev = State(status=Level.OK, since=old, last_posted_at=old, detail=dict(flag), raw_detail="{}")
    new, events = decide(prev, observation(Decimal(100), Decimal(70), unpriced=2), as_of=NOW, **ARGS)  # 30%, 2%
    assert events == ["breach", "unpriced"]
    assert (new.stamp("unpriced_since"), new.stamp("unpriced_posted_at")) == (NOW, NOW)
    # Under the 1% that raises a flag, the old one ends with its episode rather than live on in the new one.
    new, events = decide(prev, observation(Decimal(100), Decimal(70), unpriced=0), as_of=NOW, **ARGS)
    assert (events, new.detail.get("unpriced_since")) == (["breach"], None)
    # The same episode going on keeps its flag and says nothing of it again.
    going = State(status=Level.BREACH, since=old, last_posted_at=NOW, detail=dict(flag), raw_detail="{}")
    new, events = decide(going, observation(Decimal(100), Decimal(70), unpriced=2), as_of=NOW, **ARGS)
    assert (events, new.stamp("unpriced_since")) == ([], old)


def test_a_fraction_of_a_cent_of_revenue_shows_no_margin_in_the_message_nor_now_earning() -> None:
    import json

    from bot.blocks.alerts import alert_message, alert_text
    from engine.alerts.evaluate import AlertEvent, AlertKind

    now = Figures(revenue=Decimal("0.004"), cogs=Decimal("7.50"), events=10, thresholds=Thresholds())
    seen = observe(
        PortfolioRow(kind=SubjectKind.CUSTOMER, key="c1", name="C1", current=now, previous=now), Thresholds()
    )
    first, _ = decide(State(), seen, as_of=NOW, **ARGS)
    later, kinds = decide(first, seen, as_of=NOW + timedelta(days=8), **ARGS)
    assert kinds == ["reminder"]

    def payload(kind: AlertKind, state: State) -> dict[str, object]:
        event = AlertEvent(kind=kind, observation=seen, since=state.since, state=state.status).as_dict()
        return {"type": "alerts", "as_of": NOW.isoformat(), "timezone": "UTC", "window_days": 30,
                "period": {"label": "last 30 days", "start": "2026-10-16", "end": "2026-11-14"}, "breach_pct": "40",
                "recover_pct": "42", "thread": False, "broadcast": False, "refresh_roots": [], "lagging_sources": [],
                "events": [json.loads(json.dumps(event, default=str))], "part": [1, 1]}  # fmt: skip

    # It read "Cost without revenue: C1 -187400.0%", then "cost without revenue since …, now earning: margin
    # *-187400.0%*".
    assert "%" not in alert_text(payload(AlertKind.NO_REVENUE, first)).split(":", 1)[1]
    reminder = json.dumps(alert_message(payload(AlertKind.REMINDER, later))["blocks"])
    assert "now earning" not in reminder and "187" not in reminder


def test_a_change_of_kind_re_renders_the_root_that_showed_the_old_acknowledgement(rt: Runtime, tmp_path: Path) -> None:
    rt = _channels(rt)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [("acme", "Acme", "agent")])
    check_alerts(rt, as_of=NOW)
    ((root, _, _),) = _threads(rt, "acme")
    with rt.engine.connect() as conn:
        acknowledge(conn, "customer", "acme", user="U1", at=NOW)
    with rt.engine.begin() as conn:
        conn.execute(text('UPDATE contract SET "end" = :d'), {"d": NEXT_WINDOW - timedelta(days=1)})
    # The contract ends with the first window and the usage goes on: cost without revenue, no longer acknowledged.
    add_usage(rt, tmp_path, [Run("acme", "agent", NEXT_WINDOW, 30, 10, Decimal("7.00"))], tag="b")
    run = check_alerts(rt, as_of=LATER)
    assert ("acme", "no_revenue") in {(e.observation.key, e.kind) for e in run.events}
    with rt.connect() as conn:
        assert load_states(conn)[("customer", "acme")].acked_by == ""
    # The root said "Acknowledged by <@U1>": it is shown again as it stands now.
    assert root in [r for m in run.messages for r in m.payload.get("refresh_roots", [])]


def test_a_customer_whose_usage_moved_to_another_is_closed_as_moved_not_gone_quiet(rt: Runtime, tmp_path: Path) -> None:
    import json

    from bot.blocks.alerts import alert_message, status_line
    from engine.alerts.threads import Shown
    from engine.ingest.contracts import import_contracts_file

    rt = _channels(rt)
    # Usage under an id no contract names yet: cost without revenue, announced.
    load(rt, tmp_path, [Run("initech-labs", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [])
    announced = {(e.observation.kind, e.observation.key, e.kind) for e in check_alerts(rt, as_of=NOW).events}
    assert ("customer", "initech-labs", "no_revenue") in announced
    # A contract names that id as Initech's alias: the contracts import moves its usage to initech.
    (tmp_path / "alias.csv").write_text(
        "customer,customer_name,aliases,plan,start,platform_fee_usd\ninitech,Initech Inc,initech-labs,flat,2026-01-01,900\n"
    )
    import_contracts_file(rt.engine, tmp_path / "alias.csv")
    run = check_alerts(rt, as_of=NOW + timedelta(hours=1))
    (moved,) = [e for e in run.events if e.observation.key == "initech-labs"]
    assert (moved.kind, moved.since, moved.observation.moved_to) == ("moved", NOW, ("initech", "Initech Inc"))
    ((root, closed, outcome),) = _threads(rt, "initech-labs")
    assert (closed is not None, outcome) == (True, "moved")
    (reply,) = [m for m in run.messages if m.reply_to == root]
    payload = json.loads(json.dumps(reply.payload, default=str))
    assert [(e["kind"], e["moved_to"]) for e in payload["events"] if e["subject"] == "initech-labs"] == [
        ("moved", {"customer": "initech", "name": "Initech Inc"})
    ]
    body = json.dumps(alert_message(payload)["blocks"])
    assert "Moved" in body and "now counted as *Initech Inc*'s" in body
    assert "Gone quiet" not in body and "no usage and no revenue" not in body
    assert "another customer's" in (status_line(Shown(status="moved", at=NOW), payload) or "")
    # Nothing more is said of it.
    assert "initech-labs" not in {e.observation.key for e in check_alerts(rt, as_of=NOW + timedelta(hours=2)).events}


def test_a_reminder_once_a_snooze_has_ended_draws_its_root_again_with_its_buttons(rt: Runtime, tmp_path: Path) -> None:
    import json

    from bot.blocks.alerts import alert_message
    from engine.alerts.state import snooze
    from engine.alerts.threads import shown

    rt = _channels(rt)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [("acme", "Acme", "agent")])
    first = check_alerts(rt, as_of=NOW)
    assert {(e.observation.key, e.kind) for e in first.events} >= {("acme", "breach")}
    with rt.engine.begin() as conn:
        snooze(conn, "customer", "acme", user="U1", at=NOW, days=7)
    ((root, _, _),) = _threads(rt, "acme")
    # Eight days on, the snooze is over and the breach goes on: the reminder comes in the thread, and the root, which
    # read "Snoozed by U1 until" a day gone by with no buttons, is drawn again from the state: its buttons are back.
    later = NOW + timedelta(days=8)
    run = check_alerts(rt, as_of=later)
    (reply,) = [m for m in run.messages if m.reply_to == root]
    assert {(e["subject"], e["kind"]) for e in reply.payload["events"]} >= {("acme", "reminder")}
    assert reply.payload["refresh_roots"] == [root]
    root_payload = next(m.payload for m in first.messages if m.dedupe_key == root)
    with rt.connect() as conn:
        now_shown = shown(conn, root, [("customer", "acme")], now=later)
    body = json.dumps(alert_message(json.loads(json.dumps(root_payload, default=str)), now_shown)["blocks"])
    assert "Snoozed" not in body and "alert_acknowledge" in body


def test_a_snooze_on_an_acknowledged_alert_changes_nothing_and_says_whose_acknowledgement_stands(
    rt: Runtime, tmp_path: Path
) -> None:
    from engine.alerts.state import snooze

    rt = _channels(rt)
    load(rt, tmp_path, [Run("acme", "agent", WINDOW_START, 30, 10, Decimal("7.00"))], [("acme", "Acme", "agent")])
    check_alerts(rt, as_of=NOW)
    with rt.engine.connect() as conn:
        assert acknowledge(conn, "customer", "acme", user="U1", at=NOW).changed
    # A Snooze from a copy drawn before the acknowledgement was saved beside it, unseen, and nobody was told.
    with rt.engine.connect() as conn:
        result = snooze(conn, "customer", "acme", user="U2", at=NOW, days=30)
    assert not result.changed and result.state.acked_by == "U1"  # the listener says "Already acknowledged by U1"
    with rt.connect() as conn:
        state = load_states(conn)[("customer", "acme")]
    assert (state.acked_by, state.snoozed_by, state.snoozed_until) == ("U1", "", None)
