"""Mapping-file input that used to fail late or with a traceback: a path that is a directory, and an entry whose
customer (or product, or feature) holds a control character. Each is one line naming the file (and entry)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli.main import main
from engine.ingest.mapping import MappingError, SourceMap
from engine.runtime import Runtime
from tests.engine.ingest.sources.test_otlp import otlp_file


def test_a_mapping_path_that_is_a_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError) as info:
        SourceMap.load(tmp_path)
    assert str(info.value) == f"{tmp_path} is not a file: fix the path (MARGINBOT_MAPPING_FILE names the mapping file)"


def test_the_cli_says_a_directory_mapping_path_in_one_line(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mapping.d"
    folder.mkdir()
    rt = Runtime(runtime.settings.model_copy(update={"mapping_file": folder}), now_override=runtime.now())
    assert main(["import", "otlp", str(otlp_file(tmp_path))], runtime=rt) == 1
    assert capsys.readouterr().err == (
        f"marginbot: {folder} is not a file: fix the path (MARGINBOT_MAPPING_FILE names the mapping file)\n"
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[otlp.customers]\nacme = { customer = "ac\\tme" }\n',
            "otlp.customers.acme: `customer` contains a control character (U+0009): 'ac\\tme'",
        ),
        (
            '[openai.projects]\nproj_1 = { customer = "acme", product = "as\\u0000sist" }\n',
            "openai.projects.proj_1: `product` contains a control character (U+0000): 'as\\x00sist'",
        ),
        (
            '[otlp.customers]\nacme = "ac\\nme"\n',
            "otlp.customers.acme: `customer` contains a control character (U+000A)",
        ),
        ('[defaults]\nproduct = "a\\u007fpi"\n', "[defaults]: `product` contains a control character (U+007F)"),
        ('[litellm]\nfeature = "x\\ry"\n', "[litellm]: `feature` contains a control character (U+000D)"),
    ],
)
def test_a_control_character_in_a_mapping_entry_is_refused_at_load(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(body)
    with pytest.raises(MappingError) as info:
        SourceMap.load(path)
    assert str(info.value).startswith(f"{path}: {message}")
    assert "\n" not in str(info.value)


def test_a_number_too_long_to_read_is_not_valid_toml(tmp_path: Path) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text("[defaults]\nproduct = " + "9" * 5000 + "\n")  # tomllib raises a plain ValueError for it
    with pytest.raises(MappingError, match=f"^{path}: not valid TOML: "):
        SourceMap.load(path)
