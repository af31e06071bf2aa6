"""`marginbot prices update` tells truly whether stored usage is affected (each stored id resolved in the old and the
new data: a new entry it now resolves to, or unpriced usage the new data prices, moves figures too), repairs a
catalogue file that cannot be read (the command every other one points to then), and refuses data with prices no
provider charges, keeping the file in use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.runtime import Runtime
from tests.bot.cli.support import cli
from tests.conftest import NOW

OPUS = {
    "id": "claude-opus-4-6",
    "match": {"starts_with": "claude-opus-4-6"},
    "prices": {"input_mtok": 5, "cache_read_mtok": 0.5, "output_mtok": 25},
}
FAST = {"id": "claude-opus-4-6-fast", "match": {"starts_with": "claude-opus-4-6-fast"}, "prices": {"input_mtok": 30}}
SONNET = {"id": "claude-sonnet-9", "match": {"equals": "claude-sonnet-9"}, "prices": {"input_mtok": 3}}
USAGE = """event_id,ts,customer,product,provider,model,input_tokens,output_tokens
a1,2026-10-10T12:00:00Z,acme,chat,anthropic,claude-opus-4-6,1000000,0
a2,2026-10-10T12:00:00Z,acme,chat,anthropic,claude-opus-4-6-fast,1000000,0
a3,2026-10-10T12:00:00Z,acme,chat,anthropic,claude-sonnet-9,1000000,0
"""


def data(*models: dict[str, Any]) -> str:
    return json.dumps(
        [
            {
                "id": "anthropic",
                "name": "Anthropic",
                "api_pattern": "https://api\\.anthropic\\.com",
                "model_match": {"contains": "claude"},
                "provider_match": {"contains": "anthropic"},
                "models": list(models),
            }
        ]
    )


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    path = tmp_path / "prices.toml"
    path.write_text("")
    return path


@pytest.fixture
def used(runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Runtime:
    """Usage priced with a catalogue file that knows only claude-opus-4-6: -fast resolves to it, sonnet to nothing."""
    runtime.settings.catalogue_path.write_text(data(OPUS))
    usage = tmp_path / "usage.csv"
    usage.write_text(USAGE)
    assert cli(runtime, capsys, "import", "usage", str(usage))[0] == 0
    return runtime


def test_ids_that_resolve_to_a_new_entry_or_were_unpriced_are_stored_usage_the_update_affects(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.json"
    new.write_text(data(FAST, OPUS, SONNET))  # no entry's prices changed: two were added
    code, out, _ = cli(used, capsys, "prices", "update", "--from", str(new), "--dry-run", "--json")
    result = json.loads(out)
    assert code == 0 and (result["changed"], result["removed"]) == ([], [])
    assert result["used_changed"] == ["anthropic/claude-opus-4-6-fast", "anthropic/claude-sonnet-9"]
    assert result["used_moved"] == [
        "anthropic/claude-opus-4-6-fast (anthropic/claude-opus-4-6 → anthropic/claude-opus-4-6-fast)",
        "anthropic/claude-sonnet-9 (no entry → anthropic/claude-sonnet-9)",
    ]
    code, out, _ = cli(used, capsys, "prices", "update", "--from", str(new))
    assert code == 0 and "run `marginbot reprice` to re-price stored usage with it (figures will move)" in out
    assert "no stored usage is affected" not in out
    # And they do move: -fast from $5 to $30, sonnet from unpriced to $3.
    code, out, _ = cli(Runtime(used.settings, now_override=NOW), capsys, "reprice")
    assert out == "re-priced 3 events: 2 with a new cost; COGS moved by $28.00\n"


def test_an_update_that_moves_no_stored_id_says_no_stored_usage_is_affected(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = tmp_path / "new.json"
    new.write_text(data(OPUS, {"id": "claude-other", "match": {"equals": "claude-other"}, "prices": {"input_mtok": 1}}))
    code, out, _ = cli(used, capsys, "prices", "update", "--from", str(new))
    assert code == 0 and "(no stored usage is affected)" in out


def test_an_unreadable_catalogue_file_is_repaired_by_the_update_it_points_to(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = runtime.settings.catalogue_path
    target.write_text('[{"id": "x"')  # cut off mid-write
    code, _, err = cli(Runtime(runtime.settings, now_override=NOW), capsys, "prices", "--days", "7")
    assert code == 2 and "run `marginbot prices update` to fetch it again" in err
    good = tmp_path / "good.json"
    good.write_text(data(OPUS))
    code, out, err = cli(Runtime(runtime.settings, now_override=NOW), capsys, "prices", "update", "--from", str(good))
    assert (code, err) == (0, "")
    assert out.startswith(
        f"the catalogue file in use could not be read ({target}: not valid JSON: Expecting ',' delimiter: line 1 "
        "column 12 (char 11)): compared with the bundled data\ncatalogue: genai-prices 0.2.3 (bundled data"
    )
    assert target.read_text() == good.read_text()
    assert cli(Runtime(runtime.settings, now_override=NOW), capsys, "prices", "--days", "7")[0] == 0


def test_data_with_a_negative_price_is_refused_in_one_line_and_the_file_in_use_kept(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(data({"id": "claude-neg", "match": {"equals": "claude-neg"}, "prices": {"input_mtok": -5}}))
    code, out, err = cli(used, capsys, "prices", "update", "--from", str(bad))
    assert (code, out) == (1, "")
    assert err == (
        f"marginbot: {bad}: anthropic claude-neg: `input_mtok` must not be negative, got -5: not a price genai-prices "
        "publishes; check the file (or fetch it again)\n"
    )
    assert used.settings.catalogue_path.read_text() == data(OPUS)


def test_the_same_prices_laid_out_otherwise_leave_imports_free_to_go_on(
    used: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The same data, indented: the file's bytes (and so the price fingerprint) change, its prices do not. Imports
    # waited for a reprice the summary never asked for ("catalogue unchanged", reprice_needed false).
    same = tmp_path / "same.json"
    same.write_text(json.dumps(json.loads(data(OPUS)), indent=2))
    code, out, _ = cli(used, capsys, "prices", "update", "--from", str(same), "--json")
    assert code == 0 and json.loads(out)["reprice_needed"] is False
    more = tmp_path / "more.csv"
    more.write_text(USAGE.splitlines()[0] + "\nb1,2026-10-11T12:00:00Z,acme,chat,anthropic,claude-opus-4-6,1000000,0\n")
    code, _, err = cli(used, capsys, "import", "usage", str(more))
    assert code == 0, err
