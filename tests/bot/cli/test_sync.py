"""`marginbot sync` as a person uses it before any source is set up."""

from __future__ import annotations

import pytest

from bot.cli.main import main
from engine.ingest.sync import CONNECTORS
from engine.runtime import Runtime


def test_sync_all_with_no_source_configured_names_what_each_source_needs(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sync", "all"], runtime=runtime) == 1
    err = capsys.readouterr().err
    assert err.startswith("marginbot: no source is configured (") and err.count("\n") == 1
    for name, connector in CONNECTORS.items():
        assert f"{name}: {connector.missing(runtime.settings)}" in err
    for setting in ("OPENAI_ADMIN_KEY", "ANTHROPIC_ADMIN_KEY", "LITELLM_URL", "LANGFUSE_PUBLIC_KEY", "STRIPE_API_KEY"):
        assert setting in err
