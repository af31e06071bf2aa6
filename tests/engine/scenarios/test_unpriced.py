"""What-ifs, forecasts and price floors say when the usage they stand on is partly unpriced, as `/margin` does: its
COGS counts as $0, so each answer is kinder than the usage (a floor too low to keep the margin it promises)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.blocks.scenarios import floor_message, forecast_message, whatif_message
from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import import_usage_file
from engine.periods import month
from engine.pricing.book import PriceBook
from engine.runtime import Runtime
from engine.scenarios.floor import floor_to_dict, price_floor
from engine.scenarios.forecast import forecast
from engine.scenarios.forecast_json import forecast_to_dict
from engine.scenarios.grammar import Usage
from engine.scenarios.growth import Growth
from engine.scenarios.whatif import scenario_to_dict, whatif

JUNE = month(2026, 6)
PRICES = PriceBook.from_mapping(
    {
        "models": [
            {
                "provider": "self-hosted",
                "model": "m1",
                "effective_from": "2020-01-01",
                "input_per_mtok": "1",
                "output_per_mtok": "2",
            }
        ]
    }
)


def _book(runtime: Runtime, tmp_path: Path, *, unpriced: bool) -> None:
    """A flat $1,000 a month; each day of June $10 of priced usage and (with `unpriced`) a call to a model with no
    price."""
    (tmp_path / "c.csv").write_text(
        "customer,customer_name,plan,start,platform_fee_usd\nacme,Acme Corp,flat,2026-01-01,1000\n"
    )
    import_contracts_file(runtime.engine, tmp_path / "c.csv")
    rows = ["event_id,ts,customer,product,provider,model,input_tokens,cost_usd"]
    for day in range(1, 31):
        rows.append(f"p{day},2026-06-{day:02d}T12:00:00Z,acme,chat,self-hosted,m1,0,10")
        if unpriced:
            rows.append(f"u{day},2026-06-{day:02d}T13:00:00Z,acme,chat,self-hosted,secret-70b,5000000,")
    (tmp_path / "u.csv").write_text("\n".join(rows) + "\n")
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=PRICES, timezone="UTC")


def _answers(runtime: Runtime) -> list[tuple[dict[str, Any], Any]]:
    with runtime.connect() as conn:
        answers: list[tuple[dict[str, Any], Any]] = []
        for subject in ("acme", None):
            d = scenario_to_dict(
                whatif(conn, subject, JUNE, [Usage(Decimal(2))], prices=PRICES, thresholds=runtime.thresholds)
            )
            answers.append((d, whatif_message(d)))
            d = forecast_to_dict(
                forecast(conn, subject, JUNE, growth=Growth(rate=Decimal(0)), months=1, thresholds=runtime.thresholds)
            )
            answers.append((d, forecast_message(d)))
        d = floor_to_dict(price_floor(conn, "acme", JUNE, thresholds=runtime.thresholds))
        answers.append((d, floor_message(d)))
    return answers


@pytest.mark.parametrize("unpriced", [True, False])
def test_every_scenario_says_how_much_of_its_usage_is_unpriced(
    runtime: Runtime, tmp_path: Path, unpriced: bool
) -> None:
    _book(runtime, tmp_path, unpriced=unpriced)
    for d, answer in _answers(runtime):
        blocks = json.dumps(answer.blocks)
        if unpriced:
            assert (d["unpriced_events"], d["unpriced_models"]) == (30, ["self-hosted/secret-70b"])
            assert "30 unpriced events* (self-hosted/secret-70b)" in blocks and "COGS is understated" in blocks
        else:
            assert (d["unpriced_events"], d["unpriced_models"]) == (0, [])
            assert "unpriced" not in blocks
