"""`marginbot prices` (which price priced each model used) and `marginbot prices update` (refresh the catalogue from
a local data file, offline), end to end through the command line on a real database."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.cli.main import main
from engine.pricing.catalogue import CatalogueError
from engine.pricing.update import fetch
from engine.runtime import Runtime

USAGE = [
    "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,service_tier,cost_usd",
    "e1,2026-10-05T12:00:00Z,acme,assist,openai,gpt-4o-2024-08-06,1000000,0,,",
    "e2,2026-10-20T12:00:00Z,acme,assist,openai,gpt-4o-2024-08-06,1000000,0,,",
    "e3,2026-10-05T12:00:00Z,acme,assist,anthropic,claude-opus-4-6,1000000,0,batch,",
    "e4,2026-10-05T12:00:00Z,acme,assist,self-hosted,acme-distill-8b,1000000,0,,",
    "e5,2026-10-05T12:00:00Z,acme,assist,mystery,m-1,10,0,,",
    "e6,2026-10-05T12:00:00Z,acme,assist,gateway,x-custom,10,0,,0.5",
]

# genai-prices' data format (the v2 data.json), cut down to one provider: claude-opus-4-6 with a price change on
# 2026-10-10 (input $5 → $4) and a batch variant.
DATA: list[dict[str, Any]] = [
    {
        "id": "anthropic",
        "name": "Anthropic",
        "api_pattern": "https://api\\.anthropic\\.com",
        "model_match": {"contains": "claude"},
        "provider_match": {"contains": "anthropic"},
        "models": [
            {
                "id": "claude-opus-4-6",
                "match": {"starts_with": "claude-opus-4-6"},
                "prices": [
                    {"prices": {"input_mtok": 5, "cache_read_mtok": 0.5, "output_mtok": 25}},
                    {"constraint": {"start_date": "2026-10-10"}, "prices": {"input_mtok": 4, "output_mtok": 20}},
                ],
                "price_variants": [{"when": {"processing": "batch"}, "prices": {"input_mtok": 2, "output_mtok": 10}}],
            }
        ],
    }
]


@pytest.fixture
def used(runtime: Runtime, tmp_path: Path) -> Runtime:
    usage = tmp_path / "usage.csv"
    usage.write_text("\n".join(USAGE) + "\n")
    assert main(["import", "usage", str(usage)], runtime=runtime) == 0
    return runtime


def listing(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["prices", "--period", "2026-10", "--json"], runtime=rt) == 0
    out = json.loads(capsys.readouterr().out)
    return out


def test_every_model_used_is_listed_with_its_price_source_rates_and_catalogue_freshness(
    used: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    out = listing(used, capsys)
    assert out["catalogue_version"].startswith("genai-prices 0.2.3 (bundled data")
    by_model = {m["model"]: m for m in out["models"]}
    assert {m: (r["provider"], r["service_tier"], r["source"], r["events"]) for m, r in by_model.items()} == {
        "gpt-4o-2024-08-06": ("openai", "standard", "catalogue", 2),
        "claude-opus-4-6": ("anthropic", "batch", "catalogue", 1),
        "acme-distill-8b": ("self-hosted", "standard", "override", 1),
        "m-1": ("mystery", "standard", "unpriced", 1),
        "x-custom": ("gateway", "standard", "source-priced", 1),
    }
    gpt = by_model["gpt-4o-2024-08-06"]
    assert gpt["catalogue_entry"] == "openai/gpt-4o"  # the dated id resolves to the catalogue's gpt-4o
    assert gpt["rates"]["input_per_mtok"] == "2.25"  # $2.50 less the price file's 10% OpenAI discount
    assert gpt["rates"]["discount_pct"] == "10"
    assert gpt["cogs_usd"] == 4.5
    opus = by_model["claude-opus-4-6"]
    assert opus["rates"]["tier_priced"] is False  # no batch price on 2026-10-05 (the catalogue's starts 10-14)
    assert "no batch price: standard rates applied (add a [[tiers]] multiplier)" in opus["notes"]
    assert by_model["acme-distill-8b"]["last_change"] == "2026-01-01"  # the override's own date
    assert by_model["m-1"]["rates"] is None

    capsys.readouterr()
    assert main(["prices", "--period", "2026-10"], runtime=used) == 0
    text = capsys.readouterr().out
    assert "catalogue: genai-prices 0.2.3 (bundled data" in text
    assert "openai/gpt-4o-2024-08-06 (catalogue: openai/gpt-4o): catalogue, 2 event(s), COGS $4.50" in text
    assert "mystery/m-1 (not in the catalogue): unpriced" in text
    assert "input $2.25 · cached $1.125 · cache write $2.25 · output $9" in text


def test_update_from_a_local_data_file_says_what_changed_and_that_reprice_is_needed_then_prices_from_it(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(DATA))
    target = used.settings.prices_file.with_name("catalogue.json")
    before = used.prices.fingerprint

    assert main(["prices", "update", "--from", str(data), "--dry-run"], runtime=used) == 0
    assert "dry run" in capsys.readouterr().out and not target.exists()

    assert main(["prices", "update", "--from", str(data), "--json"], runtime=used) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["file"] == str(target) and target.read_bytes() == data.read_bytes()
    assert result["changed"] == ["anthropic/claude-opus-4-6"]
    assert "openai/gpt-4o" in result["removed"]  # this data knows one provider only
    assert result["used_changed"] == ["anthropic/claude-opus-4-6", "openai/gpt-4o"]
    assert result["reprice_needed"] is True

    fresh = Runtime(used.settings, now_override=used.now())  # a new start loads the refreshed file
    assert fresh.prices.fingerprint != before  # the fingerprint follows the catalogue data, not just the price file
    assert "+ data file" in fresh.prices.catalogue.version
    assert main(["reprice"], runtime=fresh) == 0
    out = listing(fresh, capsys)
    opus = next(m for m in out["models"] if m["model"] == "claude-opus-4-6")
    assert (opus["rates"]["input_per_mtok"], opus["rates"]["tier_priced"]) == ("2", True)  # its batch variant
    assert opus["cogs_usd"] == 2.0
    assert next(m for m in out["models"] if m["model"] == "gpt-4o-2024-08-06")["source"] == "unpriced"


def test_update_text_output_names_the_changes_and_the_reprice(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data.json"
    data.write_text(json.dumps(DATA))
    assert main(["prices", "update", "--from", str(data)], runtime=used) == 0
    text = capsys.readouterr().out
    assert "0 model(s) added," in text and "1 with new prices" in text
    assert "new prices: anthropic/claude-opus-4-6" in text
    assert "run `marginbot reprice` to re-price stored usage with it (figures will move)" in text


def test_a_bad_data_file_is_refused_in_one_line_and_the_current_catalogue_is_kept(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = used.settings.prices_file.with_name("catalogue.json")
    target.write_text(json.dumps(DATA))
    bad = tmp_path / "bad.json"
    bad.write_text('{"not": "a list"}')
    assert main(["prices", "update", "--from", str(bad)], runtime=used) == 1
    err = capsys.readouterr().err
    assert f"{bad}: expected genai-prices data (a JSON list of providers)" in err
    assert json.loads(target.read_text()) == DATA
    target.write_text("[{]")  # a broken file in use: every command says what to do
    assert main(["prices"], runtime=Runtime(used.settings, now_override=used.now())) == 2
    assert "run `marginbot prices update` to fetch it again, or delete the file" in capsys.readouterr().err


def test_fetch_reads_a_url_and_names_an_http_failure() -> None:
    served = json.dumps(DATA).encode()

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/data.json":
            return httpx.Response(200, content=served)
        return httpx.Response(404)

    transport = httpx.MockTransport(handle)
    assert fetch("https://prices.test/data.json", transport=transport) == served
    with pytest.raises(
        CatalogueError, match=re.escape("prices.test/gone.json: could not fetch the catalogue: HTTP 404")
    ):
        fetch("https://prices.test/gone.json", transport=transport)


def test_a_directory_where_the_catalogue_file_goes_prices_from_the_bundled_data(
    used: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    # The default place (catalogue.json beside the price file) holds a directory: no data file there.
    target = used.settings.prices_file.with_name("catalogue.json")
    target.mkdir()
    fresh = Runtime(used.settings, now_override=used.now())
    assert listing(fresh, capsys)["catalogue_version"].startswith("genai-prices 0.2.3 (bundled data")
    # Refreshing it cannot write there: one line naming it.
    data = target.with_name("data.json")
    data.write_text(json.dumps(DATA))
    assert main(["prices", "update", "--from", str(data)], runtime=fresh) == 1
    assert capsys.readouterr().err == f"marginbot: {target} is a directory: name a file\n"


def test_a_models_audio_is_listed_as_priced_from_its_catalogue_entrys_audio_prices(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests\n"
        "a,2026-10-05T10:00:00Z,acme,voice,openai,gpt-4o-realtime-preview (audio),1000000,1000000,0\n"
    )
    assert main(["import", "usage", str(usage)], runtime=runtime) == 0
    (audio,) = listing(runtime, capsys)["models"]
    assert (audio["model"], audio["source"], audio["unpriced_events"]) == (
        "gpt-4o-realtime-preview (audio)",
        "catalogue",
        0,
    )
    assert audio["catalogue_entry"] == "openai/gpt-4o-realtime-preview (audio prices)"


def test_a_discount_starting_mid_period_is_said_on_a_models_audio_as_on_its_text(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The discount prices the audio tokens from Oct 15 (`PriceBook._resolve` matches it on the model), so the days
    # before were priced without it: the text row said so and the audio row, showing "10% discount", did not.
    prices = tmp_path / "prices.toml"
    prices.write_text(
        '[[discounts]]\nprovider = "openai"\nmodel = "gpt-4o-realtime-preview"\npercent = 10\n'
        "effective_from = 2026-10-15\n"
    )
    rt = Runtime(runtime.settings.model_copy(update={"prices_file": prices}), now_override=runtime.now())
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,requests\n"
        "a,2026-10-05T10:00:00Z,acme,voice,openai,gpt-4o-realtime-preview (audio),1000000,1000000,0\n"
        "b,2026-10-20T10:00:00Z,acme,voice,openai,gpt-4o-realtime-preview (audio),1000000,1000000,0\n"
        "c,2026-10-05T10:00:00Z,acme,voice,openai,gpt-4o-realtime-preview,1000000,1000000,0\n"
        "d,2026-10-20T10:00:00Z,acme,voice,openai,gpt-4o-realtime-preview,1000000,1000000,0\n"
    )
    assert main(["import", "usage", str(usage)], runtime=rt) == 0
    rows = {m["model"]: m for m in listing(rt, capsys)["models"]}
    said = "10% discount ([[discounts]]) in force from 2026-10-15: earlier days were priced without it"
    assert said in rows["gpt-4o-realtime-preview"]["notes"]
    assert said in rows["gpt-4o-realtime-preview (audio)"]["notes"]
