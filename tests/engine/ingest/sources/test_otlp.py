"""OTLP/JSON trace files: GenAI spans become events for the configured customer attribute."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from engine.ingest.sources.otlp import import_otlp_files
from engine.periods import month
from engine.reports.margin import customer_report
from engine.runtime import Runtime
from tests.engine.ingest.conftest import fixture, rows

OCT = month(2026, 10)
OCT_5 = int(datetime(2026, 10, 5, 9, 30, tzinfo=UTC).timestamp()) * 10**9


def otlp_file(tmp_path: Path, name: str = "trace.json", **attrs: object) -> Path:
    doc = fixture("otel_genai_span_otlp.json")
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = str(OCT_5)
    for key, value in attrs.items():
        span["attributes"] = [a for a in span["attributes"] if a["key"] != key]
        if value is not None:
            span["attributes"].append({"key": key, "value": value})
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


EVENT = (
    "SELECT event_id, ts, customer, product, provider, model, input_tokens, cached_input_tokens, output_tokens "
    "FROM usage_event"
)


def test_otlp_span_becomes_an_event_for_the_configured_customer_attribute(rt: Runtime, tmp_path: Path) -> None:
    settings = rt.settings.model_copy(update={"otlp_customer_attribute": "user.id"})
    runtime = Runtime(settings, now_override=rt.now())

    [result] = import_otlp_files(runtime, [otlp_file(tmp_path)])

    assert result.ok, result.error
    [(event_id, ts, *rest)] = rows(runtime, EVENT)
    assert event_id == "otlp:4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7"
    assert str(ts).startswith("2026-10-05 09:30:00")
    # The customer is the attribute's value; the product the resource's service.name.
    assert rest == ["cust_42", "checkout-assistant", "openai", "gpt-4-0613", 52, 0, 47]
    with runtime.connect() as conn:
        assert customer_report(conn, "cust_42", OCT, thresholds=runtime.thresholds).current.cogs > 0
    again = import_otlp_files(runtime, [otlp_file(tmp_path)])
    assert (again[0].imported, again[0].duplicates) == (0, 1)


def test_otlp_without_the_customer_attribute_goes_to_unmapped_and_is_reported(rt: Runtime, tmp_path: Path) -> None:
    [result] = import_otlp_files(rt, [otlp_file(tmp_path)])  # default attribute enduser.id is absent

    assert result.ok
    assert rows(rt, "SELECT customer, feature FROM usage_event") == [("unmapped", "otlp customer=(none)")]
    assert result.unmapped == {"otlp customer=(none) (attribute enduser.id)": 1}


def test_otlp_old_attribute_names_and_int64_as_numbers_are_read(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(
        tmp_path,
        **{
            "gen_ai.provider.name": None,
            "gen_ai.system": {"stringValue": "anthropic"},
            "gen_ai.response.model": {"stringValue": "claude-sonnet-4-5"},
            "gen_ai.usage.input_tokens": None,
            "gen_ai.usage.output_tokens": None,
            "gen_ai.usage.prompt_tokens": {"intValue": 1200},
            "gen_ai.usage.cache_read.input_tokens": {"intValue": "1000"},
            "gen_ai.usage.completion_tokens": {"intValue": 80},
            "enduser.id": {"stringValue": "acme"},
        },
    )

    [result] = import_otlp_files(rt, [path])

    assert result.ok, result.error
    assert [r[2:] for r in rows(rt, EVENT)] == [
        ("acme", "checkout-assistant", "anthropic", "claude-sonnet-4-5", 1200, 1000, 80)
    ]


def test_otlp_bad_int64_refuses_the_file_naming_span_and_attribute(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path, **{"gen_ai.usage.input_tokens": {"intValue": "fifty-two"}})

    [result] = import_otlp_files(rt, [path])

    assert result.error == (
        "otlp: trace.json: span 00f067aa0ba902b7: gen_ai.usage.input_tokens must be a non-negative integer, "
        "got 'fifty-two'"
    )
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]


def test_a_file_import_is_told_as_a_file_not_as_a_sync(rt: Runtime, tmp_path: Path) -> None:
    # It was "1/1 window(s)", and a refused file "nothing of the failed window was stored; the next run resumes
    # there": no run resumes a file.
    good, bad = otlp_file(tmp_path), tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [')
    done, refused = import_otlp_files(rt, [good, bad])
    assert done.summary().splitlines()[0] == (
        # The span's few tokens cost under half a cent: "<$0.01", not "$0.00" as if they cost nothing.
        "otlp:trace.json: 1 record(s) read, 1 event(s) imported, 0 already known; COGS <$0.01"
    )
    assert refused.summary().splitlines()[-1] == (
        "  ERROR: otlp: bad.json: not valid JSON (line 1: Expecting value) (nothing from this file was stored: fix it "
        "and import it again)"
    )
    assert (done.as_dict()["windows"], refused.as_dict()["ok"]) == (1, False)  # the JSON keeps its keys


def test_int64s_written_as_json_numbers_with_a_point_are_read_digit_for_digit(rt: Runtime, tmp_path: Path) -> None:
    # Read through a float (256 ns apart there), a start of …09:30:00.123456999 was …123457024: a microsecond late.
    path = otlp_file(tmp_path, **{"gen_ai.usage.input_tokens": {"doubleValue": 52.0}})
    path.write_text(path.read_text().replace(f'"{OCT_5}"', f"{OCT_5 + 123_456_999}.0"))

    [result] = import_otlp_files(rt, [path])

    assert result.ok, result.error
    [(ts, input_tokens)] = rows(rt, "SELECT ts, input_tokens FROM usage_event")
    assert (str(ts)[:26], input_tokens) == ("2026-10-05 09:30:00.123456", 52)
