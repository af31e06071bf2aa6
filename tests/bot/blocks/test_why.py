"""The why and board-pack builders: whole answers within Slack's limits, names escaped, parts all listed."""

from __future__ import annotations

from pathlib import Path

from bot.blocks.report_pack import report_pack_message
from bot.blocks.why import why_message
from config.settings import Settings
from engine.periods import month
from engine.reports.bridge import margin_bridge
from engine.reports.pack import board_pack
from engine.vocab import SubjectKind
from tests.bot.blockkit import all_text, assert_valid_message
from tests.engine.reports.bridge_books import A_SEP, BASE, load, migrating, times

SNEAKY = "<!channel> Acme & Co"


def test_why_message_escapes_names_and_lists_every_part(settings: Settings, tmp_path: Path) -> None:
    contracts = [["acme", SNEAKY, "", "usage", "2026-01-01", "", "", "", "request", "0.05"]]
    rt = load(settings, tmp_path, september=BASE, october=[times(u, 2) for u in BASE], contracts=contracts)
    with rt.connect() as conn:
        bridge = margin_bridge(conn, SubjectKind.CUSTOMER, "acme", month(2026, 10), prices=rt.prices, timezone="UTC")
        pack = board_pack(conn, month(2026, 10), prices=rt.prices, timezone="UTC", thresholds=rt.thresholds)
    for answer in (why_message(bridge), report_pack_message(pack)):
        assert_valid_message(answer.text, answer.blocks)
        assert "<!channel>" not in answer.text + all_text(answer.blocks[1:])  # the header is plain text
    out = all_text(why_message(bridge).blocks)
    assert "&lt;!channel&gt; Acme &amp; Co" in out
    assert "metered volume  *+$100.00* · +8.4 pts margin" in out and "volume (requests)  *+$16.80* · -8.4 pts" in out
    assert "_no change: seats, billed revenue (invoice lines), contract changes (terms, days in force)_" in out
    assert "_no change: mix (models, features, products), price (rates and discounts), caching" in out


def test_why_message_says_whose_points_a_part_without_revenue_left_to(settings: Settings, tmp_path: Path) -> None:
    rt = migrating(settings, tmp_path)
    with rt.connect() as conn:
        bridge = margin_bridge(conn, SubjectKind.CUSTOMER, "mig", month(2026, 10), prices=rt.prices, timezone="UTC")
    answer = why_message(bridge)
    assert_valid_message(answer.text, answer.blocks)
    out = all_text(answer.blocks)
    assert "Gross margin *90.0%* → *95.0%* (+5.0 pts)" in out
    assert "metered volume  *-$200.00* · no revenue at this step: its points are under contract changes" in out
    assert "contract changes (terms, days in force)  *+$400.00* · +5.0 pts margin (includes metered volume's)" in out
    assert ":warning: metered volume leaves no revenue at its step, so no margin to count points from" in out


def test_why_message_says_what_each_side_did_to_gross_profit_by_its_sign(settings: Settings, tmp_path: Path) -> None:
    # Half the traffic (B stops) at $0.04 a request from October: revenue $100.00 → $40.00, COGS $16.80 → $16.00.
    # A fall of revenue read "Revenue -$60.00 (adds to gross profit)".
    contracts = [
        ["acme", "Acme Corp", "", "usage", "2026-01-01", "2026-09-30", "", "", "request", "0.05"],
        ["acme", "Acme Corp", "", "usage", "2026-10-01", "", "", "", "request", "0.04"],
    ]
    rt = load(settings, tmp_path, september=BASE, october=[A_SEP], contracts=contracts)
    with rt.connect() as conn:
        bridge = margin_bridge(conn, SubjectKind.CUSTOMER, "acme", month(2026, 10), prices=rt.prices, timezone="UTC")
        same = margin_bridge(conn, SubjectKind.PRODUCT, "agent", month(2026, 9), prices=rt.prices, timezone="UTC")
    out = all_text(why_message(bridge).blocks)
    assert "Revenue -$60.00 (takes from gross profit)" in out and "COGS -$0.80 (adds to gross profit)" in out
    # Against a month without usage or revenue (August): revenue and COGS rise.
    out = all_text(why_message(same).blocks)
    assert "Revenue +$100.00 (adds to gross profit)" in out and "COGS +$16.80 (takes from gross profit)" in out
