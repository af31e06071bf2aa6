"""docs/architecture.md says imports only point down: the engine never imports the surfaces, config imports neither."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_packages(folder: str) -> dict[str, set[str]]:
    """Top-level packages each module under `folder` imports, at any depth (inside functions too)."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
            elif isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
        found[path.relative_to(ROOT).as_posix()] = names
    return found


@pytest.mark.parametrize(("folder", "forbidden"), [("engine", {"bot"}), ("config", {"bot", "engine"})])
def test_imports_only_point_down(folder: str, forbidden: set[str]) -> None:
    upward = {module: sorted(names & forbidden) for module, names in imported_packages(folder).items()}
    assert {module: names for module, names in upward.items() if names} == {}
