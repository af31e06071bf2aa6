"""A hand-computed portfolio, checked to the cent through the CLI, on SQLite and PostgreSQL.

Prices (tests/conftest.py price file + the genai-prices catalogue):
  gpt-4o        $2.50 in / $1.25 cached / $10 out per Mtok, less the 10% OpenAI discount → 2.25 / 1.125 / 9
  gpt-4o-mini   $0.15 / $0.075 / $0.60 → with the discount 0.135 / 0.0675 / 0.54
  claude-3-5-haiku-latest  $0.80 in / $1.00 cache write / $4 out (no discount)
  self-hosted acme-distill-8b (override) $0.10 in / $0.02 cached / $0.40 out; mystery-7b has no price
  retrieval $0.0002 each, rerank $0.001 each, compute $0.0005 per second
The time zone is America/New_York: October runs from 2026-10-01 04:00Z to 2026-11-01 04:00Z.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli.main import main
from config.settings import Settings
from engine.runtime import Runtime
from tests.conftest import NOW

CONTRACTS = """customer,customer_name,aliases,product,plan,start,end,seats,seat_price_usd,platform_fee_usd,included_units,unit,unit_price_usd
acme,Acme Corp,acme corp;roadrunner,assist,seat,2026-01-01,,2,5,,,,
acme,Acme Corp,acme corp;roadrunner,agent,flat,2026-10-16,,,,31,,,
globex,Globex,,agent,flat,2026-01-01,,,,4,,,
initech,Initech,,search,usage,2026-01-01,,,,1,,request,0.50
umbrella,Umbrella Health,,assist,hybrid,2026-01-01,,1,1,2,1000,1k_tokens,0.01
hooli,Hooli,,agent,flat,2026-01-01,2026-12-31,,,1,,,
"""

USAGE = """event_id,ts,customer,product,feature,provider,model,input_tokens,cached_input_tokens,cache_write_tokens,output_tokens,retrieval_queries,rerank_calls,compute_seconds,cost_usd,task_id
a1,2026-10-05T12:00:00Z,acme,assist,chat,openai,gpt-4o,1000000,200000,0,100000,,,,,
a2,2026-10-06T12:00:00Z,acme,assist,summarize,anthropic,claude-3-5-haiku-latest,500000,0,100000,50000,,,,,
a1,2026-10-05T12:00:00Z,acme,assist,chat,openai,gpt-4o,1000000,200000,0,100000,,,,,
a3,2026-10-07T12:00:00Z,acme,assist,search,,,0,0,0,0,1000,100,,,
g1,2026-10-10T12:00:00Z,globex,agent,agent-run,openai,gpt-4o,200000,0,0,50000,,,,,T1
g2,2026-10-10T12:01:00Z,globex,agent,agent-run,openai,gpt-4o,400000,300000,0,20000,,,,,T1
g3,2026-10-11T12:00:00Z,globex,agent,tool-call,self-hosted,acme-distill-8b,1000000,500000,0,200000,,,100,,T2
g4,2026-10-12T12:00:00Z,globex,agent,tool-call,self-hosted,mystery-7b,1000,0,0,1000,,,,,
i1,2026-10-01T03:00:00Z,initech,search,answer,openai,gpt-4o-mini,100000,0,0,10000,10,,,,
i2,2026-10-15T12:00:00Z,initech,search,answer,openai,gpt-4o-mini,100000,0,0,10000,10,,,,
i3,2026-10-20T12:00:00Z,initech,search,answer,openai,gpt-4o-mini,100000,0,0,10000,10,,,,
i4,2026-11-01T02:00:00Z,initech,search,answer,openai,gpt-4o-mini,100000,0,0,10000,10,,,,
u1,2026-10-20T12:00:00Z,umbrella,assist,chat,openai,gpt-4o-mini,1500000,0,0,500000,,,,,
h1,2026-10-21T12:00:00Z,hooli,agent,plan,anthropic,claude-3-5-haiku-latest,1000000,0,0,100000,,,,,
v1,2026-10-22T12:00:00Z,vandelay,support,triage,litellm,some-proxy-model,10,0,0,10,,,,0.123456,
"""


@pytest.fixture
def ny_runtime(settings: Settings, tmp_path: Path) -> Runtime:
    rt = Runtime(settings.model_copy(update={"timezone": "America/New_York"}), now_override=NOW)
    (tmp_path / "contracts.csv").write_text(CONTRACTS)
    (tmp_path / "usage.csv").write_text(USAGE)
    assert main(["import", "contracts", str(tmp_path / "contracts.csv")], runtime=rt) == 0
    assert main(["import", "usage", str(tmp_path / "usage.csv")], runtime=rt) == 0
    return rt


def run_json(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"], runtime=rt) == 0
    return json.loads(capsys.readouterr().out)


def test_import_reports_duplicate_and_unpriced(settings: Settings, tmp_path: Path, capsys) -> None:
    rt = Runtime(settings.model_copy(update={"timezone": "America/New_York"}), now_override=NOW)
    (tmp_path / "usage.csv").write_text(USAGE)
    assert main(["import", "usage", str(tmp_path / "usage.csv")], runtime=rt) == 0
    out = capsys.readouterr().out
    assert "14 imported, 1 already known (skipped), 0 rejected, of 15 rows" in out
    assert "1 event(s) have no price (self-hosted/mystery-7b)" in out


def test_customer_margin_to_the_cent(ny_runtime: Runtime, capsys) -> None:
    acme = run_json(ny_runtime, capsys, "margin", "roadrunner", "--period", "2026-10")
    # a1: 800k×2.25 + 200k×1.125 + 100k×9 per Mtok = 1.80 + 0.225 + 0.90 = 2.925 (the re-sent a1 is skipped)
    # a2: 400k×0.80 + 100k×1.00 (cache write) + 50k×4 = 0.32 + 0.10 + 0.20 = 0.62
    # a3: 1000 retrievals × 0.0002 + 100 reranks × 0.001 = 0.20 + 0.10 = 0.30
    assert acme["customer"] == "acme"
    assert acme["cogs_usd"] == 3.85  # 3.845 exactly, rounded half up
    assert acme["cogs_by_type"] == {
        "uncached_input": 2.12,  # 1.80 + 0.32
        "cached_input": 0.23,  # 0.225
        "cache_write": 0.10,
        "cache_write_1h": 0.0,
        "output": 1.10,  # 0.90 + 0.20
        "request_fee": 0.0,
        "web_search": 0.0,
        "source": 0.0,
        "retrieval": 0.20,
        "rerank": 0.10,
        "compute": 0.0,
    }
    # Seats 2 × $5 for the whole month; the agent flat fee $31/mo from Oct 16: 16/31 × 31 = $16.00
    assert acme["revenue_usd"] == 26.00
    # (26 − 3.845) / 26 = 85.2115…%
    assert acme["gross_margin_pct"] == 85.21
    assert acme["status"] == "healthy"
    assert [m["model"] for m in acme["cogs_by_model"]] == ["gpt-4o", "claude-3-5-haiku-latest", None]
    assert acme["cogs_by_model"][0]["share_pct"] == 76.07  # 2.925 / 3.845
    assert acme["top_lever"] == "76% of COGS is gpt-4o on chat"
    # gpt-4o cost $2.925 (a1): the prose rounds it half-up like the JSON figure beside it, not to $2.92.
    assert acme["top_mover"] == "gpt-4o on chat +$2.93 (new)"
    assert acme["unpriced_events"] == 0
    assert acme["previous"]["revenue_usd"] == 10.00  # September: seats only
    assert acme["change"]["revenue_usd"] == 16.00


def test_flat_fee_customer_in_watch_with_tasks_and_unpriced_model(ny_runtime: Runtime, capsys) -> None:
    globex = run_json(ny_runtime, capsys, "margin", "GLOBEX", "--period", "2026-10")
    # g1 0.45 + 0.45 = 0.90; g2 100k×2.25 + 300k×1.125 + 20k×9 = 0.225 + 0.3375 + 0.18 = 0.7425
    # g3 500k×0.10 + 500k×0.02 + 200k×0.40 + 100 s × 0.0005 = 0.05 + 0.01 + 0.08 + 0.05 = 0.19; g4 unpriced
    assert globex["cogs_usd"] == 1.83  # 1.8325
    assert globex["revenue_usd"] == 4.00
    assert globex["gross_margin_pct"] == 54.19  # (4 − 1.8325) / 4 = 54.1875%
    assert globex["status"] == "watch"
    assert globex["unpriced_events"] == 1
    assert globex["unpriced_models"] == ["self-hosted/mystery-7b"]
    assert globex["tasks"] == 2
    assert globex["task_cost_p50_usd"] == 0.19  # nearest rank of [0.19, 1.6425]
    assert globex["task_cost_p99_usd"] == 1.6425
    assert globex["daily_cost_p99_usd"] == 1.6425  # Oct 10 carries both T1 steps
    # The model with no price says so in its own row, where its COGS reads $0.00.
    assert {m["model"]: m["unpriced_events"] for m in globex["cogs_by_model"]}["mystery-7b"] == 1
    assert sum(m["unpriced_events"] for m in globex["cogs_by_model"]) == 1
    capsys.readouterr()
    assert main(["margin", "GLOBEX", "--period", "2026-10"], runtime=ny_runtime) == 0
    models = capsys.readouterr().out.split("COGS by model")[1].split("COGS by feature")[0].splitlines()
    assert models[1].split()[-1] == "unpriced"
    assert [row.split()[-1] for row in models[3:] if "mystery-7b" in row] == ["1"]


def test_events_are_cut_into_months_in_the_configured_time_zone(ny_runtime: Runtime, capsys) -> None:
    initech = run_json(ny_runtime, capsys, "margin", "initech", "--period", "2026-10")
    # i1 (Oct 1 03:00Z) is Sep 30 in New York; i4 (Nov 1 02:00Z) is Oct 31: October holds i2, i3, i4.
    # each: 100k×0.135 + 10k×0.54 per Mtok + 10 retrievals = 0.0135 + 0.0054 + 0.002 = 0.0209
    assert initech["events"] == 3
    assert initech["cogs_usd"] == 0.06  # 0.0627
    assert initech["revenue_usd"] == 2.50  # 3 requests × $0.50 + $1 platform fee
    assert initech["previous"]["events"] == 1
    assert initech["previous"]["revenue_usd"] == 1.50  # September: 1 request + fee


def test_hybrid_overage_breach_and_no_revenue(ny_runtime: Runtime, capsys) -> None:
    umbrella = run_json(ny_runtime, capsys, "margin", "umbrella health", "--period", "2026-10")
    # 2,000,000 tokens = 2,000 units; 1,000 included → 1,000 × $0.01 = $10 + $2 fee + 1 seat × $1
    assert umbrella["revenue_usd"] == 13.00
    assert umbrella["cogs_usd"] == 0.47  # 1.5M × 0.135 + 0.5M × 0.54 = 0.2025 + 0.27
    hooli = run_json(ny_runtime, capsys, "margin", "hooli", "--period", "2026-10")
    assert (hooli["revenue_usd"], hooli["cogs_usd"], hooli["gross_margin_pct"], hooli["status"]) == (
        1.00,
        1.20,
        -20.0,
        "breach",
    )
    vandelay = run_json(ny_runtime, capsys, "margin", "vandelay", "--period", "2026-10")
    assert vandelay["status"] == "no_revenue"
    assert vandelay["gross_margin_pct"] is None
    assert vandelay["cogs_by_type"]["source"] == 0.12  # cost_usd kept as the source priced it


def test_portfolio_totals_and_products(ny_runtime: Runtime, capsys) -> None:
    book = run_json(ny_runtime, capsys, "portfolio", "--period", "2026-10")
    # revenue 26 + 4 + 2.5 + 13 + 1 = 46.50; COGS 3.845 + 1.8325 + 0.0627 + 0.4725 + 1.20 + 0.123456 = 7.536156
    assert book["revenue_usd"] == 46.50
    assert book["cogs_usd"] == 7.54
    assert book["gross_margin_pct"] == 83.79  # (46.5 − 7.536156) / 46.5 = 83.7932…%
    statuses = {row["customer"]: row["status"] for row in book["customers"]}
    assert statuses == {
        "acme": "healthy",
        "globex": "watch",
        "initech": "healthy",
        "umbrella": "healthy",
        "hooli": "breach",
        "vandelay": "no_revenue",
    }
    products = {row["product"]: (row["revenue_usd"], row["cogs_usd"]) for row in book["products"]}
    assert products == {
        "assist": (23.00, 4.32),  # acme seats 10 + umbrella 13; 3.845 + 0.4725
        "agent": (21.00, 3.03),  # acme flat 16 + globex 4 + hooli 1; 1.8325 + 1.20
        "search": (2.50, 0.06),
        "support": (0.00, 0.12),
    }
    assert book["unpriced_models"] == ["self-hosted/mystery-7b"]


def test_unknown_customer_suggests_closest_names(ny_runtime: Runtime, capsys) -> None:
    capsys.readouterr()
    assert main(["margin", "globx", "--period", "2026-10"], runtime=ny_runtime) == 1
    assert "no customer 'globx'; did you mean Globex?" in capsys.readouterr().err


def test_reimporting_the_same_file_changes_nothing(ny_runtime: Runtime, tmp_path: Path, capsys) -> None:
    before = run_json(ny_runtime, capsys, "portfolio", "--period", "2026-10")
    assert main(["import", "usage", str(tmp_path / "usage.csv")], runtime=ny_runtime) == 0
    assert "0 imported, 15 already known" in capsys.readouterr().out
    assert run_json(ny_runtime, capsys, "portfolio", "--period", "2026-10") == before


def test_reprice_after_adding_a_price_for_the_unpriced_model(ny_runtime: Runtime, capsys) -> None:
    prices = ny_runtime.settings.prices_file
    prices.write_text(
        prices.read_text()
        + '\n[[models]]\nprovider = "self-hosted"\nmodel = "mystery-7b"\neffective_from = 2026-01-01\n'
        "input_per_mtok = 1000\noutput_per_mtok = 1000\n"
    )
    rt = Runtime(ny_runtime.settings, now_override=NOW)  # a fresh process reads the edited file
    assert main(["reprice"], runtime=rt) == 0
    globex = run_json(rt, capsys, "margin", "globex", "--period", "2026-10")
    # g4: 1,000 in + 1,000 out at $1,000/Mtok = $2.00 more
    assert globex["cogs_usd"] == 3.83  # 1.8325 + 2.00
    assert globex["unpriced_events"] == 0
    assert run_json(rt, capsys, "margin", "acme", "--period", "2026-10")["cogs_usd"] == 3.85
