"""The alerts tests run with two alert channels, so every run records its state and queues its messages."""

from __future__ import annotations

import pytest

from config.settings import Settings
from engine.runtime import Runtime
from tests.conftest import NOW


@pytest.fixture
def rt(settings: Settings) -> Runtime:
    return Runtime(settings.model_copy(update={"alert_channels": ["CALERTS", "COPS"]}), now_override=NOW)
