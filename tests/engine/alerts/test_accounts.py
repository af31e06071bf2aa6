"""Owners and a customer's own line in alerts: judged against its own breach line (and its own recovery line),
its owners named in what is queued. The book is tests/engine/alerts/accounts_book.py."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from engine.alerts.evaluate import check_alerts
from engine.runtime import Runtime
from tests.conftest import NOW
from tests.engine.alerts.accounts_book import load_accounts
from tests.engine.alerts.book import Run, add_usage


def test_each_customer_is_judged_against_its_own_line_and_says_so(rt: Runtime, tmp_path: Path) -> None:
    load_accounts(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW)
    customers = {e.observation.key: e for e in run.events if e.observation.kind == "customer"}
    assert set(customers) == {"strict", "plain", "owned"}
    strict = customers["strict"].as_dict()
    assert (strict["kind"], strict["margin_pct"], strict["breach_pct"], strict["recover_pct"], strict["own_bands"]) == (
        "breach", "45.00", "50", "52", True
    )  # fmt: skip
    plain = customers["plain"].as_dict()
    assert (plain["breach_pct"], plain["recover_pct"], plain["own_bands"]) == ("40", "42", False)


def test_owners_are_named_in_what_is_queued(rt: Runtime, tmp_path: Path) -> None:
    load_accounts(rt, tmp_path)
    run = check_alerts(rt, as_of=NOW)
    [message] = [m for m in run.messages if m.channel == "CALERTS"]
    owners = {e["subject"]: e["owners"] for e in message.payload["events"]}
    assert owners["owned"] == ["U012PAT", "W045SAM"] and owners["plain"] == []


def test_a_customer_recovers_only_above_its_own_line_plus_the_band(rt: Runtime, tmp_path: Path) -> None:
    load_accounts(rt, tmp_path)
    check_alerts(rt, as_of=NOW)
    # The next 30 days at 51%: above its line of 50 but inside the 2-point band: still a breach.
    add_usage(rt, tmp_path, [Run("strict", "app", date(2026, 11, 15), 30, 10, Decimal("4.90"))], tag="b")
    second = NOW + timedelta(days=30)
    run = check_alerts(rt, as_of=second)
    assert {(e.observation.key, e.kind) for e in run.events if e.observation.key == "strict"} == {
        ("strict", "reminder")
    }
    # Then at 52.5%: recovered.
    add_usage(rt, tmp_path, [Run("strict", "app", date(2026, 12, 15), 30, 10, Decimal("4.75"))], tag="c")
    run = check_alerts(rt, as_of=second + timedelta(days=30))
    assert ("strict", "recovered") in {(e.observation.key, e.kind) for e in run.events}
