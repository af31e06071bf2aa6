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


def test_sync_all_json_with_no_source_configured_is_still_a_json_document(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    assert main(["sync", "all", "--json"], runtime=runtime) == 1
    out, err = capsys.readouterr()
    results = json.loads(out)
    assert [r["source"] for r in results] == list(CONNECTORS)
    for r in results:
        assert r["skipped"] == CONNECTORS[r["source"]].missing(runtime.settings) and r["events_imported"] == 0
    assert err.startswith("marginbot: no source is configured (") and err.count("\n") == 1


def test_a_reversed_since_until_range_is_refused_instead_of_syncing_nothing(
    runtime: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    from pydantic import SecretStr

    rt = Runtime(
        runtime.settings.model_copy(
            update={"openai_admin_key": SecretStr("sk-admin-test"), "openai_base_url": "http://127.0.0.1:9"}
        ),
        now_override=runtime.now_override,
    )
    code = main(["sync", "openai", "--since", "2026-11-20", "--until", "2026-11-10"], runtime=rt)
    assert code == 2
    assert capsys.readouterr() == (
        "",
        "marginbot: --since must be before --until, got --since 2026-11-20 --until 2026-11-10\n",
    )
