"""Scenario, forecast and floor tests price with the book's own price file (tests/engine/scenarios/book.py);
`book` is a runtime with the book loaded. Fixtures chain: settings (prices_file) → runtime → book."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime import Runtime
from tests.engine.scenarios.book import load_book, write_prices


@pytest.fixture
def prices_file(tmp_path: Path) -> Path:
    return write_prices(tmp_path)


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    load_book(runtime, tmp_path)
    return runtime
