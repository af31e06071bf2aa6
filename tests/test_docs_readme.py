"""README is the front door: short, the two commands first, and a way into every page of the manual.

The manual itself (docs/) is kept true by tests/docs/: the command reference and the settings table are generated
from the code, links resolve and the paths it names exist.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_starts_with_the_two_commands() -> None:
    head = README.split("\n## ", 1)[0]
    assert "make demo" in head and "make test" in head


def test_readme_is_a_front_door_not_the_manual() -> None:
    assert len(README.encode()) < 12_000
    assert "<!--" not in README  # no section markers: the manual's sections are pages in docs/


def test_readme_links_every_page_of_the_manual_and_the_command_reference() -> None:
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))
    assert "docs/commands.md" in pages
    assert [page for page in pages if f"]({page})" not in README] == []
