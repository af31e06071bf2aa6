"""The sync: `marginbot sync`, `marginbot import otlp`, every configured source in turn; and the mapping file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import respx

from bot.cli.main import main
from engine.ingest.events import shown
from engine.ingest.mapping import MappingError, SourceMap
from engine.ingest.sync import SyncResult, sync_all, sync_source
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import Vendor, fixture, openai_bucket_pages, rows, usage_result

D1 = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
BASE = "https://openai.test/v1/organization"


def test_sync_command_reads_openai_and_prints_what_it_stored(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    usage = openai_bucket_pages({D1: [usage_result()]})
    empty = openai_bucket_pages({})

    def reply(route: object) -> object:
        return lambda request: httpx.Response(200, json=route(request).body)  # type: ignore[operator]

    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{BASE}/usage/completions").mock(side_effect=reply(usage))
        mock.get(f"{BASE}/usage/embeddings").mock(side_effect=reply(empty))
        mock.get(f"{BASE}/costs").mock(side_effect=reply(empty))
        status = main(["sync", "openai", "--since", "2026-10-01", "--until", "2026-10-01", "--json"], runtime=rt)

    assert status == 0
    [out] = json.loads(capsys.readouterr().out)
    assert (out["source"], out["ok"], out["events_imported"], out["records_read"]) == ("openai", True, 1, 1)
    with rt.connect() as conn:
        cogs = customer_report(conn, "acme", month(2026, 10), thresholds=rt.thresholds).current.cogs
    assert out["cogs_usd"] == float(cogs.quantize(Decimal("0.01")))
    assert rows(rt, "SELECT customer, input_tokens FROM usage_event") == [("acme", 5000)]


def test_sync_command_exits_1_with_the_error_when_a_source_fails(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    with respx.mock(assert_all_called=False) as mock:
        mock.get(f"{BASE}/usage/completions").mock(return_value=httpx.Response(401, json={"error": {}}))
        status = main(["sync", "openai", "--since", "2026-10-01", "--until", "2026-10-01"], runtime=rt)

    assert status == 1
    assert "ERROR: openai: HTTP 401 from GET /organization/usage/completions" in capsys.readouterr().err


def test_import_otlp_command_imports_each_file(rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "spans.json"
    path.write_text(json.dumps(fixture("otel_genai_span_otlp.json")))

    assert main(["import", "otlp", str(path), str(tmp_path / "missing.json")], runtime=rt) == 1

    captured = capsys.readouterr()
    assert "otlp:spans.json:" in captured.out and "1 event(s) imported" in captured.out
    assert "otlp: " in captured.err and "missing.json: no such file" in captured.err
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(1,)]


def test_sync_all_runs_every_configured_source_and_keeps_going_after_a_failure(rt: Runtime, vendor: Vendor) -> None:
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route("/v1/organization/costs", openai_bucket_pages({}))
    # Anthropic, LiteLLM, Langfuse and Stripe answer 404 here (not routed): each fails on its own.
    results = sync_all(rt, transport=vendor.transport, sleep=lambda s: None)

    assert [r.source for r in results] == ["openai", "anthropic", "litellm", "langfuse", "stripe"]
    assert [r.ok for r in results] == [True, False, False, False, False]
    assert "HTTP 404" in (results[1].error or "")
    assert rows(rt, "SELECT COUNT(*) FROM usage_event WHERE customer = 'acme'") == [(1,)]


def test_unconfigured_source_says_which_setting_is_missing(runtime: Runtime) -> None:
    result = sync_source(runtime, "stripe")

    assert result.error == "stripe: not configured: set STRIPE_API_KEY (a restricted key with read access is enough)"


def test_mapping_file_errors_name_the_entry_and_stop_the_sync(rt: Runtime, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[openai.projects]\nproj_abc = { customer = "acme", plan = "pro" }\n')
    with pytest.raises(MappingError, match=r"openai\.projects\.proj_abc: unknown key\(s\) \['plan'\]"):
        SourceMap.load(bad)
    settings = rt.settings.model_copy(update={"mapping_file": bad})

    result = sync_source(Runtime(settings, now_override=rt.now()), "openai")

    assert result.error is not None and "unknown key(s) ['plan']" in result.error
    assert rows(rt, "SELECT COUNT(*) FROM sync_cursor") == [(0,)]


def test_sync_result_rounds_a_half_cent_up_in_text_and_json() -> None:
    result = SyncResult(source="openai", cost_nano=5_000_000)  # $0.005
    assert "COGS $0.01" in result.summary()
    assert result.as_dict()["cogs_usd"] == 0.01


def test_sync_result_shows_a_cost_under_half_a_cent_as_under_a_cent_not_as_nothing() -> None:
    # It read "COGS $0.00" for $0.004 of cost: the docs (and a file import's summary) say "<$0.01".
    assert "COGS <$0.01" in SyncResult(source="openai", cost_nano=4_000_000).summary()
    assert "COGS $0.00" in SyncResult(source="openai").summary()  # nothing at all is still $0.00
    assert "COGS $1,234.57" in SyncResult(source="openai", cost_nano=1_234_565_000_000).summary()


def test_sync_source_reports_windows_written_of_the_windows_to_fetch(rt: Runtime, vendor: Vendor) -> None:
    vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [usage_result()]}))
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route("/v1/organization/costs", openai_bucket_pages({}))
    calls: list[tuple[int, int | None]] = []
    result = sync_source(
        rt,
        "openai",
        since=datetime(2026, 10, 1, tzinfo=UTC),
        until=datetime(2026, 10, 3, tzinfo=UTC),
        transport=vendor.transport,
        sleep=lambda s: None,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert result.ok and result.windows >= 1
    assert calls == [(n, result.windows) for n in range(1, result.windows + 1)]


def test_a_record_the_source_revised_keeps_its_stored_event_and_the_sync_says_so(rt: Runtime, vendor: Vendor) -> None:
    vendor.route("/v1/organization/usage/embeddings", openai_bucket_pages({}))
    vendor.route("/v1/organization/costs", openai_bucket_pages({}))
    day = {"since": datetime(2026, 10, 1, tzinfo=UTC), "until": datetime(2026, 10, 2, tzinfo=UTC)}

    def sync(result: dict[str, object]) -> SyncResult:
        vendor.route("/v1/organization/usage/completions", openai_bucket_pages({D1: [result]}))
        return sync_source(rt, "openai", transport=vendor.transport, sleep=lambda s: None, **day)  # type: ignore[arg-type]

    first = usage_result()
    stored = sync(first)
    same = sync(usage_result())  # read again as it was: already known, nothing to say
    revised = usage_result()
    revised["output_tokens"] = int(str(first["output_tokens"])) + 1000  # the bucket as the vendor now reports it
    again = sync(revised)

    assert stored.imported == 1
    assert (same.duplicates, same.kept_as_stored) == (1, 0) and "WARNING" not in same.summary()
    assert (again.imported, again.duplicates, again.kept_as_stored) == (0, 1, 1)
    ((event_id, output),) = rows(rt, "SELECT event_id, output_tokens FROM usage_event")
    assert output == first["output_tokens"]  # the stored event stays as it was, counted once
    assert again.kept_ids == [event_id]  # whole in the JSON; the summary cuts a long id short, as it does any value
    assert again.as_dict()["kept_as_stored"] == 1 and again.as_dict()["kept_as_stored_ids"] == [event_id]
    assert (
        f"WARNING: 1 record(s) came with other values than their event was stored with, which stay: {shown(event_id)} "
        "(marginbot never replaces a stored event, so the source's new values for them are not used)"
    ) in again.summary()
