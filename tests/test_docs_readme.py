"""The README documents every command the CLI has (a command nobody can find does not exist)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cli.main import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(f"{prefix}{name}")
                found += _commands(sub, f"{prefix}{name} ")
    return found


def test_every_cli_command_is_in_the_readme() -> None:
    commands = _commands(build_parser())
    assert {"import usage", "margin", "serve", "sync", "whatif", "alerts check"} <= set(commands)
    assert [c for c in commands if f"marginbot {c}" not in README and f"`{c}" not in README] == []


def test_readme_starts_with_the_two_commands() -> None:
    head = README.split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head
