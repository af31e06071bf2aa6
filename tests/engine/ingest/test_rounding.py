"""Sync and import summaries, reconcile and reprice round money half up, once, like every report (never half-even)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from engine.ingest.files import ImportResult
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
    assert "COGS moved by $0.13" in RepriceResult(events=1, cost_after_nano=125_000_000).summary()
    assert "COGS moved by $0.00" in RepriceResult(events=1, cost_after_nano=5, cost_before_nano=5).summary()


def test_an_amount_under_half_a_cent_reads_under_a_cent_in_import_and_reprice_summaries() -> None:
    # Rounded to the cent it read "$0.00", as if it cost (or moved) nothing; the dry run already said "<$0.01".
    moved = RepriceResult(events=1, cost_before_nano=0, cost_after_nano=2_345_000)  # +$0.002345
    assert "COGS moved by <$0.01" in moved.summary()
    assert "COGS moved by -<$0.01" in RepriceResult(events=1, cost_before_nano=2_345_000).summary()
    imported = ImportResult(path="u.csv", rows_read=1, imported=1, cost_usd=Decimal("0.002345"))
    assert imported.summary() == "u.csv: 1 imported, 0 already known (skipped), 0 rejected, of 1 rows; COGS <$0.01"
    assert "COGS $20.13" in ImportResult(path="u.csv", cost_usd=Decimal("20.125")).summary()
