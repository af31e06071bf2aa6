"""A reprice keeps the bounds an import keeps: prices that would make one event cost more than one event can, or
sums past what a rollup holds, refuse the whole reprice in one line, and nothing stored changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.files import import_usage_file
from engine.ingest.reprice import RepriceRefused, reprice
from engine.pricing.book import PriceBook
from engine.runtime import Runtime
from engine.store.meta import PRICE_FINGERPRINT, get_meta

_TABLES = ("usage_event", "daily_rollup", "daily_customer_product", "weekly_customer_product", "task_rollup")


def stored(rt: Runtime) -> dict[str, Any]:
    with rt.connect() as conn:
        rows = {t: sorted(tuple(r) for r in conn.execute(text(f"SELECT * FROM {t}"))) for t in _TABLES}
        return rows | {"fingerprint": get_meta(conn, PRICE_FINGERPRINT)}


def output_priced(usd_per_mtok: str) -> PriceBook:
    """gpt-4o-mini's output tokens at `usd_per_mtok` (input as the catalogue has it)."""
    model = {"provider": "openai", "model": "gpt-4o-mini", "effective_from": "2020-01-01"}
    return PriceBook.from_mapping({"models": [model | {"input_per_mtok": "0.15", "output_per_mtok": usd_per_mtok}]})


def usage_file(path: Path, days: dict[str, int], task: str = "") -> Path:
    """Events of 999,999,999,999 output tokens each (the most one may count): `days` says how many on which day,
    `task` the task of them all."""
    lines = ["event_id,ts,customer,product,provider,model,output_tokens,task_id"]
    for day, n in days.items():
        lines += [f"{day}-{i},{day}T12:00:00Z,acme,assist,openai,gpt-4o-mini,999999999999,{task}" for i in range(n)]
    path.write_text("\n".join(lines) + "\n")
    return path


def usage(rt: Runtime, path: Path, days: dict[str, int], task: str = "") -> None:
    """`usage_file`'s events imported at $0.60 per million output tokens."""
    import_usage_file(rt.engine, usage_file(path, days, task), prices=output_priced("0.60"), timezone="UTC")


def test_prices_that_make_one_event_cost_too_much_refuse_the_reprice(runtime: Runtime, tmp_path: Path) -> None:
    usage(runtime, tmp_path / "u.csv", {"2026-10-05": 2})
    kept = stored(runtime)
    # $20 per million output tokens: $19,999,999.99998 for one event, past the $10,000,000 one may cost.
    with pytest.raises(RepriceRefused) as refused:
        reprice(runtime.engine, prices=output_priced("20"), timezone="UTC")
    assert str(refused.value) == (
        "event '2026-10-05-0' would be priced at $20,000,000.00, more than one event can cost ($10,000,000): is a "
        "price in the price file in the right unit? Nothing was re-priced."
    )
    assert stored(runtime) == kept
    # At $10 an event costs $9,999,999.99999, within the bound: the same reprice goes through.
    assert reprice(runtime.engine, prices=output_priced("10"), timezone="UTC").changed == 2


def test_prices_that_take_a_weeks_sum_past_a_bigint_refuse_the_reprice(runtime: Runtime, tmp_path: Path) -> None:
    # 500 events on each of two days of one week: at $10 per million output tokens each day is ~$5.0 billion, within a
    # BIGINT of nano-USD, and their week ~$10.0 billion, past it.
    usage(runtime, tmp_path / "u.csv", {"2026-10-05": 500, "2026-10-06": 500})
    kept = stored(runtime)
    with pytest.raises(RepriceRefused) as refused:
        reprice(runtime.engine, prices=output_priced("10"), timezone="UTC")
    assert str(refused.value) == (
        "at these prices the costs of customer 'acme' and product 'assist' in the week of 2026-10-05 add up past "
        "what the database holds (about $9.2 billion): is a price in the price file in the right unit? Nothing was "
        "re-priced."
    )
    assert stored(runtime) == kept


@pytest.mark.parametrize(
    ("days", "task", "where"),
    [
        ({"2026-10-04": 1, "2026-10-06": 1000}, "", "on 2026-10-06"),
        # Two weeks of ~$5.0 billion each, one task: only the task passes.
        ({"2026-10-04": 500, "2026-10-05": 500}, "t-1", "in task 't-1'"),
    ],
)
def test_a_reprice_refused_for_a_sum_names_the_day_or_task_that_passes(
    runtime: Runtime, tmp_path: Path, days: dict[str, int], task: str, where: str
) -> None:
    usage(runtime, tmp_path / "u.csv", days, task)
    kept = stored(runtime)
    with pytest.raises(RepriceRefused) as refused:
        reprice(runtime.engine, prices=output_priced("10"), timezone="UTC")
    assert f"the costs of customer 'acme' and product 'assist' {where} add up past" in str(refused.value)
    assert stored(runtime) == kept


def test_the_cli_says_why_a_reprice_is_refused_in_one_line(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    usage(runtime, tmp_path / "u.csv", {"2026-10-05": 1})
    monkeypatch.setattr(runtime, "prices", output_priced("20"))
    assert main(["reprice"], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert err.startswith("marginbot: event '2026-10-05-0' would be priced at $20,000,000.00")
    assert "Traceback" not in err
