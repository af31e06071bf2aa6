"""Every write that changes what reports say bumps the data generation (engine.store.meta), in its own transaction:
a usage import, a sync, a contract import and a reprice. A dry run and a refused file change nothing and bump
nothing. (The Slack path caches its reports per generation: a missed bump would serve yesterday's figures.)"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.ingest.contracts import import_contracts_file
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.reprice import reprice
from engine.ingest.sync import sync_source
from engine.runtime import Runtime
from engine.store.meta import data_generation
from tests.engine.ingest.conftest import Vendor, openai_bucket_pages, usage_result

USAGE = """event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens
e1,2026-10-05T12:00:00Z,acme,agent,chat,openai,gpt-4o,1000,100
"""
BAD = """event_id,ts,customer,product,feature,provider,model,input_tokens,output_tokens
e2,2026-10-05T12:00:00Z,acme,agent,chat,openai,gpt-4o,lots,100
"""
CONTRACTS = """customer,customer_name,plan,start,platform_fee_usd
acme,Acme,flat,2026-01-01,1000
"""


def generation(rt: Runtime) -> int:
    with rt.connect() as conn:
        return data_generation(conn)


def test_each_write_that_changes_the_figures_bumps_the_generation_once(rt: Runtime, tmp_path: Path) -> None:
    (tmp_path / "usage.csv").write_text(USAGE)
    (tmp_path / "bad.csv").write_text(BAD)
    (tmp_path / "contracts.csv").write_text(CONTRACTS)
    first = generation(rt)
    assert first == 1  # a new database starts at 1 (migration 0005)

    import_contracts_file(rt.engine, tmp_path / "contracts.csv")
    assert generation(rt) == first + 1
    import_usage_file(rt.engine, tmp_path / "usage.csv", prices=rt.prices, timezone="UTC", dry_run=True)
    assert generation(rt) == first + 1  # rolled back with the rest
    with pytest.raises(ImportRefused):
        import_usage_file(rt.engine, tmp_path / "bad.csv", prices=rt.prices, timezone="UTC")
    assert generation(rt) == first + 1
    import_usage_file(rt.engine, tmp_path / "usage.csv", prices=rt.prices, timezone="UTC")
    assert generation(rt) == first + 2
    reprice(rt.engine, prices=rt.prices, timezone="UTC")
    assert generation(rt) == first + 3


def test_a_sync_bumps_the_generation_with_each_window_it_writes(rt: Runtime, vendor: Vendor) -> None:
    day = 1_790_812_800  # 2026-10-01T00:00Z
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({day: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route("/v1/organization/costs", openai_bucket_pages({}))
    before = generation(rt)
    sync_source(rt, "openai", since=date(2026, 10, 1), until=date(2026, 10, 1), transport=vendor.transport)
    assert generation(rt) > before
