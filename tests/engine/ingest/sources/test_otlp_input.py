"""OTLP attribute values that used to slip through: an arrayValue whose `values` is not a list (a TypeError
traceback), and an array (or key-value list) where the customer, model, provider or product is read, which was
stored as the text "['acme']". Each refuses the file in one line naming the span and attribute; nothing is stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.cli.main import main
from engine.ingest.sources.otlp import import_otlp_files
from engine.runtime import Runtime
from tests.engine.ingest.conftest import rows
from tests.engine.ingest.sources.test_otlp import otlp_file

SPAN = "otlp: trace.json: span 00f067aa0ba902b7"


def refusal(rt: Runtime, path: Path) -> str:
    [result] = import_otlp_files(rt, [path])
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]
    assert result.error is not None and "\n" not in result.error
    return result.error


@pytest.mark.parametrize(("values", "shown"), [(5, "5"), ("acme", "'acme'"), ({"stringValue": "a"}, "an object")])
def test_an_array_whose_values_are_not_a_list_refuses_the_file_naming_span_and_attribute(
    rt: Runtime, tmp_path: Path, values: object, shown: str
) -> None:
    path = otlp_file(tmp_path, **{"x.tags": {"arrayValue": {"values": values}}})
    assert refusal(rt, path) == f"{SPAN}: attribute x.tags: arrayValue.values must be a list, got {shown}"


def test_a_resource_array_whose_values_are_not_a_list_names_the_resource(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path)
    doc = json.loads(path.read_text())
    doc["resourceSpans"][0]["resource"]["attributes"].append(
        {"key": "host.ips", "value": {"arrayValue": {"values": 5}}}
    )
    path.write_text(json.dumps(doc))
    assert refusal(rt, path) == (
        "otlp: trace.json: resourceSpans[0]: resource: attribute host.ips: arrayValue.values must be a list, got 5"
    )


def test_an_array_whose_values_are_null_is_an_empty_array(rt: Runtime, tmp_path: Path) -> None:
    # Proto3 JSON reads null as the field's default, as this reader does for `attributes` and `arrayValue`.
    path = otlp_file(tmp_path, **{"x.tags": {"arrayValue": {"values": None}}, "enduser.id": {"stringValue": "acme"}})
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    assert rows(rt, "SELECT customer FROM usage_event") == [("acme",)]


ARRAY: dict[str, Any] = {"arrayValue": {"values": [{"stringValue": "acme"}]}}


@pytest.mark.parametrize(
    ("key", "value", "got"),
    [
        ("enduser.id", ARRAY, "an array ['acme']"),
        ("enduser.id", {"kvlistValue": {"values": [{"key": "id", "value": {"stringValue": "acme"}}]}}, "a key-value "
         "list {'id': 'acme'}"),
        ("enduser.id", {"stringValue": ["acme"]}, "an array ['acme']"),
        ("gen_ai.response.model", {"arrayValue": {"values": [{"stringValue": "gpt-4o"}]}}, "an array ['gpt-4o']"),
        ("gen_ai.provider.name", {"arrayValue": {"values": [{"stringValue": "openai"}]}}, "an array ['openai']"),
    ],
)  # fmt: skip
def test_an_array_where_one_value_is_read_refuses_the_file(
    rt: Runtime, tmp_path: Path, key: str, value: dict[str, Any], got: str
) -> None:
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": "acme"}, key: value})
    assert refusal(rt, path) == f"{SPAN}: attribute {key} must be one value, got {got}: send it as a stringValue"


def test_an_array_service_name_refuses_the_file(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": "acme"}})
    doc = json.loads(path.read_text())
    doc["resourceSpans"][0]["resource"]["attributes"][0]["value"] = {
        "arrayValue": {"values": [{"stringValue": "checkout-assistant"}]}
    }
    path.write_text(json.dumps(doc))
    assert refusal(rt, path) == (
        f"{SPAN}: attribute service.name must be one value, got an array ['checkout-assistant']: send it as a "
        "stringValue"
    )


def test_the_cli_says_a_bad_array_in_one_line_and_fails(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = otlp_file(tmp_path, **{"enduser.id": ARRAY})
    assert main(["import", "otlp", str(path)], runtime=rt) == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    assert "attribute enduser.id must be one value, got an array ['acme']" in captured.out + captured.err


def mixed_file(tmp_path: Path, key: str, value: object) -> Path:
    """The fixture's span, and a second span (0000000000000002) whose only token count is `key`, sent as `value`."""
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": "acme"}})
    doc = json.loads(path.read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    second = json.loads(json.dumps(spans[0]))
    second["spanId"] = "0000000000000002"
    second["attributes"] = [a for a in second["attributes"] if not a["key"].startswith("gen_ai.usage.")]
    second["attributes"].append({"key": key, "value": value} if value != "absent" else {"key": key})
    spans.append(second)
    path.write_text(json.dumps(doc))
    return path


@pytest.mark.parametrize(
    ("value", "got", "example"),
    [
        ("250000", "the bare string '250000'", "250000"),
        (340000, "the bare int 340000", "340000"),
        ({}, "an empty object {}", "…"),
        (None, "null", "…"),
        ("absent", "null", "…"),
        ({"bytesValue": "AAE="}, "the object {'bytesValue': 'AAE='}", "…"),
        ({"intValue": None}, "the object {'intValue': None}", "…"),
    ],
)
def test_a_token_count_that_is_not_an_otlp_value_refuses_the_file(
    rt: Runtime, tmp_path: Path, value: object, got: str, example: str
) -> None:
    # Read as absent, the span counted as not GenAI: the other span was imported and this one's tokens lost.
    path = mixed_file(tmp_path, "gen_ai.usage.input_tokens", value)
    assert refusal(rt, path) == (
        "otlp: trace.json: span 0000000000000002: attribute gen_ai.usage.input_tokens must be an OTLP AnyValue "
        f'object, got {got}: send it as {{"intValue": "{example}"}}'
    )


@pytest.mark.parametrize("key", ["gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.completion_tokens"])
def test_any_token_count_read_is_held_to_it_beside_good_ones(rt: Runtime, tmp_path: Path, key: str) -> None:
    path = otlp_file(tmp_path, **{key: {"bytesValue": "AAE="}})
    assert refusal(rt, path).startswith(f"{SPAN}: attribute {key} must be an OTLP AnyValue object")


@pytest.mark.parametrize("key", ["gen_ai.response.model", "gen_ai.provider.name"])
def test_a_model_or_provider_that_is_not_an_otlp_value_refuses_the_file(rt: Runtime, tmp_path: Path, key: str) -> None:
    path = otlp_file(tmp_path, **{key: "gpt-4o"})
    assert refusal(rt, path) == (
        f"{SPAN}: attribute {key} must be an OTLP AnyValue object, got the bare string 'gpt-4o': "
        'send it as {"stringValue": "gpt-4o"}'
    )


def test_attributes_marginbot_does_not_read_may_take_any_shape(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(
        tmp_path, **{"enduser.id": {"stringValue": "acme"}, "x.blob": {"bytesValue": "AAE="}, "x.bare": "text"}
    )
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    assert rows(rt, "SELECT customer, input_tokens FROM usage_event") == [("acme", 52)]


def test_the_cli_refuses_a_mixed_file_in_one_line_and_imports_nothing(
    rt: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = mixed_file(tmp_path, "gen_ai.usage.input_tokens", "250000")
    assert main(["import", "otlp", str(path)], runtime=rt) == 1
    out = capsys.readouterr()
    assert "attribute gen_ai.usage.input_tokens must be an OTLP AnyValue object" in out.out + out.err
    assert "event(s) imported" not in out.out
    assert rows(rt, "SELECT COUNT(*) FROM usage_event") == [(0,)]


@pytest.mark.parametrize("key", ["enduser.id", "service.name"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (42, 'must be an OTLP AnyValue object, got the bare int 42: send it as {"stringValue": "42"}'),
        ("acme", "must be an OTLP AnyValue object, got the bare string 'acme': send it as {\"stringValue\": \"acme\"}"),
        (None, 'must be an OTLP AnyValue object, got null: send it as {"stringValue": "…"}'),
        ({"bytesValue": "AAE="}, "must be an OTLP AnyValue object, got the object {'bytesValue': 'AAE='}: send it as "
         '{"stringValue": "…"}'),
        ({"boolValue": True}, 'must be a stringValue, got the boolean true: send it as {"stringValue": "…"}'),
        ({"doubleValue": 1.5}, 'must be a stringValue, got the number 1.5: send it as {"stringValue": "…"}'),
        (ARRAY, "must be one value, got an array ['acme']: send it as a stringValue"),
        ({"kvlistValue": {"values": [{"key": "id", "value": {"stringValue": "acme"}}]}},
         "must be one value, got a key-value list {'id': 'acme'}: send it as a stringValue"),
    ],
)  # fmt: skip
def test_a_customer_or_service_name_that_is_not_one_text_value_refuses_the_file(
    rt: Runtime, tmp_path: Path, key: str, value: object, problem: str
) -> None:
    # Read as absent (a bare value, null), the span went to `unmapped` or its product to the default without a
    # word; read with str(), a boolValue made the customer "True". (An empty stringValue is absent: see below.)
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": "acme"}})
    doc = json.loads(path.read_text())
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"].append({"key": key, "value": value})
    path.write_text(json.dumps(doc))
    assert refusal(rt, path) == f"{SPAN}: attribute {key} {problem}"


def test_a_customer_sent_as_an_int_value_is_its_digits(rt: Runtime, tmp_path: Path) -> None:
    # What an SDK sends for set_attribute("enduser.id", 1042).
    path = otlp_file(tmp_path, **{"enduser.id": {"intValue": "1042"}})
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    assert rows(rt, "SELECT customer, product FROM usage_event") == [("1042", "checkout-assistant")]


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_customer_or_service_name_is_absent_and_the_summary_counts_the_spans(
    rt: Runtime, tmp_path: Path, blank: str
) -> None:
    # Anonymous traffic is commonly sent with enduser.id="": it refused the whole file.
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": blank}})
    doc = json.loads(path.read_text())
    spans = doc["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans.append(json.loads(json.dumps(spans[0])) | {"spanId": "00f067aa0ba902b8"})
    spans[1]["attributes"] = [a for a in spans[1]["attributes"] if a["key"] != "enduser.id"]
    spans[1]["attributes"] += [
        {"key": "enduser.id", "value": {"stringValue": "acme"}},
        {"key": "service.name", "value": {"stringValue": blank}},  # absent: the resource's applies
    ]
    path.write_text(json.dumps(doc))
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    # The first span goes where a span without the attribute goes (unmapped, counted), the second to acme.
    assert rows(rt, "SELECT customer, product, feature FROM usage_event ORDER BY event_id") == [
        ("unmapped", "checkout-assistant", "otlp customer=(none)"),
        ("acme", "checkout-assistant", ""),
    ]
    assert result.unmapped == {"otlp customer=(none) (attribute enduser.id)": 1}
    # A blank service.name on the resource too: the product is the mapping's default, as without one.
    resource = doc["resourceSpans"][0]["resource"]["attributes"]
    resource[:] = [a for a in resource if a["key"] != "service.name"] + [
        {"key": "service.name", "value": {"stringValue": blank}}
    ]
    spans[1]["spanId"] = "00f067aa0ba902b9"
    path.write_text(json.dumps(doc))
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    assert rows(rt, "SELECT customer, product FROM usage_event WHERE event_id LIKE '%b9'") == [("acme", "api")]


def test_an_empty_customer_on_the_span_leaves_the_resources(rt: Runtime, tmp_path: Path) -> None:
    path = otlp_file(tmp_path, **{"enduser.id": {"stringValue": ""}})
    doc = json.loads(path.read_text())
    doc["resourceSpans"][0]["resource"]["attributes"].append({"key": "enduser.id", "value": {"stringValue": "acme"}})
    path.write_text(json.dumps(doc))
    [result] = import_otlp_files(rt, [path])
    assert result.ok, result.error
    assert rows(rt, "SELECT customer FROM usage_event") == [("acme",)]
