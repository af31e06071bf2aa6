"""`marginbot prices` names what priced the stored usage, read from the stored costs: events that carried their own
cost are source-priced whatever the catalogue says, usage with only retrieval, rerank or compute is priced by
[unit_costs], an override that began mid-period shares the period with what priced the days before it, and after an
edit of the price file the listing says its rates are not yet those applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import Runtime
from engine.store.meta import STALE_PRICES
from tests.bot.cli.support import cli
from tests.conftest import NOW

PRICES = """
[[models]]
provider = "openai"
model = "gpt-4o-mini"
effective_from = 2026-10-20
input_per_mtok = 0.10
output_per_mtok = 0.40

[unit_costs]
retrieval_query = 0.0002
rerank_call = 0.001
compute_second = 0.0005
"""
USAGE = """event_id,ts,customer,product,provider,model,input_tokens,output_tokens,retrieval_queries,compute_seconds,cost_usd
e1,2026-10-10T12:00:00Z,acme,chat,openai,gpt-4o,1000000,0,,,7.00
e2,2026-10-11T12:00:00Z,acme,chat,openai,gpt-4o,1000000,0,,,7.00
m1,2026-10-10T12:00:00Z,acme,chat,openai,gpt-4o-mini,1000000,0,,,
m2,2026-10-25T12:00:00Z,acme,chat,openai,gpt-4o-mini,1000000,0,,,
r1,2026-10-10T12:00:00Z,acme,search,,,0,0,1000,3600,
g1,2026-10-11T12:00:00Z,acme,search,self-hosted,gpu-embedder,0,0,0,7200,
z1,2026-10-12T12:00:00Z,acme,chat,gateway,house-model,5000,100,,,0
"""


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text(PRICES)
    return path


@pytest.fixture
def used(runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runtime:
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE)
    assert cli(runtime, capsys, "import", "usage", str(usage))[0] == 0
    return runtime


def listing(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """`prices --json` for October: each model's entry by model id, the whole answer, and stderr."""
    code, out, err = cli(rt, capsys, "prices", "--period", "2026-10", "--json")
    assert code == 0
    answer = json.loads(out)
    return {m["model"]: m for m in answer["models"]}, answer, err


def test_the_source_is_what_priced_the_stored_events(used: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    models, _, _ = listing(used, capsys)
    got = {m: (r["source"], r["unpriced_events"], r["cogs_usd"], r["cogs_by_source"]) for m, r in models.items()}
    assert got == {
        "gpt-4o": ("source-priced", 0, 14.0, {"source-priced": 14.0}),  # cost_usd, not the catalogue's $2.50
        # m1 (Oct 10) from the catalogue at $0.15, m2 (Oct 25) from the override at $0.10
        "gpt-4o-mini": ("catalogue", 0, 0.25, {"catalogue": 0.15, "override": 0.1}),
        # no model: 1,000 retrievals at $0.0002 and an hour at $0.0005 a second
        "": ("unit-costs", 0, 2.0, {"unit-costs": 2.0}),
        "gpu-embedder": ("unit-costs", 0, 3.6, {"unit-costs": 3.6}),
        "house-model": ("source-priced", 0, 0.0, {}),  # its cost_usd was 0: priced, at $0, by its source
    }
    assert models["gpt-4o"]["rates"] is None  # no rate of the price book priced it
    mini = models["gpt-4o-mini"]
    assert "[[models]] override in force from 2026-10-20: earlier days were priced without it" in mini["notes"]
    assert mini["rates"]["input_per_mtok"] == "0.1"  # the last day's, and said to be so


def test_the_text_names_every_source_and_never_calls_priced_usage_unpriced(
    used: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = cli(used, capsys, "prices", "--period", "2026-10")
    assert code == 0
    assert "openai/gpt-4o (catalogue: openai/gpt-4o): source-priced, 2 event(s), COGS $14.00\n" in out
    assert (
        "openai/gpt-4o-mini (catalogue: openai/gpt-4o-mini): catalogue and override, 2 event(s), COGS $0.25; "
        "override from 2026-10-20\n"
    ) in out
    assert "self-hosted/gpu-embedder (not in the catalogue): unit costs only, 1 event(s), COGS $3.60\n" in out
    assert "no tokens to price: priced by the price file's [unit_costs] only (retrieval, rerank, compute)" in out
    assert "unpriced" not in out and "no price anywhere" not in out


def test_after_an_edit_the_listing_says_its_rates_are_not_yet_the_ones_applied(
    used: Runtime, prices_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, answer, err = listing(used, capsys)
    assert answer["stale"] is False and err == ""
    prices_file.write_text(PRICES.replace("input_per_mtok = 0.10", "input_per_mtok = 0.05"))
    edited = Runtime(used.settings, now_override=NOW)
    _, answer, err = listing(edited, capsys)
    assert answer["stale"] is True and err == f"marginbot: {STALE_PRICES}\n"
    code, out, _ = cli(edited, capsys, "prices", "--period", "2026-10")
    assert code == 0 and out.rstrip().endswith(f"Note: {STALE_PRICES}")
    assert "these rates and sources are today's files', and the stored COGS was priced with the earlier ones" in out
