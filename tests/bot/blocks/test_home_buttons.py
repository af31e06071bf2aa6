"""The Home tab's rows carry the alert buttons: all four while an alert is open, who acted once someone did, Open
and What-if on the rest; and no row twice."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.blocks.alerts import ACK, OPEN, SNOOZE, WHATIF
from bot.blocks.home import home_view
from engine.alerts.threads import Shown
from tests.bot.blockkit import all_text, assert_valid_home
from tests.bot.blocks.test_answers import book, row


def actions(view: dict, ref: str) -> list[str]:
    block = next(b for b in view["blocks"] if b.get("block_id") == f"alert:{ref}")
    return [e["action_id"] for e in block["elements"]]


def test_home_rows_have_the_alert_buttons_and_say_who_acted() -> None:
    p = book([row("acme", "2000", "1484.73", "Acme Corp"), row("initech", "500", "250"), row("globex", "1000", "300")])
    at = datetime(2026, 11, 15, 14, 2, tzinfo=UTC)
    shown = {
        ("customer", "acme"): Shown(status="open"),
        ("customer", "initech"): Shown(status="acked", by="UPAT", at=at),
    }
    view = home_view(p, None, shown=shown, timezone="Europe/Paris")
    assert_valid_home(view)
    assert actions(view, "customer:acme") == [ACK, SNOOZE, OPEN, WHATIF]  # in breach, its alert open
    assert actions(view, "customer:initech") == [OPEN, WHATIF]  # acknowledged: nothing left to acknowledge
    assert actions(view, "customer:globex") == [OPEN, WHATIF]  # never alerted on
    assert "Acknowledged by <@UPAT> at 2026-11-15 15:02 CET" in all_text(view["blocks"])


def test_a_thousand_customers_in_breach_keep_the_home_tab_within_its_limits() -> None:
    p = book([row(f"c{i}", "100", "90", name="C" * 150) for i in range(1000)])
    view = home_view(p, None, shown={("customer", f"c{i}"): Shown(status="open") for i in range(1000)})
    assert_valid_home(view)
    assert "and 992 more" in all_text(view["blocks"])
