"""The drift alert builder: pure payload in, message out, within Slack's limits, names escaped."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from bot.blocks.drift import drift_message
from engine.ingest.reconcile import ProviderDrift, drift_payload
from engine.periods import month
from tests.bot.blockkit import all_text, assert_valid_message


def test_a_drift_names_the_provider_both_amounts_the_gap_and_where_to_look() -> None:
    row = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 30), Decimal("1234.565"), Decimal("1100"))
    message = drift_message(drift_payload(row, month(2026, 10)))
    assert_valid_message(message["text"], message["blocks"])
    # 134.565 is rounded half up once: $134.57 (half-even would say $134.56); 12.233…% → 12.2%
    assert message["text"] == (
        "Cost drift, 2026-10: openai: marginbot priced $1,234.57 of usage for 2026-10-01 to 2026-10-30; openai "
        "billed $1,100.00 (+$134.57, +12.2%, outside ±5%)"
    )
    assert "usage counted twice" in all_text(message["blocks"])
    shown = all_text(message["blocks"])
    assert "Details for 2026-10: `marginbot reconcile`" in shown and "--period" not in shown  # Slack words, no flags


def test_billed_usage_with_nothing_priced_says_usage_is_missing_and_names_are_escaped() -> None:
    row = ProviderDrift("<!channel>", date(2026, 10, 1), date(2026, 10, 31), Decimal(0), Decimal("50"))
    message = drift_message(drift_payload(row, month(2026, 10)))
    assert_valid_message(message["text"], message["blocks"])
    assert "<!channel>" not in all_text(message["blocks"]) and "&lt;!channel&gt;" in message["text"]
    assert "priced no usage of it" in message["text"]


def test_a_provider_named_with_an_underscore_reads_as_written_in_the_header_and_the_hint() -> None:
    # esc_name's literal tokens are read only in mrkdwn outside code: the plain-text header showed
    # "Cost drift: vertex<!date^0^{_}|_>ai" and the hint `vertex<!date^0^{_}|_>ai`.
    row = ProviderDrift("vertex_ai", date(2026, 10, 1), date(2026, 10, 31), Decimal(0), Decimal("50"))
    message = drift_message(drift_payload(row, month(2026, 10)))
    assert_valid_message(message["text"], message["blocks"])
    assert message["blocks"][0]["text"]["text"] == ":warning: Cost drift: vertex_ai, 2026-10"
    assert "not imported under provider `vertex_ai`" in all_text(message["blocks"])


def test_billed_usage_stored_with_no_price_says_so_and_where_to_add_it() -> None:
    # It said "its usage is not synced or not imported" of usage stored under a model the price book lacks.
    row = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal(0), Decimal("50"), 1)
    message = drift_message(drift_payload(row, month(2026, 10)))
    assert_valid_message(message["text"], message["blocks"])
    shown = all_text(message["blocks"])
    assert "marginbot could price none of its usage" in message["text"]
    assert "1 event of its usage in these days has no price" in shown and "not synced" not in shown


def test_a_drift_below_the_bill_names_the_unpriced_events_first() -> None:
    row = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal("40"), Decimal("50"), 1234)
    shown = all_text(drift_message(drift_payload(row, month(2026, 10)))["blocks"])
    assert "Likely: COGS below the bill: 1,234 events of its usage in these days have no price" in shown
    # A payload queued before the count was kept reads as before.
    payload = drift_payload(row, month(2026, 10))
    del payload["unpriced_events"]
    assert "usage not imported, or a price too low" in all_text(drift_message(payload)["blocks"])


def test_a_drift_back_within_five_percent_reads_as_resolved() -> None:
    row = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal("101"), Decimal("100"))
    message = drift_message(drift_payload(row, month(2026, 10)))
    assert_valid_message(message["text"], message["blocks"])
    assert message["text"] == (
        "Cost drift resolved, 2026-10: openai: marginbot now prices $101.00 of usage for 2026-10-01 to 2026-10-31; "
        "openai billed $100.00 (+$1.00, +1.0%, within ±5%)"
    )
    assert message["blocks"][0]["text"]["text"] == ":white_check_mark: Cost drift resolved: openai, 2026-10"
