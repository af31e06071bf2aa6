from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime import Runtime
from tests.bot.dataset import load_dataset
from tests.fakes.slack_api import SlackStandIn


@pytest.fixture
def book(runtime: Runtime, tmp_path: Path) -> Runtime:
    """The runtime over a database holding the hand-built book of tests/bot/dataset.py."""
    load_dataset(runtime, tmp_path / "book")
    return runtime


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        yield standin
