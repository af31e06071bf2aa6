from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime import Runtime
from tests.bot.dataset import load_dataset


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The runtime over a database holding the hand-built book of tests/bot/dataset.py."""
    load_dataset(runtime, tmp_path / "book")
    return runtime
