"""Files no import should choke on: other encodings, compressed data, numbers past what the columns hold, text
no database should store, timestamps in other units. Each is imported or refused as "line N: why", on SQLite and
PostgreSQL alike, and a refused file leaves nothing behind."""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli.main import main
from engine.ingest.files import ImportRefused, ImportResult, import_usage_file
from engine.ingest.sources.otlp import import_otlp_files
from engine.runtime import Runtime

HEADER = "event_id,ts,customer,product,model,input_tokens,output_tokens,compute_seconds,cost_usd\n"


def row(event_id: str, **cells: str) -> str:
    values = {
        "ts": "2026-10-05T12:00:00Z",
        "customer": "acme",
        "product": "assist",
        "model": "gpt-4o",
        "input_tokens": "1000",
        "output_tokens": "10",
        "compute_seconds": "",
        "cost_usd": "",
    } | cells
    return ",".join([event_id, *values.values()]) + "\n"


def counts(rt: Runtime) -> tuple[int, int, int]:
    """Events, the events the daily rollup counts, customers: what a refused file must leave as it was."""
    with rt.connect() as conn:
        return (
            int(conn.execute(text("SELECT COUNT(*) FROM usage_event")).scalar_one()),
            int(conn.execute(text("SELECT COALESCE(SUM(events), 0) FROM daily_rollup")).scalar_one()),
            int(conn.execute(text("SELECT COUNT(*) FROM customer")).scalar_one()),
        )


def load(rt: Runtime, path: Path) -> ImportResult:
    return import_usage_file(rt.engine, path, prices=rt.prices, timezone="UTC")


def refused(rt: Runtime, path: Path) -> list[tuple[int, str]]:
    """The (line, reason) pairs of a file that must be refused, having checked it left nothing behind."""
    before = counts(rt)
    with pytest.raises(ImportRefused) as caught:
        load(rt, path)
    assert counts(rt) == before
    return [(e.line, e.reason) for e in caught.value.result.errors]


def customers(rt: Runtime) -> list[str]:
    with rt.connect() as conn:
        return [c for (c,) in conn.execute(text("SELECT customer FROM usage_event ORDER BY event_id"))]


def test_utf16_with_a_byte_order_mark_and_gzip_by_name_or_by_content_are_read(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "excel.csv").write_bytes((HEADER + row("u1", customer="Société")).encode("utf-16"))
    (tmp_path / "nobom.csv").write_bytes((HEADER + row("u2")).encode("utf-16-le"))
    (tmp_path / "usage.csv.gz").write_bytes(gzip.compress((HEADER + row("g1")).encode()))
    (tmp_path / "renamed.csv").write_bytes(gzip.compress((HEADER + row("g2")).encode("utf-8-sig")))
    event = {"event_id": "j1", "ts": "2026-10-05T12:00:00Z", "customer": "acme", "product": "assist"}
    (tmp_path / "usage.jsonl.gz").write_bytes(gzip.compress(json.dumps(event).encode()))

    for name in ("excel.csv", "nobom.csv", "usage.csv.gz", "renamed.csv", "usage.jsonl.gz"):
        assert load(runtime, tmp_path / name).imported == 1, name

    assert customers(runtime) == ["acme", "acme", "acme", "Société", "acme"]


def test_a_windows_1252_export_is_refused_naming_each_line_and_the_fix(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    rows = row("c1") + row("c2", customer="“Société”") + row("c3") + row("c4", product="Müller")
    path.write_bytes((HEADER + rows).encode("cp1252"))
    fix = (
        "the file was saved in another encoding, such as Windows-1252 or Latin-1 (a spreadsheet's plain 'CSV' "
        "export). Re-save it as 'CSV UTF-8', or convert it: iconv -f cp1252 -t utf-8 export.csv > export.utf8.csv"
    )

    assert refused(runtime, path) == [
        (3, f"not UTF-8 text (byte 0x93, '“Société”' read as Windows-1252): {fix}"),
        (5, f"not UTF-8 text (byte 0xfc, 'Müller' read as Windows-1252): {fix}"),
    ]
    # The lines that are UTF-8 can still be imported on their own, the others written beside the file.
    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    assert (result.imported, result.rejected) == (2, 2)


def test_compressed_data_that_is_damaged_or_not_gzip_is_refused_by_name(runtime: Runtime, tmp_path: Path) -> None:
    many = HEADER + "".join(row(f"e{i}") for i in range(2_000))
    (tmp_path / "cut.csv.gz").write_bytes(gzip.compress(many.encode())[:300])
    (tmp_path / "plain.csv.gz").write_text(HEADER + row("p1"))
    (tmp_path / "book.csv").write_bytes(b"PK\x03\x04" + bytes(range(256)))
    (tmp_path / "usage.csv.xz").write_bytes(b"\xfd7zXZ\x00" + bytes(64))

    [(line, reason)] = refused(runtime, tmp_path / "cut.csv.gz")
    assert line > 1
    assert reason.startswith(f"the gzip data is damaged or cut short at line {line} (")
    assert reason.endswith("): copy or download the file again (gzip -t checks it)")
    assert refused(runtime, tmp_path / "plain.csv.gz") == [
        (1, "plain.csv.gz is named .gz but is not gzip data: rename it, or compress it with gzip")
    ]
    assert refused(runtime, tmp_path / "book.csv") == [
        (1, "book.csv is a zip archive (an Excel workbook?), not CSV or JSONL: save the sheet as 'CSV UTF-8'")
    ]
    assert refused(runtime, tmp_path / "usage.csv.xz") == [
        (1, "usage.csv.xz is compressed with xz: decompress it first (unxz); gzip files are read as they are")
    ]
    # Gzipped twice, its inner gzip read as Windows-1252 text: "iconv -f cp1252" was the advice.
    (tmp_path / "twice.csv.gz").write_bytes(gzip.compress(gzip.compress((HEADER + row("t1")).encode())))
    assert refused(runtime, tmp_path / "twice.csv.gz") == [
        (1, "twice.csv.gz is compressed twice: gunzip it once, and import the .gz left")
    ]


def test_unix_times_in_milliseconds_microseconds_and_nanoseconds_are_told_apart_by_size(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "unix.csv"
    path.write_text(
        HEADER
        + row("s", ts="1790000000")
        + row("ms", ts="1790000000123")
        + row("us", ts="1790000000123456")
        + row("ns", ts="1790000000123456789")
    )
    assert load(runtime, path).imported == 4
    with runtime.connect() as conn:
        stored = dict(conn.execute(text("SELECT event_id, ts FROM usage_event")).all())
    # SQLite keeps naive UTC text, PostgreSQL a timestamptz: compare the instants.
    instants = {
        k: v if isinstance(v, datetime) else datetime.fromisoformat(v).replace(tzinfo=UTC) for k, v in stored.items()
    }
    second = datetime(2026, 9, 21, 14, 13, 20, tzinfo=UTC)
    assert instants == {
        "s": second,
        "ms": second.replace(microsecond=123_000),
        "us": second.replace(microsecond=123_456),
        "ns": second.replace(microsecond=123_456),  # cut to the microsecond a timestamp holds
    }


def test_unix_times_outside_every_unit_are_refused_with_the_units_named(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "far.jsonl"
    lines = [{"ts": ts} for ts in ("Infinity", "NaN")] + [{"ts": ts} for ts in (1e20, -5, 5_000_000_000)]
    base = {"customer": "acme", "product": "assist"}
    path.write_text(
        "".join(
            json.dumps(base | {"event_id": f"t{i}"} | line).replace('"Infinity"', "Infinity").replace('"NaN"', "NaN")
            + "\n"
            for i, line in enumerate(lines)
        )
    )
    units = "read as Unix seconds, milliseconds, microseconds or nanoseconds by its size"
    assert refused(runtime, path) == [
        (1, "ts: timestamp inf is not a finite number"),
        (2, "ts: timestamp nan is not a finite number"),
        (3, f"ts: timestamp 1e+20 is outside 2000–2099 ({units})"),
        (4, f"ts: timestamp -5 is outside 2000–2099 ({units})"),
        (5, f"ts: timestamp 5000000000 is outside 2000–2099 ({units})"),
    ]


def test_numbers_past_what_the_columns_hold_are_refused_per_line(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text(
        HEADER
        + row("ok", input_tokens="999999999999999", model="self-hosted-unknown")
        + row("b1", input_tokens=str(2**64))
        + row("b2", output_tokens="9" * 5000)
        + row("b3", cost_usd="1e12")
        + row("b4", compute_seconds="1e999000")
        + row("b5", output_tokens="999999999999999")  # every count in bounds, but priced at $9 billion
    )
    assert refused(runtime, path) == [
        (3, f"input_tokens must be at most 999999999999999 (one event), got '{2**64}'"),
        (4, "output_tokens must be a non-negative integer, got '" + "9" * 58 + "…"),
        (5, "cost_usd is too large (at most 10,000,000 for one event), got '1e12'"),
        (6, "compute_seconds is too large (at most 999,999,999,999.999 for one event), got '1e999000'"),
        (
            7,
            "priced at $9,000,000,000.00, more than one event can cost ($10,000,000): are its counts in the right "
            "unit?",
        ),
    ]


def test_control_characters_nul_and_lone_surrogates_are_refused_on_both_databases(
    runtime: Runtime, tmp_path: Path
) -> None:
    csv_path = tmp_path / "ctrl.csv"
    csv_path.write_text(HEADER + row("n1", customer="ac\x00me") + row("n2", product="as\x1bsist") + row("n3"))
    jsonl = tmp_path / "ctrl.jsonl"
    base = {"ts": "2026-10-05T12:00:00Z", "product": "assist"}
    jsonl.write_text(
        json.dumps(base | {"event_id": "s1", "customer": "\ud800"}) + "\n"
        + json.dumps(base | {"event_id": "s2", "customer": "a\u0085b"}) + "\n"
    )  # fmt: skip
    encoded = tmp_path / "surrogate.csv"  # a surrogate encoded as if it were a character (CESU-8): not UTF-8
    encoded.write_bytes(HEADER.encode() + row("e1", customer="x\udcffx").encode("utf-8", "surrogatepass"))

    assert refused(runtime, csv_path) == [
        (2, "customer contains a control character (U+0000); only printable text can be stored"),
        (3, "product contains a control character (U+001B); only printable text can be stored"),
    ]
    assert refused(runtime, jsonl) == [
        (1, "customer contains a lone surrogate (U+D800); only printable text can be stored"),
        (2, "customer contains a control character (U+0085); only printable text can be stored"),
    ]
    [(line, reason)] = refused(runtime, encoded)
    assert line == 2 and reason.startswith("not UTF-8 text (byte 0xed")


def test_invisible_characters_in_a_name_or_a_model_are_refused_on_both_paths(runtime: Runtime, tmp_path: Path) -> None:
    # "acme" with a zero-width space, or behind a right-to-left mark, was a second and third "acme" with no contract,
    # and "gpt-4o" with one an unpriced model that looked like gpt-4o. The joiners Persian and emoji need stay.
    rows = row("z1", customer="acme\u200b") + row("z2", customer="\u200facme") + row("z3", model="gpt-4o\ufeff")
    rows += row("z4", customer="\u0645\u06cc\u200c\u0634\u0648\u062f")  # a Persian word with its non-joiner
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    small.write_text(HEADER + rows)
    # The columnar path reads large files; its plain-text check sends these rows to the row path, which explains.
    large.write_text(HEADER + "".join(row(f"ok{i}") for i in range(40_000)) + rows)
    expected = [
        "customer contains an invisible character (U+200B); only printable text can be stored",
        "customer contains an invisible character (U+200F); only printable text can be stored",
        "model contains an invisible character (U+FEFF); only printable text can be stored",
    ]
    assert refused(runtime, small) == list(zip([2, 3, 4], expected, strict=True))
    assert refused(runtime, large) == list(zip([40_002, 40_003, 40_004], expected, strict=True))


def test_an_oversized_field_and_deep_json_are_one_bad_line_each(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + row("w1", customer="x" * 200_000) + row("w2", input_tokens="-1") + row("w3"))
    jsonl = tmp_path / "deep.jsonl"
    good = {"event_id": "d0", "ts": "2026-10-05T12:00:00Z", "customer": "acme", "product": "assist"}
    jsonl.write_text(
        "[" * 100_000 + "\n"
        + '{"event_id": ' + "[" * 5_000 + "\n"
        + json.dumps(good | {"customer": [[["nested"]]]}) + "\n"
        + '{"event_id": "d1", "input_tokens": ' + "9" * 5_000 + "}\n"
        + "[1, 2]\n"
    )  # fmt: skip

    assert refused(runtime, path) == [
        (2, "a field is longer than 131,072 characters (an unclosed quote?)"),
        (3, "input_tokens must be a non-negative integer, got '-1'"),
    ]
    assert refused(runtime, jsonl) == [
        (1, "not a usage event: JSON nested too deeply"),
        (2, "not a usage event: JSON nested too deeply"),
        (3, "customer must be a number or text, not a JSON list"),
        (4, "not a usable JSON value (Exceeds the limit (4300 digits) for integer string conversion)"),
        (5, "must be a JSON object"),
    ]


def test_otlp_entries_that_are_not_objects_are_each_named(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "trace.json"
    path.write_text(
        json.dumps(
            {
                "resourceSpans": [
                    7,
                    {"resource": 5, "scopeSpans": []},
                    {"scopeSpans": ["x", {"spans": [None, {"spanId": "ab", "attributes": "no"}]}]},
                ]
            }
        )
    )
    before = counts(runtime)
    [result] = import_otlp_files(runtime, [path])
    assert result.error == (
        "otlp: trace.json: resourceSpans[0] must be an object, got int; trace.json: resourceSpans[1]: resource "
        "must be an object; trace.json: resourceSpans[2].scopeSpans[0] must be an object, got str; trace.json: "
        "resourceSpans[2].scopeSpans[1].spans[0] must be an object, got NoneType; trace.json: span ab: "
        "attributes must be a list"
    )
    assert counts(runtime) == before
    path.write_bytes(b'{"resourceSpans": [{"scopeSpans": []}], "x": "caf\xe9"}')
    [result] = import_otlp_files(runtime, [path])
    assert result.error is not None and result.error.startswith("otlp: trace.json line 1: not UTF-8 text (byte 0xe9")


def test_one_refused_file_does_not_stop_the_next_and_the_exit_status_says_so(
    runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ok1.csv").write_text(HEADER + row("a1"))
    (tmp_path / "bad.csv").write_bytes((HEADER + row("b1", customer="Société")).encode("latin-1"))
    (tmp_path / "ok2.csv").write_text(HEADER + row("a2"))
    files = [str(tmp_path / name) for name in ("ok1.csv", "bad.csv", "ok2.csv")]

    assert main(["import", "usage", *files], runtime=runtime) == 1

    out, err = capsys.readouterr()
    assert [line.split(":")[0] for line in out.splitlines() if not line.startswith(" ")] == [files[0], files[2]]
    assert f"{files[1]}: refused, nothing imported" in err and "  line 2: not UTF-8 text (byte 0xe9" in err
    assert err.splitlines()[-1] == f"marginbot: 1 of 3 files not imported: {files[1]}"
    assert "Traceback" not in out + err
    assert counts(runtime)[0] == 2
    # The same, as JSON: one object per file, the refused one with its lines.
    assert main(["import", "usage", *files, "--json"], runtime=runtime) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["refused"], d["imported"], d["duplicates"]) for d in data] == [
        (files[0], False, 0, 1),
        (files[1], True, 0, 0),
        (files[2], False, 0, 1),
    ]
    assert data[1]["errors"][0]["line"] == 2


def test_the_parsing_worker_refuses_a_file_naming_the_line_as_the_importer_does(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "big.csv"  # large files are parsed in a worker process: forced here on a small one
    path.write_bytes((HEADER + row("p1", input_tokens="-1") + row("p2", customer="Société")).encode("latin-1"))
    before = counts(runtime)
    with pytest.raises(ImportRefused) as caught:
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", parallel=True)
    assert [e.line for e in caught.value.result.errors] == [2, 3]
    assert caught.value.result.errors[1].reason.startswith("not UTF-8 text (byte 0xe9")
    assert counts(runtime) == before


def test_a_file_name_that_is_not_utf8_or_holds_a_line_break_is_stored_and_shown_printable(
    runtime: Runtime, tmp_path: Path
) -> None:
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/caf\xe9\n.csv"))
    odd.write_text(HEADER + row("f1"))

    result = load(runtime, odd)

    assert result.imported == 1 and result.path.endswith("caf\ufffd?.csv")
    with runtime.connect() as conn:
        assert conn.execute(text("SELECT source FROM usage_event")).scalar_one() == "file:caf\ufffd?.csv"


def test_utf16_with_an_unpaired_surrogate_or_cut_short_is_refused_by_line(runtime: Runtime, tmp_path: Path) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_bytes(
        (HEADER + row("u1", customer="a"))
        .encode("utf-16")
        .replace("a,assist".encode("utf-16-le"), b"\x00\xd8" + ",assist".encode("utf-16-le"))
        + row("u2").encode("utf-16-le")
    )
    cut = tmp_path / "cut.csv"
    cut.write_bytes((HEADER + row("u3")).encode("utf-16") + b"x")

    [(line, reason)] = refused(runtime, broken)
    assert (line, reason) == (2, "customer contains a lone surrogate (U+D800); only printable text can be stored")
    assert refused(runtime, cut) == [
        (3, "cannot be decoded as utf-16-le (truncated data): re-save the file as 'CSV UTF-8'")
    ]
