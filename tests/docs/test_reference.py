"""The reference parts of docs/ are what the code renders (the way sqlite-utils keeps its CLI docs): every command's
`--help` in docs/commands.md, the settings table in docs/configuration.md, the /margin forms table in docs/slack.md.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.cli import reference
from bot.cli.main import build_parser
from bot.cli.reference import DOCS, ROOT, MarkerError, help_pages, rendered, replace_block, settings_rows
from bot.forms import usage_hint
from config.settings import Settings

GENERATED = sorted(rendered())


@pytest.mark.parametrize("path", GENERATED, ids=lambda p: p.name)
def test_the_generated_page_is_what_the_code_renders(path: Path) -> None:
    expected = rendered()[path]
    if reference.differs(path, expected):
        assert path.read_text(encoding="utf-8") == expected, (
            f"{path.relative_to(ROOT)} is out of date with the code: run `make docs`"
        )


def test_every_command_and_subcommand_has_its_help_in_the_reference() -> None:
    pages = help_pages()
    commands = [p.command for p in pages]
    assert commands[0] == "marginbot"
    assert {"marginbot import usage", "marginbot margin", "marginbot serve", "marginbot sync", "marginbot whatif",
            "marginbot alerts check", "marginbot digest send"} <= set(commands)  # fmt: skip
    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    for page in pages:
        assert f"\n## {page.command}\n" in text
        assert " ".join(page.text.split()) in " ".join(text.split())
        assert page.command == "marginbot" or page.summary, f"{page.command} has no help line"


def test_the_reference_does_not_depend_on_the_terminal_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    narrow = [p.text for p in help_pages(build_parser())]
    monkeypatch.setenv("COLUMNS", "250")
    wide = [p.text for p in help_pages(build_parser())]
    assert narrow == wide
    assert max(len(line) for text in wide for line in text.splitlines()) <= reference.WIDTH


def test_every_setting_is_in_the_table_with_a_description() -> None:
    rows = settings_rows()
    assert len(rows) == len(Settings.model_fields)
    undescribed = [env for env, _default, description in rows if len(description.split()) < 4]
    assert undescribed == [], "add description= to these Field()s in config/settings.py"
    table = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert [env for env, _d, _t in rows if f"| `{env}` |" not in table] == []
    assert rows[0][:2] == ("DATABASE_URL", "`sqlite:///marginbot.db`")


def test_defaults_read_as_people_write_them() -> None:
    defaults = {env: default for env, default, _ in settings_rows()}
    assert defaults["MARGINBOT_PRICES_FILE"] == "`config/prices.toml`"  # not this machine's absolute path
    assert defaults["MARGINBOT_BREACH_PCT"] == "`40`"
    assert defaults["SLACK_BOT_TOKEN"] == "unset"
    assert defaults["MARGINBOT_ALLOWED_USERS"] == "empty"


def test_a_page_without_its_markers_is_refused_with_the_markers_named() -> None:
    with pytest.raises(
        MarkerError, match=r"docs/slack.md needs .*<!-- generated: forms -->.*<!-- /generated: forms -->"
    ):
        replace_block("# Slack\n\nno table here\n", "forms", "| table |\n", where="docs/slack.md")


def test_only_the_part_between_the_markers_is_replaced() -> None:
    page = "intro\n<!-- generated: forms (by make docs) -->\nold\n<!-- /generated: forms -->\noutro\n"
    assert replace_block(page, "forms", "new\n") == (
        "intro\n<!-- generated: forms (by make docs) -->\nnew\n<!-- /generated: forms -->\noutro\n"
    )


def test_the_command_reference_ignores_spacing_that_varies_between_python_versions(tmp_path: Path) -> None:
    # Python 3.13 lays out `marginbot import --help`'s subcommands differently from 3.11; the words are the same.
    page = tmp_path / "commands.md"
    page.write_text("    contracts\n              import contracts (CSV)\n", encoding="utf-8")
    assert not reference.differs(page, "    contracts  import contracts (CSV)\n")
    assert reference.differs(page, "    contracts  import contracts (JSON)\n")
    (tmp_path / "slack.md").write_text("| a |\n", encoding="utf-8")
    assert reference.differs(tmp_path / "slack.md", "|  a |\n")


def test_write_brings_stale_pages_up_to_date_and_check_says_which(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(DOCS, docs)
    (docs / "commands.md").write_text("# stale\n", encoding="utf-8")
    slack = docs / "slack.md"
    slack.write_text(replace_block(slack.read_text(encoding="utf-8"), "forms", "stale\n"), encoding="utf-8")
    manifest = tmp_path / "manifest.yml"
    manifest.write_text(
        reference.MANIFEST.read_text(encoding="utf-8").replace(usage_hint(), "CUSTOMER | help"), encoding="utf-8"
    )

    assert reference.stale(docs, manifest) == [docs / "commands.md", manifest, slack]
    assert reference.write(docs, manifest) == [docs / "commands.md", manifest, slack]
    assert reference.stale(docs, manifest) == []
    assert "## marginbot import usage" in (docs / "commands.md").read_text(encoding="utf-8")
    assert f'usage_hint: "{usage_hint()}"' in manifest.read_text(encoding="utf-8")


def test_check_exits_1_and_names_the_fix_when_a_page_is_stale(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert reference.main(["--check"]) == 0
    monkeypatch.setattr(reference, "stale", lambda: [DOCS / "commands.md"])
    assert reference.main(["--check"]) == 1
    assert capsys.readouterr().err == "docs: out of date: docs/commands.md; run `make docs`\n"
