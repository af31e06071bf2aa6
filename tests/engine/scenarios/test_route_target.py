"""Which provider a route's target model is priced at: the one its usage came through in the what-if's period,
else at any time (as before the lookup was bounded by the period), else the catalogue's."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from engine.ingest.files import import_usage_file
from engine.periods import Period
from engine.runtime import Runtime
from engine.scenarios.levers import observed_providers, resolve_target

NOVEMBER = Period(date(2026, 11, 1), date(2026, 11, 14), "2026-11-01 to 2026-11-14")


def test_a_target_used_only_before_the_period_keeps_the_provider_it_came_through(
    runtime: Runtime, tmp_path: Path
) -> None:
    (tmp_path / "u.csv").write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens\n"
        "a,2026-09-10T12:00:00Z,acme,chat,azure,gpt-4o-mini,1000,100\n"  # only in September, through Azure
        "b,2026-11-10T12:00:00Z,acme,chat,openai,gpt-4o,1000,100\n"
        "c,2026-09-10T12:00:00Z,acme,chat,azure,gpt-4o,1000,100\n"  # gpt-4o: Azure before, OpenAI in the period
    )
    import_usage_file(runtime.engine, tmp_path / "u.csv", prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        mini, four = observed_providers(conn, "gpt-4o-mini", NOVEMBER), observed_providers(conn, "gpt-4o", NOVEMBER)
    # It resolved to openai (the catalogue's) once only the period's usage was read: another price.
    assert (mini, resolve_target(runtime.prices, "gpt-4o-mini", NOVEMBER.end, lambda: mini)) == (
        ["azure"],
        ("azure", "gpt-4o-mini"),
    )
    assert (four, resolve_target(runtime.prices, "gpt-4o", NOVEMBER.end, lambda: four)) == (
        ["openai"],
        ("openai", "gpt-4o"),
    )
