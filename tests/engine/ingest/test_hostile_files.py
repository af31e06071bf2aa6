"""Generated files, valid rows mixed with every hostile kind we know of, in every container (plain, UTF-8 with a
byte-order mark, UTF-16, Windows-1252, gzip, gzip cut short): whatever the file, the import either succeeds or is
refused with one line per reason, never another exception, and a refused file changes nothing in the database.
On SQLite and PostgreSQL (the `runtime` fixture)."""

from __future__ import annotations

import gzip
import itertools
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.sources.otlp import import_otlp_files
from engine.runtime import Runtime

# Few examples, derandomized: the kinds are drawn from short lists, so a few dozen files meet each of them.
FILES = settings(
    max_examples=25,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
COLUMNS = ["event_id", "ts", "customer", "product", "model", "input_tokens", "output_tokens", "compute_seconds",
           "cost_usd"]  # fmt: skip
_ids = itertools.count()

hostile_text = st.sampled_from(
    ["ac\x00me", "a\x1bb", "\ud800", "x\u0085y", "Société", "“quoted”", "x" * 201, "x" * 140_000, "", " ", "a,b", '"']
)
hostile_number = st.sampled_from(
    ["-1", "1e999000", "1e-999999999", str(2**64), "9" * 5000, "999999999999999", "1000000000000000", "NaN", "inf",
     "1_0", "٣", "0x10", "1e12", "10000000", "0.0000000005"]
)  # fmt: skip
hostile_ts = st.sampled_from(
    ["1790000000", "1790000000123", "1790000000123456", "1790000000123456789", "17900000001234567890", "-5",
     "1e20", "Infinity", "2026-10-05T25:00:00", "2099-12-31T23:59:59-01:00", "yesterday", "9" * 100]
)  # fmt: skip


def valid() -> dict[str, Any]:
    return {
        "event_id": f"h{next(_ids)}",
        "ts": "2026-10-05T12:00:00Z",
        "customer": "acme",
        "product": "assist",
        "model": "gpt-4o",
        "input_tokens": "100",
        "output_tokens": "10",
        "compute_seconds": "",
        "cost_usd": "",
    }


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A few rows, each valid or with one or two hostile cells."""
    out = []
    for _ in range(draw(st.integers(1, 5))):
        rec = valid()
        for column in draw(st.lists(st.sampled_from(COLUMNS), max_size=2)):
            if column == "ts":
                rec[column] = draw(hostile_ts)
            elif column in ("input_tokens", "output_tokens", "compute_seconds", "cost_usd"):
                rec[column] = draw(hostile_number)
            else:
                rec[column] = draw(hostile_text)
        out.append(rec)
    return out


def csv_bytes(recs: list[dict[str, Any]]) -> str:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if any(c in value for c in ',"\n') else value

    return ",".join(COLUMNS) + "\n" + "".join(",".join(cell(r[c]) for c in COLUMNS) + "\n" for r in recs)


def jsonl_bytes(recs: list[dict[str, Any]], odd: list[str]) -> str:
    lines = []
    for rec in recs:
        typed = {k: (int(v) if v.isascii() and v.isdigit() and len(v) < 30 else v) for k, v in rec.items() if v != ""}
        lines.append(json.dumps(typed))
    return "\n".join(lines + odd) + "\n"


odd_json_lines = st.lists(
    st.sampled_from(["[" * 50_000, "[1, 2]", "null", '{"event_id": [[[1]]]}', "{not json", '{"ts": NaN}', "",
                     '{"event_id": "x", "ts": 1e400}', '{"input_tokens": ' + "9" * 5000 + "}"]),
    max_size=2,
)  # fmt: skip


def encode(content: str, how: str) -> bytes:
    """The file's bytes in one of the ways files arrive."""
    if how == "utf-16":
        return content.encode("utf-16", "surrogatepass")
    if how == "cp1252":
        return content.encode("cp1252", "replace")
    raw = content.encode("utf-8-sig" if how == "bom" else "utf-8", "surrogatepass")
    if how == "gzip":
        return gzip.compress(raw)
    if how == "gzip-cut":
        return gzip.compress(raw)[: max(12, len(gzip.compress(raw)) // 2)]
    return raw


containers = st.sampled_from(["utf-8", "utf-8", "bom", "utf-16", "cp1252", "gzip", "gzip-cut"])


def counts(rt: Runtime) -> tuple[int, int, int, int]:
    with rt.connect() as conn:
        return (
            int(conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()),
            int(conn.execute(text("SELECT COALESCE(SUM(events), 0) FROM daily_rollup")).scalar_one()),
            int(conn.execute(text("SELECT COALESCE(SUM(events), 0) FROM daily_customer_product")).scalar_one()),
            int(conn.execute(text("SELECT COUNT(*) FROM customer")).scalar_one()),
        )


def import_or_refuse(rt: Runtime, path: Path) -> None:
    """The property: an import, or a refusal of one line per reason that left the database as it was."""
    before = counts(rt)
    try:
        result = import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")
    except ImportRefused as exc:
        assert exc.result.refused and exc.result.errors
        for error in exc.result.errors:
            assert error.line >= 1 and error.reason and "\n" not in error.reason, error
            assert len(error.reason) < 600, error  # a 140,000-character cell is never echoed back
        assert counts(rt) == before
    else:
        events, rolled, by_customer, _ = counts(rt)
        assert (events, rolled, by_customer) == tuple(n + result.imported for n in before[:3])


@FILES
@given(recs=records(), how=containers)
def test_any_csv_file_is_imported_or_refused_line_by_line(
    runtime: Runtime, tmp_path: Path, recs: list[dict[str, Any]], how: str
) -> None:
    path = tmp_path / f"f{next(_ids)}.csv{'.gz' if how.startswith('gzip') and next(_ids) % 2 else ''}"
    path.write_bytes(encode(csv_bytes(recs), how))
    import_or_refuse(runtime, path)


@FILES
@given(recs=records(), odd=odd_json_lines, how=containers)
def test_any_jsonl_file_is_imported_or_refused_line_by_line(
    runtime: Runtime, tmp_path: Path, recs: list[dict[str, Any]], odd: list[str], how: str
) -> None:
    path = tmp_path / f"f{next(_ids)}.jsonl"
    path.write_bytes(encode(jsonl_bytes(recs, odd), how))
    import_or_refuse(runtime, path)


otlp_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(["52", "fifty", "9" * 5000, None, [], {}, "1e3", 1.5, True]),
)


@st.composite
def otlp_docs(draw: st.DrawFn) -> Any:
    """An OTLP/JSON export whose lists may hold things that are not objects, with odd token counts and times."""

    def attr(key: str) -> Any:
        value = draw(otlp_values)
        kind = "intValue" if not isinstance(value, str | list | dict) else "stringValue"
        return {"key": key, "value": {kind: value}}

    spans: list[Any] = []
    for _ in range(draw(st.integers(0, 3))):
        spans.append(
            draw(
                st.one_of(
                    st.sampled_from([None, 5, "span", [1]]),
                    st.just(
                        {
                            "traceId": f"t{next(_ids)}",
                            "spanId": "s1",
                            "startTimeUnixNano": draw(
                                st.sampled_from(["1790000000000000000", "-1", "1" * 30, 1.5, None])
                            ),
                            "attributes": [
                                attr("gen_ai.usage.input_tokens"),
                                attr("gen_ai.usage.output_tokens"),
                                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o"}},
                                {"key": "enduser.id", "value": {"stringValue": draw(hostile_text)}},
                            ],
                        }
                    ),
                )
            )
        )
    scope = draw(st.sampled_from([{"spans": spans}, "scope", {"spans": "none"}]))
    resource = draw(st.sampled_from([{"resource": {}, "scopeSpans": [scope]}, 0, {"resource": 3}]))
    return draw(st.sampled_from([{"resourceSpans": [resource]}, {"resourceSpans": 7}, [resource]]))


@FILES
@given(doc=otlp_docs(), how=containers)
def test_any_otlp_file_is_imported_or_refused_in_one_message(
    runtime: Runtime, tmp_path: Path, doc: Any, how: str
) -> None:
    path = tmp_path / f"f{next(_ids)}.json"
    path.write_bytes(encode(json.dumps(doc), how))
    before = counts(runtime)
    [result] = import_otlp_files(runtime, [path])
    if result.error is not None:
        assert "\n" not in result.error and "Traceback" not in result.error
        assert counts(runtime) == before
    else:
        assert counts(runtime)[0] == before[0] + result.imported
