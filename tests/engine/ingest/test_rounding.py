"""Sync summaries, reconcile and reprice round money half up, once, like every report (never half-even)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.ingest.reconcile import ProviderDrift
from engine.ingest.reprice import RepriceResult
from engine.ingest.sync import SyncResult


def test_half_a_cent_rounds_up_in_sync_summaries_and_their_json() -> None:
    result = SyncResult(source="openai", cost_nano=20_125_000_000)  # $20.125: half-even would say $20.12
    assert "COGS $20.13" in result.summary()
    assert result.as_dict()["cogs_usd"] == 20.13


def test_half_a_cent_rounds_up_in_reconcile_and_reprice() -> None:
    row = ProviderDrift("openai", date(2026, 10, 1), date(2026, 10, 31), Decimal("100.125"), Decimal("80.005"))
    shown = row.as_dict()
    assert (shown["priced_usd"], shown["billed_usd"], shown["drift_usd"]) == (100.13, 80.01, 20.12)
    moved = RepriceResult(events=1, cost_before_nano=0, cost_after_nano=2_345_000)  # +$0.002345 → $0.00
    assert "COGS moved by $0.00" in moved.summary()
    assert "COGS moved by $0.13" in RepriceResult(events=1, cost_after_nano=125_000_000).summary()
