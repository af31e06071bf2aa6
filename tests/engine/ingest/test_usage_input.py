"""Usage files a person gets wrong, each told in one line on the row and the columnar path alike: a rejects file
that cannot be written, an unclosed quote, a quoted cell over several lines, a JSON key given twice, a JSON array or
a pretty-printed JSON object where JSONL was meant, and prices past what an event can cost. On SQLite and PostgreSQL
(the `runtime` fixture)."""

from __future__ import annotations

import builtins
import errno
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

import engine.ingest.files as files
from engine.ingest.columnar import ColumnarChunks
from engine.ingest.files import ImportRefused, import_usage_file
from engine.ingest.writer import RowBuilder
from engine.pricing.book import PriceBook
from engine.pricing.pricefile import ModelOverride, OverrideRates, UnitCosts
from engine.runtime import Runtime
from tests.engine.ingest.test_columnar import clear, plain_csv, snapshot

HEADER = "event_id,ts,customer,product,model,input_tokens\n"
TS = "2026-01-05T10:00:00Z"
UNCLOSED = 'a quoted field opens here and is never closed: add its closing quote (")'


def good(event_id: str) -> str:
    return f"{event_id},{TS},acme,chat,gpt-4o,100\n"


def on_both_paths(rt: Runtime, path: Path, prices: PriceBook | None = None, **kw: Any) -> list[Any]:
    """What importing `path` does on the importer's own choice, the columnar path forced and the row path: (refused,
    counts, (line, reason) pairs, stored tables) each time, from an empty database. The caller compares them."""
    seen = []
    for columnar in (None, True, False):
        clear(rt)
        try:
            result = import_usage_file(
                rt.engine, path, prices=prices or rt.prices, timezone="UTC", columnar=columnar, **kw
            )
        except ImportRefused as refused:
            result = refused.result
        errors = [(e.line, e.reason) for e in result.errors]
        seen.append((result.refused, result.imported, result.rejected, result.rows_read, errors, snapshot(rt)))
    assert seen[0] == seen[1] == seen[2]
    return list(seen[0])


def runs(rt: Runtime) -> list[tuple[Any, ...]]:
    with rt.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT status, rows_imported, rows_rejected FROM import_run"))]


# ---- --skip-invalid: the rejects file ----


@pytest.mark.parametrize("columnar", [True, False])
def test_a_rejects_file_that_cannot_be_written_commits_nothing_and_says_so_in_one_line(
    runtime: Runtime, tmp_path: Path, columnar: bool
) -> None:
    path = tmp_path / "u.csv"
    path.write_text(HEADER + good("e1") + f"e2,{TS},acme,,gpt-4o,100\n" + good("e3"))
    (tmp_path / "u.csv.rejects.csv").mkdir()  # where the rejects would go: a directory
    clear(runtime)
    with pytest.raises(ImportRefused) as caught:
        import_usage_file(
            runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True, columnar=columnar
        )
    result = caught.value.result
    assert result.refused and result.imported == 0
    assert str(caught.value) == (
        f"{path}: refused, nothing imported: its 1 invalid row(s) cannot be written to {path}.rejects.csv "
        "(it is a directory): move that directory away, or fix the row(s) the import lists without --skip-invalid"
    )
    assert snapshot(runtime)["usage_event"] == []
    assert runs(runtime) == [("refused", 0, 1)]
    assert result.as_dict()["problem"] == str(caught.value).split(": refused, nothing imported: ", 1)[1]


def test_a_rejects_file_without_permission_to_write_it_commits_nothing(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As on a read-only share (the tests may run as root, whom a chmod does not stop).
    real_open = builtins.open

    def denied(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if str(file).endswith(".rejects.csv") and "w" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    path = tmp_path / "u.csv"
    path.write_text(HEADER + good("e1") + f"e2,{TS},acme,,gpt-4o,100\n")
    clear(runtime)
    with pytest.raises(ImportRefused) as caught:
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    assert "\n" not in str(caught.value)
    assert "cannot be written to" in str(caught.value) and "(permission denied)" in str(caught.value)
    assert snapshot(runtime)["usage_event"] == []
    assert runs(runtime) == [("refused", 0, 1)]


def test_a_commit_that_fails_after_the_rejects_were_written_leaves_no_rejects_file(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "u.csv"
    path.write_text(HEADER + good("e1") + f"e2,{TS},acme,,gpt-4o,100\n")

    def broken(conn: Any) -> None:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(files, "bump_generation", broken)
    clear(runtime)
    with pytest.raises(RuntimeError):
        import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    assert not (tmp_path / "u.csv.rejects.csv").exists()
    assert snapshot(runtime)["usage_event"] == []


# ---- CSV: quotes and rows over several lines ----


def test_an_unclosed_quote_is_named_at_the_line_it_opens_on(runtime: Runtime, tmp_path: Path) -> None:
    # Line 3 opens a quote nothing closes: the csv module reads the rest of the file into that one cell.
    path = tmp_path / "unclosed.csv"
    path.write_text(
        HEADER + good("e0") + f'e1,{TS},"acme,chat,gpt-4o,100\n' + "".join(good(f"e{i}") for i in range(2, 10))
    )
    refused, imported, rejected, read, errors, stored = on_both_paths(runtime, path)
    assert refused and (imported, rejected, read) == (0, 1, 2)
    assert errors == [(3, UNCLOSED)]
    assert stored["usage_event"] == []
    # The same with --skip-invalid: the good row before it is kept, the rejects name line 3.
    refused, imported, rejected, _, errors, _ = on_both_paths(runtime, path, skip_invalid=True)
    assert (refused, imported, rejected, errors) == (False, 1, 1, [(3, UNCLOSED)])


def test_an_unclosed_quote_opened_after_a_closed_one_is_named_where_it_opens(runtime: Runtime, tmp_path: Path) -> None:
    # The row starts on line 3, its customer's quoted cell closes on line 4, where its model's quote opens for good.
    path = tmp_path / "late.csv"
    path.write_text(HEADER + good("e0") + f'e1,{TS},"ac\nme",chat,"gpt-4o,100\n' + good("e2"))
    _, _, _, _, errors, _ = on_both_paths(runtime, path)
    assert errors == [(4, UNCLOSED)]
    # Quotes that all close, a "" inside one and a field after: nothing unclosed, and a last row over two lines is
    # named by its first.
    path.write_text(HEADER + good("e0") + f'e1,{TS},"a""c\nme",chat,gpt-4o,100\n')
    _, _, _, _, errors, _ = on_both_paths(runtime, path)
    assert errors == [(3, "customer contains a control character (U+000A); only printable text can be stored")]


def test_a_row_whose_quoted_cell_spans_lines_is_named_by_the_line_it_starts_on(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "multiline.csv"
    path.write_text(
        HEADER
        + good("e0")
        + f'e1,{TS},"ac\nme",chat,gpt-4o,100\n'  # lines 3-4
        + f'e2,{TS},acme,"ch\r\nat",gpt-4o\n'  # lines 5-6, a field short
        + good("e3")  # line 7
        + f'e4,{TS},acme,chat,gpt-4o,"1\n\n00"\n'  # lines 8-10
        + f"e5,{TS},,chat,gpt-4o,100\n"  # line 11
    )
    refused, imported, rejected, read, errors, _ = on_both_paths(runtime, path, skip_invalid=True)
    assert (refused, imported, rejected, read) == (False, 2, 4, 6)
    assert [line for line, _ in errors] == [3, 5, 8, 11]
    assert errors[1] == (5, "has 5 fields, the header has 6")


def test_an_unclosed_quote_past_the_field_limit_refuses_the_file_even_when_skipping_invalid_rows(
    runtime: Runtime, tmp_path: Path
) -> None:
    # An unclosed quote in a large file: the csv module gives up at its field-size limit, some 1,300 lines on.
    path = tmp_path / "long.csv"
    path.write_text(
        HEADER + good("e0") + f'e1,{TS},"acme,chat,gpt-4o,100\n' + "".join(good(f"e{i}") for i in range(2, 4000))
    )
    refused, imported, _, _, errors, stored = on_both_paths(runtime, path, skip_invalid=True)
    # The quote swallowed some 1,300 rows: skipping it as one bad row would have lost them without a word.
    assert refused and imported == 0 and stored["usage_event"] == []
    assert errors[0][0] == 3
    assert errors[0][1].startswith(
        "a field is longer than 131,072 characters (an unclosed quote?): it runs from line 3 past line "
    )
    assert errors[0][1].endswith("the rows on those lines cannot be read; close the quote and import the file again")


# ---- JSONL ----


def event(**extra: Any) -> dict[str, Any]:
    return {"event_id": "j1", "ts": TS, "customer": "acme", "product": "chat", "model": "gpt-4o"} | extra


def test_a_json_key_given_twice_is_refused_as_a_repeated_column_is(runtime: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    twice = json.dumps(event(input_tokens=100000))[:-1] + ', "input_tokens": 0}'
    path.write_text(json.dumps(event(event_id="j0")) + "\n" + twice + "\n")
    refused, imported, rejected, _, errors, stored = on_both_paths(runtime, path)
    assert refused and (imported, rejected) == (0, 1)
    assert errors == [(2, "the key 'input_tokens' appears twice in the object (keep one)")]
    assert stored["usage_event"] == []


@pytest.mark.parametrize("name", ["usage.json", "usage.jsonl", "usage.json.gz"])
def test_a_json_array_is_refused_in_one_line_saying_jsonl_wants_one_object_a_line(
    runtime: Runtime, tmp_path: Path, name: str
) -> None:
    import gzip

    content = json.dumps([event(event_id="a1"), event(event_id="a2")], indent=2).encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    refused, imported, _, _, errors, stored = on_both_paths(runtime, path)
    assert refused and imported == 0
    [(line, reason)] = errors
    convert = "zcat usage.json.gz | jq -c '.[]' > usage.jsonl" if name.endswith(".gz") else f"jq -c '.[]' {name} > "
    assert line == 1
    assert reason.startswith(f"{name} holds a JSON array; JSONL needs one JSON object per line: convert it with ")
    assert convert in reason
    assert stored["usage_event"] == []
    # One array on a single line is one too.
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps([event()]) + "\n")
    assert on_both_paths(runtime, path)[4][0][1].startswith("one.jsonl holds a JSON array")
    # Other JSON opening with `[` is one bad line, as any line that is not an object.
    path.write_text("[1, 2]\n" + json.dumps(event()) + "\n")
    assert on_both_paths(runtime, path)[4] == [(1, "must be a JSON object")]


PRETTY = {
    "one object": json.dumps(event(event_id="p1", input_tokens=100), indent=2) + "\n",
    "several objects": "".join(json.dumps(event(event_id=f"p{i}"), indent=4) + "\n" for i in range(3)),
    "opened on the first key": f'{{"event_id": "p1",\n "ts": "{TS}", "customer": "acme",\n "model": "gpt-4o"}}\n',
    "after blank lines": "\n\n" + json.dumps(event(event_id="p1"), indent=2),
}


@pytest.mark.parametrize("skip_invalid", [False, True])
@pytest.mark.parametrize("name", ["usage.json", "usage.jsonl", "usage.json.gz"])
@pytest.mark.parametrize("content", list(PRETTY), ids=list(PRETTY))
def test_a_pretty_printed_json_object_is_refused_in_one_line_saying_jsonl_wants_one_object_a_line(
    runtime: Runtime, tmp_path: Path, name: str, content: str, skip_invalid: bool
) -> None:
    """Not an error for each of its lines, nor (with --skip-invalid) a reject for each: the file is not JSONL at all,
    refused in one line as a JSON array is, naming the conversion."""
    import gzip

    path = tmp_path / name
    raw = PRETTY[content].encode()
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    refused, imported, _, _, errors, stored = on_both_paths(runtime, path, skip_invalid=skip_invalid)
    assert refused and imported == 0
    convert = {
        "usage.json": "jq -c . usage.json > usage.jsonl",
        "usage.jsonl": "jq -c . usage.jsonl > usage.lines.jsonl",
        "usage.json.gz": "zcat usage.json.gz | jq -c . > usage.jsonl",
    }[name]
    assert errors == [
        (
            3 if content == "after blank lines" else 1,
            f"{name} holds a JSON object spread over several lines (pretty-printed); JSONL needs one JSON object per "
            f"line: convert it with {convert}",
        )
    ]
    assert stored["usage_event"] == []
    assert not (tmp_path / f"{name}.rejects.csv").exists()


def test_a_first_line_cut_short_is_one_bad_line_not_a_pretty_printed_object(runtime: Runtime, tmp_path: Path) -> None:
    """A first line that opens an object its end cuts short, where the lines after it do not complete it, is JSONL
    with one bad line: the rows after it are read as before."""
    path = tmp_path / "u.jsonl"
    path.write_text(
        '{"event_id": "j0",\n' + json.dumps(event(event_id="j1")) + "\n" + json.dumps(event(event_id="j2")) + "\n"
    )
    refused, imported, rejected, read, errors, _ = on_both_paths(runtime, path, skip_invalid=True)
    assert (refused, imported, rejected, read) == (False, 2, 1, 3)
    assert [line for line, _ in errors] == [1]
    assert errors[0][1].startswith("not valid JSON")


# ---- prices past what an event can cost ----


def absurd_book(**units: int) -> PriceBook:
    """A price book the price file would refuse (engine.pricing.pricefile caps a price at $10M a unit): one built by
    hand, or loaded before the cap. Model `x` has an absurd input price; its output price is sane."""
    rates = OverrideRates(
        input=10**45, cached_input=None, cache_write=None, cache_write_1h=None, output=10**9, request=0, web_search=None
    )
    return PriceBook(
        overrides=[ModelOverride("self-hosted", "x", date(2026, 1, 1), rates)],
        unit_costs=UnitCosts(**units),
        fingerprint="absurd",
    )


def test_an_absurd_price_refuses_only_the_rows_that_use_it_on_both_paths(runtime: Runtime, tmp_path: Path) -> None:
    prices = absurd_book(retrieval_query=10**45)
    path = tmp_path / "u.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,retrieval_queries\n"
        f"e1,{TS},acme,chat,self-hosted,x,0,10,0\n"
        f"e2,{TS},acme,chat,self-hosted,x,0,10,1\n"  # a retrieval query at 10^30 USD
        f"e3,{TS},acme,chat,self-hosted,x,1,10,0\n"  # an input token at 10^30 USD
        f"e4,{TS},acme,chat,openai,gpt-4o,1000,10,0\n"
    )
    assert plain_csv(path, ",") is not None
    refused, imported, rejected, _, errors, stored = on_both_paths(runtime, path, prices, skip_invalid=True)
    assert (refused, imported, rejected) == (False, 2, 2)
    assert [line for line, _ in errors] == [3, 4]
    assert all("more than one event can cost ($10,000,000)" in reason for _, reason in errors)
    assert sorted(r[0] for r in stored["usage_event"]) == ["e1", "e4"]
    # Without --skip-invalid: refused for those two rows, not for a sum past a BIGINT.
    refused, _, _, _, errors, _ = on_both_paths(runtime, path, prices)
    assert refused and [line for line, _ in errors] == [3, 4]


def test_the_columnar_path_prices_rows_beside_an_absurd_price_itself(runtime: Runtime, tmp_path: Path) -> None:
    # Only the rows using the absurd prices go to the row path; the chunk is not handed to it whole.
    path = tmp_path / "u.csv"
    path.write_text(
        "event_id,ts,customer,product,provider,model,input_tokens,output_tokens,rerank_calls\n"
        + "".join(f"e{i},{TS},acme,chat,self-hosted,x,0,10,0\n" for i in range(5))
        + f"r1,{TS},acme,chat,self-hosted,x,0,10,1\n"
    )
    plain = plain_csv(path, ",")
    assert plain is not None
    builder = RowBuilder(prices=absurd_book(rerank_call=10**40), timezone="UTC", source="t", postgres=False)
    [(chunk, bad, _, _, _)] = list(ColumnarChunks(path, plain, builder, ","))
    assert (chunk.events.height, chunk.by_rows) == (5, 1)
    assert [line for line, _, _ in bad] == [7]


def test_a_json_lines_costs_are_read_exactly_as_a_csvs(runtime: Runtime, tmp_path: Path) -> None:
    # Through a float, 9999999.999999999 was 9999999.999999998: a nano-dollar short of the same cost in a CSV.
    path = tmp_path / "u.jsonl"
    path.write_text(
        '{"event_id": "j1", "ts": 1793620800.5, "customer": "acme", "product": "chat", "model": "gpt-4o", '
        '"input_tokens": 120.0, "cost_usd": 9999999.999999999}\n'
    )
    import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC")
    with runtime.connect() as conn:
        stored = conn.execute(text("SELECT cost_source, input_tokens, ts FROM usage_event")).one()
    assert (stored[0], stored[1]) == (9_999_999_999_999_999, 120)
    assert str(stored[2]).startswith("2026-11-02 12:00:00.5")


def test_a_json_number_past_what_an_event_costs_is_refused_as_written_and_its_reject_keeps_it_a_number(
    runtime: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(event(event_id="ok")) + "\n" + json.dumps(event())[:-1] + ', "cost_usd": 1e400}\n')
    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    assert [(e.line, e.reason) for e in result.errors] == [
        (2, "cost_usd is too large (at most 10,000,000 for one event), got 1E+400")  # it said "got inf"
    ]
    rejects = (tmp_path / "u.jsonl.rejects.csv").read_text()
    assert '""cost_usd"": 1E+400}' in rejects  # a number, as written, not the text "1E+400"


def test_a_json_count_with_an_exponent_past_any_count_is_refused_at_once(runtime: Runtime, tmp_path: Path) -> None:
    # int() of Decimal("1e1000000") writes out a million digits: the import took half a minute to refuse it, and
    # would not have finished this one.
    path = tmp_path / "u.jsonl"
    path.write_text(json.dumps(event())[:-1] + ', "requests": 1e999999999}\n')
    result = import_usage_file(runtime.engine, path, prices=runtime.prices, timezone="UTC", skip_invalid=True)
    assert [(e.line, e.reason) for e in result.errors] == [
        (1, "requests must be at most 999999999999999 (one event), got 1E+999999999")
    ]
